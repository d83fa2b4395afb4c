"""The tor thread: keeps a tor reachable and the wanted onion services published on it.

Started by the Engine (with the proxy) when ``tor.mode`` is not ``clearnet``. The sites
thread says which owned sites should be onion services (:meth:`TorService.want`); this
thread then, on its own schedule (a second, or at once when woken):

1. makes sure there is a control connection: it starts a managed tor (data under
   ``<data_dir>/tor``) or connects to the user's tor (``tor.control``), and restarts or
   reconnects, with back-off, when tor exits or the connection drops (under the node's
   watcher, :attr:`TorService.supervised`, a managed tor that died or could not start
   waits for :meth:`TorService.restart`: the watcher's back-off and report);
2. has the proxy serve each wanted site on a unix socket of its own (a site-only
   listener, :meth:`~engine.proxy.service.ProxyService.serve_site_at`) and gives tor
   that socket as the service's target, keyed by the site's own key, so the onion address
   is the site address (:class:`~.onions.OnionPublisher` re-adds every service after
   tor comes back);
3. publishes :class:`~engine.state.TorState` in the engine's snapshots.

A managed tor is needed in ``tor-all`` mode from the start (the swarm goes through its
SOCKS port), otherwise only once a site is wanted. On stop every service is removed
(DEL_ONION) and a managed tor is shut down.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from ..config import tor_socks
from ..errors import TidegateError
from ..events import Log
from ..part_bell import ring, ringing
from ..paths import private_dir
from ..state import OnionState, TorState
from .control import UNIX_PATH_MAX, TorControl
from .launch import ManagedTor
from .onions import OnionPublisher

if TYPE_CHECKING:
    from ..config import Config
    from ..services import TorrentService


class SiteListener(Protocol):
    """What tor asks of the Smart Proxy (:class:`engine.proxy.service.ProxyService`):
    a listener serving one site, read-only, for an onion service to point at."""

    def serve_site_at(self, address: str, socket_path: Path | None
                      ) -> concurrent.futures.Future[str]: ...

    def close_site(self, address: str) -> concurrent.futures.Future[None]: ...

TICK = 1.0
RETRY_FIRST = 2.0
RETRY_MAX = 60.0


@dataclass(frozen=True)
class Wanted:
    """An owned site to publish as an onion service."""

    seed: bytes
    clients: tuple[str, ...] = ()
    """Base32 x25519 public keys of the clients allowed (empty: anyone)."""


class TorService:
    """The tor thread; a supervised part (engine/supervisor.py). ``alive()`` is False when
    the thread ended while not stopped, or when the managed tor process died; with
    :attr:`supervised` the thread then waits for ``restart()`` (the watcher's back-off)
    instead of starting tor again by itself. Either way the new tor gets every onion
    service again."""

    on_exit: Callable[[], object] | None = None
    """The watcher's nudge, rung when this part's thread ends (engine/part_bell.py)."""

    name = "tor"

    def __init__(self, engine: TorrentService, proxy: SiteListener | None, data_dir: Path,
                 runtime_dir: Path) -> None:
        self.engine = engine
        self.config: Config = engine.config
        self.proxy = proxy
        self.data_dir = data_dir
        self.runtime_dir = runtime_dir
        self.publisher = OnionPublisher(changed=self.wake)
        self._wanted: dict[str, Wanted] = {}
        self._given: dict[str, Wanted] = {}
        """What the publisher was asked for (this thread only)."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._managed: ManagedTor | None = None
        self._control: TorControl | None = None
        self._sockets: dict[str, Path] = {}
        self._targets: dict[str, str] = {}
        self._socket_dir: Path | None = None
        self._error = ""
        self._version = ""
        self._retry_at = 0.0
        self._backoff = RETRY_FIRST
        self._published: TorState | None = None
        self.supervised = False
        """A watcher restarts a managed tor that died (set by the node)."""
        self.failure = ""
        """Why the thread or the managed tor ended last."""
        self._tor_died = False
        """The managed tor died and waits for restart() (supervised only)."""

    # ------------------------------------------------------------------ any thread

    def want(self, wanted: dict[str, Wanted]) -> None:
        """The owned sites that should be onion services now (replaces the last set)."""
        with self._lock:
            self._wanted = dict(wanted)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=ringing(self._run, self),
                                        name="tidegate-tor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        thread = self._thread
        if self._stopping.is_set() or thread is None:
            return True
        if not thread.is_alive():
            self.failure = self.failure or "the tor thread ended"
            return False
        return not self._tor_died

    def restart(self) -> None:
        """Start the thread again if it died; start a managed tor that died again (on the
        thread, which publishes the onion services on it)."""
        thread = self._thread
        if thread is not None and not thread.is_alive():
            self._control = None
            self._managed = None
            self._given.clear()
            self.start()
        self._tor_died = False
        self._retry_at = 0.0
        self.wake()

    @property
    def managed_pid(self) -> int | None:
        return self._managed.pid if self._managed is not None else None

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    self._step()
                except TidegateError as exc:
                    self._fail(str(exc))
                except Exception as exc:  # never silent, never fatal to the engine
                    self._fail(f"unexpected: {exc!r}")
                self._report()
                self._wake.wait(TICK)
        except BaseException as exc:  # for the watcher, which starts the thread again
            self.failure = f"the tor thread raised {exc!r}"
        finally:
            self._shutdown()
            self._report()

    def _needed(self, wanted: dict[str, Wanted]) -> bool:
        return bool(wanted) or self.config.tor.mode == "tor-all"

    def _step(self) -> None:
        with self._lock:
            wanted = dict(self._wanted)
        managed = self._managed
        if managed is not None and not managed.running:  # before the connection it ends
            why = f"tor (pid {managed.pid}) {managed.exit_text or 'exited'}"
            self._managed = None
            managed.stop()
            if self._control is not None:
                self._drop(why)
            self.failure = why
            self._tor_died = self.supervised
            if self._tor_died:
                ring(self)  # the watcher looks now
        if self._control is not None and not self._control.is_alive():
            self._drop("lost the connection to tor")
        if self._control is None:
            if self._tor_died or not self._needed(wanted) or time.monotonic() < self._retry_at:
                return
            self._connect()
        assert self._control is not None
        for address, w in wanted.items():
            if self._given.get(address) != w:
                target = self._target(address)
                self.publisher.publish(w.seed, target, w.clients)
                self._given[address] = w
        for address in [a for a in self._given if a not in wanted]:
            self.publisher.unpublish(address)
            self._given.pop(address)
            self._close_target(address)

    def _connect(self) -> None:
        cfg = self.config.tor
        self._error = ""
        if cfg.control == "managed":
            if self._managed is None or not self._managed.running:
                if self._managed is not None:
                    self._managed.stop()
                socks = None
                if cfg.mode == "tor-all":
                    socks = tor_socks(self.config)[1]
                self._managed = ManagedTor(
                    self.data_dir, disable_network=cfg.disable_network, socks_port=socks,
                    extra=cfg.torrc, binary=cfg.binary or None,
                ).start(timeout=cfg.timeout)
                self._log("info", f"tor: started a managed tor (pid {self._managed.pid})")
            control = self._managed.connect(timeout=cfg.timeout)
        elif cfg.control.startswith("unix:"):
            control = TorControl(socket=Path(cfg.control[len("unix:"):]),
                                 password=cfg.password or None, timeout=cfg.timeout)
        else:
            host, _, port = cfg.control.rpartition(":")
            if host.strip("[]") not in ("127.0.0.1", "localhost"):
                raise TidegateError(f"tor.control {cfg.control!r}: only 127.0.0.1 ports")
            control = TorControl(port=int(port), password=cfg.password or None,
                                 timeout=cfg.timeout)
        try:
            self._version = control.get_info("version").split()[0]
        except TidegateError:
            self._version = ""
        self._control = control
        self._given.clear()
        self.publisher.attach(control)  # re-adds every service published before
        self._backoff = RETRY_FIRST
        self._log("info", f"tor: connected to {control.endpoint} (tor {self._version})")

    def _drop(self, why: str) -> None:
        self._log("warning", f"tor: {why}; reconnecting")
        self.publisher.detach()
        if self._control is not None:
            self._control.close()
        self._control = None
        self._given.clear()

    def _fail(self, message: str) -> None:
        if message != self._error:
            self._log("error", f"tor: {message}")
        self._error = message
        if self._control is not None and not self._control.is_alive():
            self._drop("the connection failed")
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, RETRY_MAX)
        if self.supervised and self._control is None and self.config.tor.control == "managed":
            # our tor could not be brought up: the watcher's back-off and report, not ours
            self.failure = f"tor did not start: {message}"
            self._tor_died = True
            ring(self)

    def _target(self, address: str) -> str:
        """Where the proxy serves ``address`` alone, for tor: a unix socket (0600) for a
        managed tor; a 127.0.0.1 port for a tor you run, which often runs as another
        user (Debian's ``debian-tor``) that could not open our socket."""
        if self.proxy is None:
            raise TidegateError("onion services need the Smart Proxy (web.enabled = true)")
        target = self._targets.get(address)
        if target is None:
            path = self._socket_path(address) if self.config.tor.control == "managed" \
                else None
            target = self.proxy.serve_site_at(address, path).result(self.config.tor.timeout)
            self._targets[address] = target
            if path is not None:
                self._sockets[address] = path
        return target

    def _socket_path(self, address: str) -> Path:
        name = address[:16] + ".sock"
        folder = self.runtime_dir / "onion"
        if len(os.fsencode(str(folder / name))) > UNIX_PATH_MAX - 4:
            if self._socket_dir is None:  # a deep TIDEGATE_HOME: a short private folder
                self._socket_dir = Path(tempfile.mkdtemp(prefix="tidegate-onion-"))
            folder = self._socket_dir
        private_dir(folder)
        return folder / name

    def _close_target(self, address: str) -> None:
        path = self._sockets.pop(address, None)
        if self._targets.pop(address, None) is not None and self.proxy is not None:
            with contextlib.suppress(Exception):
                self.proxy.close_site(address).result(5)
        if path is not None:
            path.unlink(missing_ok=True)

    def _shutdown(self) -> None:
        for address in list(self._given):
            with contextlib.suppress(TidegateError):
                self.publisher.unpublish(address)
        self._given.clear()
        self.publisher.detach()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._managed is not None:
            self._managed.stop()
        for address in list(self._targets):
            self._close_target(address)
        if self._socket_dir is not None:
            with contextlib.suppress(OSError):
                self._socket_dir.rmdir()

    # ------------------------------------------------------------------ state

    def state(self) -> TorState:
        cfg = self.config.tor
        with self._lock:
            clients = {a: len(w.clients) for a, w in self._wanted.items()}
        onions = {
            a: OnionState(state=s.state, descriptors=s.descriptors,
                          clients=clients.get(a, 0), error=s.error)
            for a, s in self.publisher.statuses().items()}
        socks = ""
        if cfg.mode == "tor-all":
            host, port = tor_socks(self.config)
            socks = f"{host}:{port}"
        running = self._managed is not None and self._managed.running
        return TorState(
            mode=cfg.mode, connected=self._control is not None and self._control.is_alive(),
            control=cfg.control, pid=(self._managed.pid or 0) if running and self._managed
            else 0, version=self._version, socks=socks, error=self._error,
            onions=MappingProxyType(onions))

    def _report(self) -> None:
        state = self.state()
        if state != self._published:
            self._published = state
            with contextlib.suppress(Exception):
                self.engine.set_tor(state)

    def _log(self, level: str, message: str) -> None:
        with contextlib.suppress(Exception):
            self.engine.post_event(Log(level=level, message=message))
