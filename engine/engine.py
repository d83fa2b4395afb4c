"""The Engine: one thread that owns the libtorrent session.

Frontends call the public methods from any thread; each posts a command to the
engine thread and returns a :class:`concurrent.futures.Future`. State leaves
as immutable :class:`~engine.state.Snapshot` values (one reference swap per
publication) and as ordered :mod:`~engine.events` on subscriber streams.

The loop sleeps in ``select`` on two sockets: libtorrent's alert notification
and the command channel's wake-up, so it reacts at once to either and uses no
CPU when idle. Snapshots are requested with ``post_torrent_updates`` at
``engine.snapshot_hz``, so their cost follows what changed, not the session size.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

from . import commands as cmds
from .board import StateBoard
from .channel import CommandChannel
from .commands import R, implementations, implements
from .config import Config, LoadedConfig
from .config import load as load_config
from .config import validate as validate_config
from .errors import (
    EngineError,
    EngineStoppedError,
    InputError,
    SiteTorrentError,
    TidegateError,
)
from .events import Event, EventStream, Log
from .lockfile import PidLock
from .paths import secure_state
from .requests import (
    AddRequest,
    check_add_numbers,
    check_index,
    check_priority,
    check_queue_move,
    check_rate,
    check_ratio,
    check_seed_time,
)
from .state import (
    SiteState,
    Snapshot,
    TorrentDetails,
    TorState,
    WebState,
)
from .torrents import session as lt_session
from .torrents.manager import TorrentManager
from .torrents.pieces import StreamInfo
from .torrents.resume import ResumeStore
from .waker import drain

NO_SITES = ("this engine runs no sites: it was started for torrents only (sites run in "
            "`tidegate daemon` and `tidegate tui`)")


class Engine:
    """The torrent engine. Start it, send it commands, read its snapshots.

    It runs torrents only: :class:`engine.node.Node` composes it with the sites thread,
    the Smart Proxy and tor (the daemon and the TUI); one-shot jobs use it alone.

    Args:
        loaded: the configuration with its paths; read from the environment when None.
        state_dir: folder for resume data (and the lock); ``<data>/resume`` by default.
        restore: add every torrent saved in ``state_dir`` on start.
        download_dir: default download folder, overriding the config.
        no_sites: what a site command is told (this engine runs none).
    """

    def __init__(
        self,
        loaded: LoadedConfig | None = None,
        *,
        state_dir: Path | None = None,
        restore: bool = True,
        download_dir: Path | None = None,
        no_sites: str = NO_SITES,
    ):
        self.loaded = loaded or load_config()
        self.config: Config = self.loaded.config
        self.state_dir = state_dir or self.loaded.paths.resume_dir
        self.download_dir = (download_dir or self.loaded.download_dir()).expanduser()
        self._restore = restore
        self._channel = CommandChannel()
        self._board = StateBoard()
        self._event_seq = 0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._save_on_stop = True
        self._stopped = threading.Event()
        self._startup_error: BaseException | None = None
        self._lock = PidLock(self.state_dir / "engine.lock", str(self.state_dir))
        self._listeners: list[Callable[[], None]] = []
        self._manager: TorrentManager | None = None
        self._save_waiters: list[Future[None]] = []
        """save_resume_data() callers, resolved when no save is outstanding."""
        self.crash: BaseException | None = None
        """Set if the engine thread died of an unexpected exception."""
        self._sites_state: MappingProxyType[str, SiteState] = MappingProxyType({})
        self._web_state = WebState()
        self._tor_state = TorState(mode=self.config.tor.mode, control=self.config.tor.control)
        self._dht_pinned: list[tuple[str, int]] = [
            (h.strip("[]"), int(p)) for h, _, p in
            (n.rpartition(":") for n in self.config.network.dht_nodes)]
        self.no_sites = no_sites
        """Why a site command sent to this engine is refused."""

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> Engine:
        """Start the engine thread; returns once the session listens."""
        if self._thread is not None:
            raise EngineError("engine already started")
        secure_state(self.loaded.paths, self.state_dir)
        self._take_lock()
        self._thread = threading.Thread(target=self._run, name="tidegate-engine", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise EngineError(f"engine did not start within {timeout} s")
        if self._startup_error is not None:
            self._release_lock()
            raise self._startup_error
        if self.crash is not None:
            # never return a started engine whose thread is already dead (a setting
            # libtorrent refused): the caller (the daemon) fails instead of serving it
            self._thread.join(5.0)
            self._release_lock()
            raise EngineError(f"the engine failed to start: {self.crash!r}")
        return self

    def stop(self, timeout: float | None = None, save: bool = True) -> None:
        """Save resume data for every torrent and stop, within a bounded time.

        ``save=False`` stops without asking for fresh resume data: for a caller about to
        delete it (a one-shot download that completed); files already queued are still
        written."""
        if self._thread is None:
            return
        self._save_on_stop = save
        self._stopping.set()
        self._channel.waker.wake()
        limit = (timeout or self.config.engine.stop_timeout) + 10.0
        self._thread.join(limit)
        if self._thread.is_alive():
            raise EngineError(f"engine thread did not stop within {limit:.0f} s")
        self._release_lock()

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._ready.is_set() and not self._stopped.is_set()

    def _take_lock(self) -> None:
        self._lock.acquire()

    def _release_lock(self) -> None:
        self._lock.release()

    # ------------------------------------------------------------------ state out

    @property
    def snapshot(self) -> Snapshot:
        """The newest snapshot (an immutable value; safe from any thread)."""
        return self._board.snapshot

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        """Block until a snapshot satisfies ``predicate``; raise TimeoutError otherwise."""
        return self._board.wait_for(
            predicate, timeout,
            lambda: "the engine stopped while waiting" if self._stopped.is_set() else None)

    def subscribe(self, maxsize: int = 10_000) -> EventStream:
        """A new ordered stream of events from now on."""
        return self._board.subscribe(maxsize)

    def unsubscribe(self, stream: EventStream) -> None:
        self._board.unsubscribe(stream)

    @property
    def event_seq(self) -> int:
        """The seq of the newest event emitted."""
        return self._event_seq

    def add_listener(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` after every snapshot publication and every event.

        It runs on the engine thread, so it must be quick and must not block or
        call the engine: the API server uses it to wake its own thread.
        """
        self._listeners.append(wake)

    def remove_listener(self, wake: Callable[[], None]) -> None:
        if wake in self._listeners:
            self._listeners.remove(wake)

    def _notify(self) -> None:
        for wake in list(self._listeners):
            try:
                wake()
            except Exception:  # a listener must never take the engine down
                pass

    def _emit(self, event: Event) -> None:
        self._event_seq += 1
        stamped = msgspec.structs.replace(event, seq=self._event_seq, time=time.time())
        self._board.deliver(stamped)
        self._notify()

    # ------------------------------------------------------------------ commands

    def run(self, cmd: cmds.Command[R]) -> Future[R]:
        """Run a command (:mod:`engine.commands`); resolves to its result."""
        impl = _IMPLEMENTATIONS.get(type(cmd))
        if impl is None:
            fut: Future[Any] = Future()
            fut.set_exception(EngineError(self.no_sites if type(cmd) in cmds.SITE_COMMANDS
                                          else f"{cmd.cmd} is not run by this engine"))
            return fut
        return impl(self, *cmds.arguments(cmd))

    def _call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if not self.running:
            fut: Future[Any] = Future()
            fut.set_exception(EngineStoppedError("the engine is not running"))
            return fut
        return self._channel.post(fn, *args)

    def _checked(self, check: Callable[[], object], fn: Callable[..., Any],
                 *args: Any) -> Future[Any]:
        """:meth:`_call`, once ``check()`` passed: a number the engine cannot keep (NaN,
        infinite, out of range) is refused when given, naming the argument and its range,
        never discovered later (in the resume file at the next start)."""
        try:
            check()
        except TidegateError as exc:
            fut: Future[Any] = Future()
            fut.set_exception(exc)
            return fut
        return self._call(fn, *args)

    def _m(self) -> TorrentManager:
        assert self._manager is not None
        return self._manager

    @implements(cmds.Add)
    def add(self, request: AddRequest) -> Future[str]:
        """Add a torrent; resolves to its id once libtorrent has it."""
        return self._checked(lambda: check_add_numbers(request),
                             lambda fut: self._m().add(request, fut), _DEFERRED)

    @implements(cmds.Pause)
    def pause(self, torrent_id: str) -> Future[None]:
        return self._call(lambda fut: self._m().pause(torrent_id, fut), _DEFERRED)

    @implements(cmds.Resume)
    def resume(self, torrent_id: str) -> Future[None]:
        return self._call(lambda fut: self._m().resume(torrent_id, fut), _DEFERRED)

    @implements(cmds.Remove)
    def remove(self, torrent_id: str, delete_data: bool = False,
               force: bool = False) -> Future[None]:
        """Remove a torrent (and its downloaded data when ``delete_data``). A site's
        snapshot or chain torrent is refused (``SiteTorrentError``) unless ``force``."""
        def run(fut: Future[None]) -> None:
            m = self._m()
            t = m.get(torrent_id)
            if t.extras.site and not force:
                site = self.snapshot.sites.get(t.extras.site)
                raise SiteTorrentError(torrent_id, t.state.name if t.state else torrent_id,
                                       t.extras.site, site.name if site else "",
                                       t.extras.site_role)
            m.remove(torrent_id, delete_data, fut)
        return self._call(run, _DEFERRED)

    @implements(cmds.Recheck)
    def recheck(self, torrent_id: str) -> Future[None]:
        return self._call(lambda: self._m().recheck(torrent_id))

    @implements(cmds.Reannounce)
    def reannounce(self, torrent_id: str) -> Future[list[str]]:
        """Announce now; resolves to where (``["2 trackers", "DHT"]``), empty when the
        torrent has nowhere to announce to."""
        return self._call(lambda: self._m().reannounce(torrent_id))

    @implements(cmds.QueueMove)
    def queue_move(self, torrent_id: str, where: str) -> Future[None]:
        """Move a torrent ``up``, ``down``, to the ``top`` or ``bottom`` of the queue (the
        order auto-managed torrents start in; ``TorrentState.queue_position``)."""
        return self._checked(lambda: check_queue_move(where),
                             lambda: self._m().queue_move(torrent_id, where))

    @implements(cmds.Move)
    def move(self, torrent_id: str, folder: str) -> Future[str]:
        """Move a torrent's data; resolves to the new folder once moved."""
        return self._call(lambda fut: self._m().move(torrent_id, folder, fut), _DEFERRED)

    @implements(cmds.SetLimits)
    def set_limits(self, torrent_id: str, down: int | None = None,
                   up: int | None = None) -> Future[None]:
        """Per-torrent rate limits in bytes/s (0 is unlimited, None leaves it)."""
        return self._checked(lambda: _each_rate(down, up, "down", "up"),
                             lambda fut: self._m().set_limits(torrent_id, down, up, fut),
                             _DEFERRED)

    @implements(cmds.SetGlobalLimits)
    def set_global_limits(self, down: int | None = None, up: int | None = None) -> Future[None]:
        def apply() -> None:
            rates = self.config.rates
            new = msgspec.structs.replace(
                rates, download=rates.download if down is None else down,
                upload=rates.upload if up is None else up)
            self._apply_config(msgspec.structs.replace(self.config, rates=new))
        return self._checked(lambda: _each_rate(down, up, "down", "up"), apply)

    @implements(cmds.SetShareLimits)
    def set_share_limits(self, torrent_id: str, ratio: float | None = None,
                         seed_time: int | None = None) -> Future[None]:
        """Per-torrent ratio / seed-time (s) limits; -1 follows the config, 0 disables."""
        def check() -> None:
            if ratio is not None:
                check_ratio(ratio, "ratio")
            if seed_time is not None:
                check_seed_time(seed_time, "seed_time")
        return self._checked(check, lambda fut: self._m().set_share_limits(
            torrent_id, ratio, seed_time, fut), _DEFERRED)

    @implements(cmds.SetFilePriorities)
    def set_file_priorities(self, torrent_id: str, priorities: dict[int, int]) -> Future[None]:
        """Set priorities (0 skip .. 7 high) for the given file indexes."""
        chosen = dict(priorities)

        def check() -> None:
            for index, prio in chosen.items():
                check_index(index, "file index")
                check_priority(prio, f"file {index}")
        return self._checked(check, lambda fut: self._m().set_file_priorities(
            torrent_id, chosen, fut), _DEFERRED)

    @implements(cmds.SetSequential)
    def set_sequential(self, torrent_id: str, on: bool) -> Future[None]:
        return self._call(lambda fut: self._m().set_sequential(torrent_id, on, fut), _DEFERRED)

    @implements(cmds.AddTrackers)
    def add_trackers(self, torrent_id: str, urls: Iterable[str]) -> Future[None]:
        return self._call(lambda fut: self._m().add_trackers(torrent_id, list(urls), fut),
                          _DEFERRED)

    @implements(cmds.RemoveTrackers)
    def remove_trackers(self, torrent_id: str, urls: Iterable[str]) -> Future[None]:
        return self._call(lambda fut: self._m().remove_trackers(torrent_id, list(urls), fut),
                          _DEFERRED)

    @implements(cmds.AddPeers)
    def add_peers(self, torrent_id: str, peers: Iterable[str]) -> Future[None]:
        """Connect to peers given as ``ip:port``; they are kept with the torrent and dialled
        again at every start (resolves once that is on disk)."""
        return self._call(lambda fut: self._m().add_peers(torrent_id, list(peers), fut),
                          _DEFERRED)

    @implements(cmds.Flush)
    def flush(self, torrent_id: str) -> Future[None]:
        """Resolve once the torrent's written data has reached the disk."""
        return self._call(lambda fut: self._m().flush(torrent_id, fut), _DEFERRED)

    @implements(cmds.Details)
    def details(self, torrent_id: str) -> Future[TorrentDetails]:
        """Files, peers, trackers and pieces of one torrent."""
        return self._call(lambda: self._m().details(torrent_id))

    def stream_info(self, torrent_id: str) -> Future[StreamInfo]:
        """A torrent's files and pieces, for streaming (in-process only)."""
        return self._call(lambda: self._m().pieces.info(torrent_id,
                                                        self._m().get(torrent_id).handle))

    def read_piece(self, torrent_id: str, piece: int, deadline_ms: int = 0,
                   prefetch: Iterable[int] = ()) -> Future[bytes]:
        """A piece's bytes once libtorrent has it (asked for first, by ``deadline_ms``);
        ``prefetch`` pieces are asked for next, in order (in-process only)."""
        ahead = list(prefetch)

        def read(fut: Future[bytes]) -> None:
            m = self._m()
            handle = m.get(torrent_id).handle
            m.pieces.read(torrent_id, handle, piece, deadline_ms, fut)
            if ahead:
                m.pieces.prefetch(handle, ahead, deadline_ms + 500, 200)

        def check() -> None:
            check_index(piece, "piece")
            for p in ahead:
                check_index(p, "prefetch piece")
            if not _is_int(deadline_ms) or not 0 <= deadline_ms <= MAX_DEADLINE_MS:
                raise InputError(repr(deadline_ms), f"deadline_ms must be 0 to "
                                                    f"{MAX_DEADLINE_MS}")
        return self._checked(check, read, _DEFERRED)

    @implements(cmds.SaveResumeData)
    def save_resume_data(self) -> Future[None]:
        """Resolve once resume data of every torrent is on disk."""
        return self._call(lambda fut: self._save_all(fut), _DEFERRED)

    @implements(cmds.SessionSettings)
    def session_settings(self) -> Future[dict[str, Any]]:
        """libtorrent's effective settings (for diagnostics and tests)."""
        return self._call(lambda: dict(self._m().ses.get_settings()))

    @implements(cmds.ApplyConfig)
    def apply_config(self, config: Config) -> Future[None]:
        """Apply a new configuration live (what libtorrent allows without restart)."""
        return self._checked(lambda: validate_config(config),
                             lambda: self._apply_config(config))

    def dht_put(self, seed: bytes, public: bytes, salt: bytes, value: bytes,
                timeout: float = 30.0) -> Future[int]:
        """Put a BEP 44 mutable item signed with the ed25519 ``seed``; resolves to the
        number of nodes that stored it."""
        return self._checked(lambda: check_timeout(timeout),
                             lambda fut: self._m().dht.put(seed, public, salt, value, timeout,
                                                           fut), _DEFERRED)

    def dht_get(self, public: bytes, salt: bytes, timeout: float = 30.0) -> Future[list[bytes]]:
        """The values of a BEP 44 mutable item found in the DHT (maybe none)."""
        return self._checked(lambda: check_timeout(timeout),
                             lambda fut: self._m().dht.get(public, salt, timeout, fut), _DEFERRED)

    def add_dht_node(self, host: str, port: int) -> Future[None]:
        """Add a node to the DHT routing table (a private DHT's bootstrap). Like the
        config's ``network.dht_nodes`` it is pinned: pinged again whenever the routing
        table holds fewer nodes than are pinned (libtorrent rebuilds its table when its
        external address changes, and a private DHT has no bootstrap to rejoin by)."""
        def add() -> None:
            self._dht_pinned.append((host, port))
            self._m().ses.add_dht_node((host, port))

        def check() -> None:
            if not _is_int(port) or not 1 <= port <= 65535:
                raise InputError(repr(port), "port must be 1 to 65535")
        return self._checked(check, add)

    def _repin_dht(self, m: TorrentManager) -> None:
        if self._dht_pinned and m.stats.dht_nodes < len(self._dht_pinned):
            for node in self._dht_pinned:
                m.ses.add_dht_node(node)

    def _apply_config(self, config: Config) -> None:
        self.config = config
        m = self._m()
        m.cfg = config
        m.ses.apply_settings(lt_session.settings_for(config))  # type: ignore[arg-type]
        lt_session.apply_peer_classes(m.ses, config)
        lt_session.assert_safety(m.ses)
        m.apply_pex()
        m.dirty = True

    # ------------------------------------------------------------------ hooks of the services

    def post_event(self, event: Event) -> None:
        """Emit an event from another thread (the sites thread): it is stamped and delivered
        on the engine thread, in order with the engine's own."""
        self._call(lambda: self._emit(event))

    def set_sites(self, sites: dict[str, SiteState]) -> Future[None]:
        """Publish the sites' states in a new snapshot (from the sites thread); resolves
        once that snapshot is out."""
        def apply() -> None:
            self._sites_state = MappingProxyType(dict(sites))
            self._publish(self._m())
        return self._call(apply)

    def set_web(self, state: WebState) -> Future[None]:
        """The Smart Proxy's state, published in the next snapshot."""
        def apply() -> None:
            self._web_state = state
            self._m().dirty = True
        return self._call(apply)

    def set_tor(self, state: TorState) -> Future[None]:
        """Tor's state (from the tor thread), published in the next snapshot."""
        def apply() -> None:
            self._tor_state = state
            self._m().dirty = True
        return self._call(apply)

    def _save_all(self, fut: Future[None]) -> None:
        self._m().save_all(only_modified=False)
        self._save_waiters.append(fut)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        alert_r, alert_w = socket.socketpair()
        alert_r.setblocking(False)
        sel = selectors.DefaultSelector()
        store: ResumeStore | None = None
        try:
            try:
                ses = lt_session.make_session(self.config)
                ses.set_alert_fd(alert_w.fileno())
                store = ResumeStore(self.state_dir, self.config.limits,
                                    on_written=self._channel.waker.wake)
                m = TorrentManager(ses, self.config, store, self.download_dir, self._emit)
                self._manager = m
                for node in self._dht_pinned:
                    ses.add_dht_node(node)
                self._wait_listening(ses, m)
                if self._restore:
                    m.restore()
            except TidegateError as exc:
                self._startup_error = exc
                self._ready.set()
                return
            sel.register(alert_r, selectors.EVENT_READ)
            sel.register(self._channel.waker.reader, selectors.EVENT_READ)
            self._ready.set()
            self._loop(ses, m, sel, alert_r)
            self._shutdown(ses, m)
            # Drop every reference so the session is destroyed (and its alert
            # notifications end) before the notification socket closes.
            m.ses = None  # type: ignore[assignment]
            del ses
        except BaseException as exc:  # the thread must never die silently
            self.crash = exc
            self._emit(Log(level="critical", message=f"engine crashed: {exc!r}"))
            for _fn, _args, fut in self._channel.close():
                fut.set_exception(EngineStoppedError(f"engine crashed: {exc!r}"))
            raise
        finally:
            if store is not None:  # after a crash too: what was queued still gets written
                store.close(self.config.engine.stop_timeout)
            self._manager = None
            self._stopped.set()
            self._publish_stopped()
            sel.close()
            alert_r.close()
            alert_w.close()
            self._ready.set()

    def _wait_listening(self, ses: Any, m: TorrentManager, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not m.listen_port and time.monotonic() < deadline:
            ses.wait_for_alert(100)
            m.handle_alerts(ses.pop_alerts())

    def _loop(self, ses: Any, m: TorrentManager, sel: selectors.BaseSelector,
              alert_r: socket.socket) -> None:
        period = 1.0 / self.config.engine.snapshot_hz
        next_snap = time.monotonic()
        next_save = time.monotonic() + self.config.storage.resume_save_interval
        next_counters = time.monotonic() + self.config.storage.counters_save_interval
        next_limits = time.monotonic() + 1.0
        next_pin = time.monotonic() + 5.0
        while not self._stopping.is_set():
            now = time.monotonic()
            wait = max(0.0, min(next_snap, next_save, next_limits) - now)
            sel.select(wait)
            # Each step on its own: a fault in one (a bug of ours; per-torrent faults are
            # contained further down, engine/torrents/isolation.py) is logged once and the
            # loop goes on, so the engine thread never dies of one.
            step = "reading alerts"
            try:
                drain(alert_r)
                self._channel.waker.drain()
                for fn, args, fut in self._channel.take():
                    self._run_command(fn, args, fut)
                m.handle_alerts(ses.pop_alerts())
                step = "writing resume data"
                m.report_write_errors()
                m.run_durable()
                self._resolve_save_waiters(m)
                now = time.monotonic()
                step = "expiring DHT requests"
                m.dht.expire(now)
                if now >= next_snap:
                    next_snap = now + period
                    step = "asking for status updates"
                    ses.post_torrent_updates()
                    ses.post_session_stats()
                if m.dirty:
                    step = "publishing a snapshot"
                    self._publish(m)
                if now >= next_save:
                    counters = now >= next_counters
                    next_save = now + self.config.storage.resume_save_interval
                    if counters:
                        next_counters = now + self.config.storage.counters_save_interval
                    step = "saving resume data"
                    m.save_all(only_modified=True, counters=counters)
                if now >= next_limits:
                    next_limits = now + 1.0
                    step = "checking share limits"
                    m.enforce_share_limits()
                    step = "retrying failed writes"
                    m.retry_disk_errors(now)
                if now >= next_pin:
                    next_pin = now + 5.0
                    step = "re-adding DHT nodes"
                    self._repin_dht(m)
            except Exception as exc:
                m.containment.other_fault(f"the engine loop ({step})", exc)
                m.dirty = True
                time.sleep(0.05)  # a fault that repeats must not spin a core

    def _run_command(self, fn: Callable[..., Any], args: tuple[Any, ...],
                     fut: Future[Any]) -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            if args and args[0] is _DEFERRED:
                fn(fut)  # resolved later, by an alert
            else:
                fut.set_result(fn(*args))
        except TidegateError as exc:
            if not fut.done():
                fut.set_exception(exc)
        except (RuntimeError, ValueError, TypeError, KeyError, OSError) as exc:
            # libtorrent reports invalid handles and bad arguments as these
            if not fut.done():
                fut.set_exception(EngineError(f"libtorrent: {exc}"))
        except Exception as exc:  # a bug in one command must not stop the engine
            self._emit(Log(level="error", message=f"command failed unexpectedly: {exc!r}"))
            if not fut.done():
                fut.set_exception(EngineError(f"internal error: {exc!r}"))

    def _resolve_save_waiters(self, m: TorrentManager) -> None:
        if self._save_waiters and m.saves_outstanding == 0:
            for fut in self._save_waiters:
                if not fut.done():
                    fut.set_result(None)
            self._save_waiters.clear()

    def _publish(self, m: TorrentManager) -> None:
        m.dirty = False
        torrents = self._board.snapshot.torrents
        if m.torrents_changed or not self._board.snapshot.running:
            # A new mapping only when a torrent changed: frontends and the API server
            # skip their per-torrent work when it is the same object as last time.
            torrents = MappingProxyType(
                {tid: t.state for tid, t in m.torrents.items() if t.state is not None})
            m.torrents_changed = False
        snap = Snapshot(seq=self._board.snapshot.seq + 1, time=time.time(), torrents=torrents,
                        stats=m.stats, sites=self._sites_state, web=self._web_state,
                        tor=self._tor_state)
        self._board.publish(snap)
        self._notify()

    def _publish_stopped(self) -> None:
        old = self._board.snapshot
        self._board.publish(Snapshot(seq=old.seq + 1, time=time.time(), torrents=old.torrents,
                                     stats=old.stats, running=False, sites=old.sites,
                                     web=WebState(), tor=TorState(mode=self.config.tor.mode)))
        self._notify()

    def _shutdown(self, ses: Any, m: TorrentManager) -> None:
        """Refuse commands, save resume data for every torrent, close the session."""
        for _fn, _args, fut in self._channel.close():
            fut.set_exception(EngineStoppedError("the engine is stopping"))
        ses.pause()
        if self._save_on_stop:
            m.save_all(only_modified=False)
        deadline = time.monotonic() + self.config.engine.stop_timeout
        # Wait for libtorrent's save alerts only: the files queued from them are the
        # writer's, and store.close() waits for those. (Waiting here on saves_outstanding
        # slept one more full wait_for_alert once the last alert was in: 0.1 s of every
        # `tidegate download`, docs/BENCHMARKS.md.)
        while m.saves_asked and time.monotonic() < deadline:
            ses.wait_for_alert(100)
            m.handle_alerts(ses.pop_alerts())
        m.handle_alerts(ses.pop_alerts())
        m.store.close(max(0.0, deadline - time.monotonic()))
        m.report_write_errors()
        m.run_durable(everything=True)  # written, or as written as it will ever be
        if m.saves_outstanding:
            self._emit(Log(level="error", message=f"{m.saves_outstanding} torrents did not "
                                                  "save resume data before the stop timeout"))
        self._resolve_save_waiters(m)
        self._publish(m)


MAX_DEADLINE_MS = 3_600_000
"""Longest piece deadline a read may ask for (an hour)."""
MAX_TIMEOUT = 3600.0


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _each_rate(down: int | None, up: int | None, down_name: str, up_name: str) -> None:
    for value, what in ((down, down_name), (up, up_name)):
        if value is not None:
            check_rate(value, what)


def check_timeout(value: float) -> float:
    """A finite timeout in seconds, more than 0 and at most :data:`MAX_TIMEOUT`."""
    if not (_is_int(value) or isinstance(value, float)) or not 0 < value <= MAX_TIMEOUT:
        raise InputError(repr(value), f"timeout must be more than 0 and at most "
                                      f"{MAX_TIMEOUT:g} seconds")
    return value


class _Deferred:
    """Marker: the command resolves its future itself, later."""


_DEFERRED = _Deferred()

_IMPLEMENTATIONS = implementations(Engine)
"""The engine's command implementations, by command type."""

