"""The sites thread: runs the Blockchain Handler and the Hosting Component.

One thread (``tidegate-sites``) owns both components and their bus sockets (pyzmq
sockets belong to one thread). It sleeps in a ZeroMQ poller on the Handler's inbox
(``{"hostname"}`` pushes), the Hosting inbox (``{"time", "snapshot", "hosts"}``) and a
wake-up socket for commands, and ticks twice a second to follow downloads and polls.
The two components talk over the bus even here, as they would across processes.
With ``sites.links`` it also owns the link endpoint (:mod:`.links`): new heads pushed to
and from the other nodes holding each site.
Engine commands arrive as closures (:meth:`SitesService.submit`) and resolve futures;
engine futures' callbacks come back the same way (:meth:`post`), so component state is
only ever touched on this thread.

ZeroMQ is imported when the thread starts, never by ``import tidegate.engine``.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..chain import ChainRejected
from ..errors import EngineStoppedError, SiteError, TidegateError, describe
from ..events import MAX_CHANGED_PATHS, Log, SiteChanged
from ..part_bell import ringing
from ..state import OnionReply, SiteState
from ..waker import Waker
from .app_handlers import HandlerTable
from .changes import changed_sites
from .inspect import chain_log, verify_site
from .registry import Registry, SiteRecord, btpk_magnet
from .served import ServedSite, ServedTable
from .source_write import delete_file, remove_leftovers, write_file

APP_KINDS = frozenset({"handler_register", "handler_unregister", "write", "delete"})

if TYPE_CHECKING:
    from ..services import TorrentService
    from ..tor.service import TorService
    from .links import Links

TICK = 0.5


class SitesService:
    """The sites thread.

    Args:
        engine: the torrent engine.
        root: the sites' folder (``<data>/sites``).
        tor: the tor thread the owned onion sites are handed to, asked at every
            publication (it starts after this thread, or never: None); the node
            (:class:`engine.node.Node`) passes it.

    A supervised part (engine/supervisor.py): ``alive()`` is False when the thread ended
    while not stopped; ``restart()`` runs it again (the registry, the components and their
    sockets are built anew from the sites' folder; queued commands are kept).
    """

    on_exit: Callable[[], object] | None = None
    """The watcher's nudge, rung when this part's thread ends (engine/part_bell.py)."""

    name = "sites"

    def __init__(self, engine: TorrentService, root: Path,
                 tor: Callable[[], TorService | None] = lambda: None):
        self.engine = engine
        self.root = root
        self._tor = tor
        self._tasks: collections.deque[tuple[Callable[[], Any], Future[Any] | None]] = \
            collections.deque()
        self._lock = threading.Lock()
        self._waker = Waker()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.failure = ""
        """Why the thread ended last while it should have run."""
        self._published: dict[str, SiteState] = {}
        self._faults_logged: set[str] = set()
        self.served = ServedTable()
        """What the Smart Proxy serves; rebuilt here, read by the proxy thread."""
        self._served_once = False
        self.handlers = HandlerTable()
        """Programs' HTTP handlers of owned sites (leases); read by the proxy thread."""
        self._onion_sig: tuple[Any, ...] | None = None
        self.links: Links | None = None
        """Live links to the other nodes holding the sites (None: off, or not bound)."""

    # ------------------------------------------------------------------ any thread

    def start(self, timeout: float = 30.0) -> None:
        self._thread = threading.Thread(target=ringing(self._run, self),
                                        name="tidegate-sites", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SiteError("sites", f"the sites thread did not start within {timeout:g} s")
        if self._error is not None:
            raise self._error

    def alive(self) -> bool:
        thread = self._thread
        if self._stop.is_set() or thread is None or thread.is_alive():
            return True
        self.failure = self.failure or "the sites thread ended"
        return False

    def restart(self, timeout: float = 30.0) -> None:
        """Run the thread again after it died (raises what its start raises)."""
        if self._thread is not None and self._thread.is_alive():
            return  # a start that timed out came up after all: never a second thread
        self.failure = ""
        self._error = None
        self._ready = threading.Event()
        self._waker = Waker()
        self._onion_sig = None  # tell tor again what to publish
        self._published = {}
        self.start(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._waker.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        for _fn, fut in self._drain():
            if fut is not None and not fut.done():
                fut.set_exception(EngineStoppedError("the engine is stopping"))

    def submit(self, kind: str, *args: Any) -> Future[Any]:
        """Run command ``kind`` on the sites thread; its future resolves with the result."""
        fut: Future[Any] = Future()
        if self._stop.is_set() or self._thread is None:
            fut.set_exception(EngineStoppedError("sites are not running"))
            return fut
        with self._lock:
            self._tasks.append((lambda: self._command(kind, *args), fut))
        self._waker.wake()
        return fut

    def report_bad(self, address: str, seq: int, path: str, message: str) -> None:
        """From the proxy: a file of a served snapshot differs from the chain."""
        self.post(lambda: self.hosting.recheck(address, seq, path, message,
                                               self.engine.post_event))

    def post(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._tasks.append((fn, None))
        self._waker.wake()

    def _drain(self) -> list[tuple[Callable[[], Any], Future[Any] | None]]:
        with self._lock:
            items = list(self._tasks)
            self._tasks.clear()
        return items

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        import zmq

        from ..api.bus import Inbox, Outbox, blockchain_inbox, hosting_inbox, update_outbox
        from ..api.bus_messages import HostnameRequest, SiteUpdate
        from .handler import BlockchainHandler
        from .hosting import HostingComponent

        cfg = self.engine.config
        inboxes: list[Any] = []
        outboxes: list[Any] = []
        try:
            self.registry = Registry(self.root)
            self.registry.load()
            hostnames: Inbox[HostnameRequest] = blockchain_inbox(cfg)
            inboxes.append(hostnames)
            updates: Inbox[SiteUpdate] = hosting_inbox(cfg)
            inboxes.append(updates)
            to_hosting: Outbox[SiteUpdate] = update_outbox(cfg)
            outboxes.append(to_hosting)
            pushes = [Outbox(HostnameRequest, ep) for ep in cfg.sites.push_endpoints]
            outboxes += pushes

            def send_update(when: int, magnet: str, address: str) -> None:
                to_hosting.send(SiteUpdate(time=when, snapshot=magnet, hosts=[address]))

            def push(address: str) -> None:
                for box in pushes:
                    box.send(HostnameRequest(hostname=address))
                if self.links is not None:
                    self.links.push_owned(address)

            self.handler = BlockchainHandler(self.engine, self.registry, self.post,
                                             send_update, push)
            self.hosting = HostingComponent(self.engine, self.registry,
                                            cfg.sites.keep_snapshots, cfg.sites.fetch_timeout)
            self.hosting.load()
            self._start_links()
            self.handler.start()
            self.hosting.start()
        except BaseException as exc:
            self._error = exc if isinstance(exc, TidegateError) else SiteError(
                "sites", f"cannot start: {exc!r}")
            for box in inboxes + outboxes:
                box.close()
            if self.links is not None:
                self.links.close()
                self.links = None
            self._ready.set()
            return
        self._ready.set()
        poller = zmq.Poller()
        poller.register(hostnames.socket, zmq.POLLIN)
        poller.register(updates.socket, zmq.POLLIN)
        poller.register(self._waker.reader, zmq.POLLIN)
        if self.links is not None:
            poller.register(self.links.net.router, zmq.POLLIN)
        next_tick = 0.0
        try:
            while not self._stop.is_set():
                wait = max(0.0, next_tick - time.monotonic())
                poller.poll(int(wait * 1000) + 1)
                self._waker.drain()
                for fn, fut in self._drain():
                    self._run_task(fn, fut)
                while (req := hostnames.recv(0)) is not None:
                    self._guarded(partial(self.handler.on_hostname, req.hostname))
                while (upd := updates.recv(0)) is not None:
                    self._guarded(partial(self.hosting.on_update, upd.time, upd.snapshot,
                                          upd.hosts, self.engine.post_event))
                if self.links is not None:
                    self._guarded(self.links.receive)
                mono = time.monotonic()
                if mono >= next_tick:
                    next_tick = mono + TICK
                    if self.links is not None:
                        self._guarded(partial(self.links.tick, mono))
                    self._guarded(partial(self.handler.tick, mono))
                    self._guarded(partial(self.hosting.tick, mono, self.engine.post_event))
                    self._publish()
        except BaseException as exc:  # for the watcher, which restarts the thread
            self.failure = f"its loop raised {describe(exc)}"
        finally:
            self.handler.close()
            if self.links is not None:
                self.links.close()
            for box in inboxes + outboxes:
                box.close()
            self._waker.close()

    def _start_links(self) -> None:
        """Bind the link endpoint (``sites.links``; never in ``tor-all``: no clear net, nor
        behind a proxy, which a direct link would bypass). A port that cannot be bound is
        logged; the sites run without links."""
        cfg = self.engine.config
        if not cfg.sites.links or cfg.tor.mode == "tor-all" or cfg.proxy.type != "none":
            return
        import zmq

        from ..torrents.dht import bind_ip
        from .link_net import LinkNet
        from .links import Links

        listen = cfg.sites.link_listen or bind_ip(cfg.network.listen_interfaces)
        try:
            net = LinkNet(listen, cfg.sites.link_port)
        except zmq.ZMQError as exc:
            self.engine.post_event(Log(level="error", message=f"sites: no links: cannot "
                                       f"listen on {listen} port "
                                       f"{cfg.sites.link_port}: {exc}"))
            return
        self.links = Links(self.engine, self.registry, net, cfg.sites.max_links,
                           self.handler.judge, self.handler.refuse, self.post,
                           self.engine.post_event)

    def _guarded(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except EngineStoppedError:
            self._stop.set()
        except Exception as exc:  # one bad site must not stop the others
            self._fault(exc)

    def _fault(self, exc: Exception) -> None:
        """A fault no one site owns: logged once per kind and place, not at every tick."""
        text = describe(exc)
        if text not in self._faults_logged:
            self._faults_logged.add(text)
            self.engine.post_event(Log(level="error", message=f"sites: internal error: {text} "
                                                              "(the sites go on; reported once)"))

    def _run_task(self, fn: Callable[[], Any], fut: Future[Any] | None) -> None:
        if fut is not None and not fut.set_running_or_notify_cancel():
            return
        try:
            result = fn()
        except (TidegateError, ChainRejected) as exc:
            if fut is not None:
                fut.set_exception(exc)
            return
        except Exception as exc:
            self._fault(exc)
            if fut is not None:
                fut.set_exception(SiteError("sites", f"internal error: {describe(exc)}"))
            return
        self._publish(wait=fut is not None)  # the caller's next snapshot shows the change
        if fut is not None:
            fut.set_result(result)

    def _command(self, kind: str, *args: Any) -> Any:
        h = self.handler
        if kind == "new":
            return self._state(h.new(*args))
        if kind == "import":
            return self._state(h.import_key(*args))
        if kind == "publish":
            self._clear_leftovers(args[0])
            return self._state(h.publish(*args))
        if kind == "follow":
            return self._state(h.follow(*args))
        if kind == "unfollow":
            rec = self.registry.resolve(args[0])
            h.unfollow(*args)
            self.hosting.forget(rec.address, bool(args[1]))
            self.handlers.forget(rec.address)
            return None
        if kind == "check":
            return h.check(*args)
        if kind == "log":
            return chain_log(self.registry.resolve(args[0]))
        if kind == "verify":
            rec = self.registry.resolve(args[0])
            return verify_site(rec, args[1], self.hosting.newest(rec.address))
        if kind == "onion":
            from .onion import set_onion

            rec, line = set_onion(self.registry, self.engine.config, *args)
            self.push_onions()
            return OnionReply(site=self._state(rec), auth_line=line)
        if kind in APP_KINDS:
            return self._app_command(kind, *args)
        raise SiteError(kind, "unknown site command")

    def _clear_leftovers(self, site: str) -> None:
        """Before a publish: a program's write cut short by a crash left a temp file in the
        owned site's source folder; it is no file of the site."""
        rec = self.registry.resolve(site)
        if rec.owner and rec.source and Path(rec.source).is_dir():
            for path in remove_leftovers(Path(rec.source)):
                self.engine.post_event(Log(level="warning", message=(
                    f"{rec.name}: removed {path!r}, left by a write cut short")[:500]))

    def _app_command(self, kind: str, site: str, *args: Any) -> Any:
        """The program API's commands that change an owned site (docs/program-api.md)."""
        rec = self.registry.resolve(site)
        if not rec.owner:
            raise SiteError(rec.name, f"{kind}: only an owned site can be changed here "
                                      "(this node follows it)")
        if kind == "handler_register":
            prefix, target, ttl = args
            self.handlers.register(rec.address, prefix, target, ttl, time.monotonic())
            return ttl
        if kind == "handler_unregister":
            return self.handlers.unregister(rec.address, args[0])
        if not rec.source:
            raise SiteError(rec.name, f"{kind}: the site has no source folder (give one to "
                                      "`site publish --folder`)")
        if kind == "write":
            return write_file(Path(rec.source), *args)
        return delete_file(Path(rec.source), *args)

    def push_onions(self) -> None:
        """Tell the tor thread which owned sites should be onion services (when that
        changed): those switched on, and those ``tor.onion_sites`` names."""
        tor = self._tor()
        if tor is None:
            return
        named = set(self.engine.config.tor.onion_sites)
        sites = [r for r in self.registry.sites.values() if r.owner and (
            r.onion or r.name in named or r.address in named)]
        sig = tuple(sorted((r.address, tuple(sorted(r.onion_clients.values())))
                           for r in sites))
        if sig == self._onion_sig:
            return
        self._onion_sig = sig
        from ..tor.service import Wanted

        wanted = {}
        for rec in sites:
            try:
                wanted[rec.address] = Wanted(rec.key().seed,
                                             tuple(sorted(rec.onion_clients.values())))
            except TidegateError as exc:
                self.engine.post_event(Log(level="error", message=f"onion {rec.name}: {exc}"))
        tor.want(wanted)

    def _state(self, rec: SiteRecord) -> SiteState:
        chain = rec.store.chain
        head = chain.head
        return SiteState(
            address=rec.address, name=rec.name, owner=rec.owner, height=chain.height,
            head=chain.head_hash.hex() if chain.head_hash else "",
            head_time=head.time if head is not None else 0, announced=rec.announced,
            checked=rec.checked, equivocating=chain.equivocating,
            error=(rec.damage_note or rec.store.damaged) if rec.store.damaged else rec.error,
            source=rec.source, hosting=self.hosting.state_for(rec.address), onion=rec.onion,
            onion_clients=tuple(sorted(rec.onion_clients)), stored_nodes=rec.stored_nodes,
            stored_at=rec.stored_at, **self._kept(rec),
            links=self.links.count(rec.address) if self.links is not None else 0,
            handlers=self.handlers.prefixes(rec.address))

    def _changed(self, before: Mapping[str, ServedSite]) -> None:
        """A :class:`SiteChanged` per site whose served snapshot changed; none for what the
        table held when the thread started (that is not a change)."""
        for diff in changed_sites(before, self.served.current, MAX_CHANGED_PATHS):
            rec = self.registry.sites.get(diff.site.address)
            head = rec.store.chain.head_hash if rec is not None else None
            self.engine.post_event(SiteChanged(
                address=diff.site.address, height=diff.site.height,
                head=head.hex() if head else "", snapshot=diff.site.seq,
                changed=diff.changed, removed=diff.removed, truncated=diff.truncated))

    @staticmethod
    def _kept(rec: SiteRecord) -> dict[str, Any]:
        """What the lookups and the Keeper show (docs/sites.md "Followers keep heads")."""
        return {"lookup": rec.lookup, "reput_at": rec.reput_at,
                "reput_nodes": rec.reput_nodes, "magnet": btpk_magnet(rec.address)}

    def _publish(self, wait: bool = False) -> None:
        self.push_onions()
        before = self.served.current
        if self.served.update({a: (r, seq) for a, r in self.registry.sites.items()
                               if (seq := self.hosting.newest(a)) >= 0}) and self._served_once:
            self._changed(before)
        self._served_once = True
        if self.handlers.expire(time.monotonic()):
            self.engine.post_event(Log(level="info", message="apps: a handler's lease "
                                       "expired (its program stopped renewing it)"))
        states = {a: self._state(r) for a, r in self.registry.sites.items()}
        if states != self._published:
            self._published = states
            fut = self.engine.set_sites(states)
            if wait:
                try:
                    fut.result(5.0)
                except Exception:  # the engine stopping; the command's result still stands
                    pass
