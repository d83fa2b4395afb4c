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

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

from . import commands as cmds
from .channel import DEFERRED, CommandChannel, failed
from .commands import R, implementations, implements
from .config import Config, LoadedConfig
from .config import load as load_config
from .config import validate as validate_config
from .config.watchhooks import keep_file_only
from .engine_dht import DhtCalls
from .engine_stream import StreamCalls
from .errors import (
    EngineError,
    EngineStoppedError,
    SiteTorrentError,
    TidegateError,
)
from .events import Event, EventStream
from .lockfile import PidLock
from .part_bell import ringing
from .paths import secure_state
from .publisher import Publisher
from .requests import (
    AddRequest,
    check_add_numbers,
    check_index,
    check_priority,
    check_queue_move,
    check_rates,
    check_ratio,
    check_seed_time,
)
from .session_loop import SessionLoop
from .state import (
    PartState,
    SiteState,
    Snapshot,
    TorrentDetails,
    TorState,
    WebState,
)
from .torrents.manager import TorrentManager

NO_SITES = ("this engine runs no sites: it was started for torrents only (sites run in "
            "`tidegate daemon` and `tidegate tui`)")


class Engine(DhtCalls, StreamCalls):
    """The torrent engine. Start it, send it commands, read its snapshots.

    It runs torrents only: :class:`engine.node.Node` composes it with the sites thread,
    the Smart Proxy and tor (the daemon and the TUI); one-shot jobs use it alone.

    Args:
        loaded: the configuration with its paths; read from the environment when None.
        state_dir: folder for resume data (and the lock); ``<data>/resume`` by default.
        restore: add every torrent saved in ``state_dir`` on start.
        download_dir: default download folder, overriding the config.
        no_sites: what a site command is told (this engine runs none).
        clock: local wall time for the speed schedule (tests inject one).
    """

    on_exit: Callable[[], object] | None = None
    """The watcher's nudge, rung when this part's thread ends (engine/part_bell.py)."""

    def __init__(
        self,
        loaded: LoadedConfig | None = None,
        *,
        state_dir: Path | None = None,
        restore: bool = True,
        download_dir: Path | None = None,
        no_sites: str = NO_SITES,
        clock: Callable[[], datetime] = datetime.now,
    ):
        self.loaded = loaded or load_config()
        config = self.loaded.config
        self.state_dir = state_dir or self.loaded.paths.resume_dir
        self.download_dir = (download_dir or self.loaded.download_dir()).expanduser()
        self._channel = CommandChannel()
        self._out = Publisher(TorState(mode=config.tor.mode, control=config.tor.control))
        self._thread: threading.Thread | None = None
        self._lock = PidLock(self.state_dir / "engine.lock", str(self.state_dir))
        pinned = [(h.strip("[]"), int(p)) for h, _, p in
                  (n.rpartition(":") for n in config.network.dht_nodes)]
        self._loop = SessionLoop(config, self.state_dir, self.download_dir, restore,
                                 self._channel, self._out, pinned, clock)
        self.no_sites = no_sites
        """Why a site command sent to this engine is refused."""

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> Engine:
        """Start the engine thread; returns once the session listens."""
        if self._thread is not None:
            raise EngineError("engine already started")
        secure_state(self.loaded.paths, self.state_dir)
        self._take_lock()
        loop = self._loop
        self._thread = threading.Thread(target=ringing(loop.run, self),
                                        name="tidegate-engine", daemon=True)
        self._thread.start()
        if not loop.ready.wait(timeout):
            self.stop()
            raise EngineError(f"engine did not start within {timeout} s")
        if loop.startup_error is not None:
            self._release_lock()
            raise loop.startup_error
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
        self._loop.save_on_stop = save
        self._loop.stopping.set()
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
    def config(self) -> Config:
        """The configuration in force (``apply_config`` replaces it)."""
        return self._loop.config

    @property
    def running(self) -> bool:
        return self._loop.ready.is_set() and not self._loop.stopped.is_set()

    @property
    def crash(self) -> BaseException | None:
        """Set if the engine thread died of an unexpected exception."""
        return self._loop.crash

    @property
    def _manager(self) -> TorrentManager | None:
        return self._loop.manager

    def _take_lock(self) -> None:
        self._lock.acquire()

    def _release_lock(self) -> None:
        self._lock.release()

    # ------------------------------------------------------------------ state out

    @property
    def snapshot(self) -> Snapshot:
        """The newest snapshot (an immutable value; safe from any thread)."""
        return self._out.snapshot

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        """Block until a snapshot satisfies ``predicate``; raise TimeoutError otherwise."""
        return self._out.wait_for(
            predicate, timeout,
            lambda: "the engine stopped while waiting" if self._loop.stopped.is_set() else None)

    def glance(self) -> None:
        """A reader that polls read the snapshot (the qBittorrent API): snapshots come at
        ``engine.snapshot_hz`` for the next few seconds (``StateBoard.glance``)."""
        self._out.board.glance()

    def subscribe(self, maxsize: int = 10_000) -> EventStream:
        """A new ordered stream of events from now on."""
        return self._out.subscribe(maxsize)

    def unsubscribe(self, stream: EventStream) -> None:
        self._out.unsubscribe(stream)

    @property
    def event_seq(self) -> int:
        """The seq of the newest event emitted."""
        return self._out.event_seq

    def add_listener(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` after every snapshot publication and every event.

        It runs on the engine thread, so it must be quick and must not block or
        call the engine: the API server uses it to wake its own thread.
        """
        self._out.add_listener(wake)

    def remove_listener(self, wake: Callable[[], None]) -> None:
        self._out.remove_listener(wake)

    def frontend_attached(self, on: bool) -> None:
        """A frontend attached (``on``) or left (the API server, per subscribed client):
        while any is, or a ``wait_for`` caller waits, the loop polls at
        ``engine.snapshot_hz`` even when nothing moves (:mod:`engine.pacer`)."""
        self._out.board.watch(on)

    def loop_counters(self) -> dict[str, int]:
        """The engine loop's own numbers (``wakeups``, ``polls``, ``jobs``, ...: see
        ``SessionLoop.counters``); a copy, for tests and benchmarks."""
        return dict(self._loop.counters)

    # ------------------------------------------------------------------ commands

    def run(self, cmd: cmds.Command[R]) -> Future[R]:
        """Run a command (:mod:`engine.commands`); resolves to its result."""
        impl = _IMPLEMENTATIONS.get(type(cmd))
        if impl is None:
            return failed(EngineError(
                self.no_sites if type(cmd) in cmds.SITE_COMMANDS else
                f"{cmd.cmd}: RSS and watch folders run in the daemon and in the TUI's own "
                "engine (`tidegate daemon`, `tidegate`), not in this one"
                if type(cmd) in cmds.NODE_COMMANDS else f"{cmd.cmd} is not run by this engine"))
        return impl(self, *cmds.arguments(cmd))

    def _call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if not self.running:
            return failed(EngineStoppedError("the engine is not running"))
        return self._channel.post(fn, *args)

    def _checked(self, check: Callable[[], object], fn: Callable[..., Any],
                 *args: Any) -> Future[Any]:
        """:meth:`_call`, once ``check()`` passed: a number the engine cannot keep (NaN,
        infinite, out of range) is refused when given, naming the argument and its range,
        never discovered later (in the resume file at the next start)."""
        try:
            check()
        except TidegateError as exc:
            return failed(exc)
        return self._call(fn, *args)

    def _m(self) -> TorrentManager:
        m = self._loop.manager
        assert m is not None
        return m

    @implements(cmds.Add)
    def add(self, request: AddRequest) -> Future[str]:
        """Add a torrent; resolves to its id once libtorrent has it."""
        return self._checked(lambda: check_add_numbers(request),
                             lambda fut: self._m().add(request, fut), DEFERRED)

    @implements(cmds.Pause)
    def pause(self, torrent_id: str) -> Future[None]:
        return self._call(lambda fut: self._m().pause(torrent_id, fut), DEFERRED)

    @implements(cmds.Resume)
    def resume(self, torrent_id: str) -> Future[None]:
        return self._call(lambda fut: self._m().resume(torrent_id, fut), DEFERRED)

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
        return self._call(run, DEFERRED)

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
        return self._call(lambda fut: self._m().move(torrent_id, folder, fut), DEFERRED)

    @implements(cmds.SetLimits)
    def set_limits(self, torrent_id: str, down: int | None = None,
                   up: int | None = None) -> Future[None]:
        """Per-torrent rate limits in bytes/s (0 is unlimited, None leaves it)."""
        return self._checked(lambda: check_rates(down, up, "down", "up"),
                             lambda fut: self._m().set_limits(torrent_id, down, up, fut),
                             DEFERRED)

    @implements(cmds.SetGlobalLimits)
    def set_global_limits(self, down: int | None = None, up: int | None = None) -> Future[None]:
        def apply() -> None:
            rates = self.config.rates
            new = msgspec.structs.replace(
                rates, download=rates.download if down is None else down,
                upload=rates.upload if up is None else up)
            self._apply_config(msgspec.structs.replace(self.config, rates=new))
        return self._checked(lambda: check_rates(down, up, "down", "up"), apply)

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
            torrent_id, ratio, seed_time, fut), DEFERRED)

    @implements(cmds.SetFilePriorities)
    def set_file_priorities(self, torrent_id: str, priorities: dict[int, int]) -> Future[None]:
        """Set priorities (0 skip .. 7 high) for the given file indexes."""
        chosen = dict(priorities)

        def check() -> None:
            for index, prio in chosen.items():
                check_index(index, "file index")
                check_priority(prio, f"file {index}")
        return self._checked(check, lambda fut: self._m().set_file_priorities(
            torrent_id, chosen, fut), DEFERRED)

    @implements(cmds.SetSequential)
    def set_sequential(self, torrent_id: str, on: bool) -> Future[None]:
        return self._call(lambda fut: self._m().set_sequential(torrent_id, on, fut), DEFERRED)

    @implements(cmds.AddTrackers)
    def add_trackers(self, torrent_id: str, urls: Iterable[str]) -> Future[None]:
        return self._call(lambda fut: self._m().add_trackers(torrent_id, list(urls), fut),
                          DEFERRED)

    @implements(cmds.RemoveTrackers)
    def remove_trackers(self, torrent_id: str, urls: Iterable[str]) -> Future[None]:
        return self._call(lambda fut: self._m().remove_trackers(torrent_id, list(urls), fut),
                          DEFERRED)

    @implements(cmds.AddPeers)
    def add_peers(self, torrent_id: str, peers: Iterable[str]) -> Future[None]:
        """Connect to peers given as ``ip:port``; they are kept with the torrent and dialled
        again at every start (resolves once that is on disk)."""
        return self._call(lambda fut: self._m().add_peers(torrent_id, list(peers), fut),
                          DEFERRED)

    @implements(cmds.CategoryAdd)
    def category_add(self, name: str, save_path: str = "") -> Future[None]:
        return self._call(lambda: self._m().labels.category_add(name, save_path))

    @implements(cmds.CategoryRemove)
    def category_remove(self, names: list[str]) -> Future[None]:
        return self._call(lambda fut: self._m().labels.category_remove(names, fut), DEFERRED)

    @implements(cmds.SetCategory)
    def set_category(self, ids: list[str], category: str) -> Future[None]:
        return self._call(lambda fut: self._m().labels.set_category(ids, category, fut),
                          DEFERRED)

    @implements(cmds.AddTags)
    def add_tags(self, ids: list[str], tags: list[str]) -> Future[None]:
        return self._call(lambda fut: self._m().labels.add_tags(ids, tags, fut), DEFERRED)

    @implements(cmds.RemoveTags)
    def remove_tags(self, ids: list[str], tags: list[str]) -> Future[None]:
        return self._call(lambda fut: self._m().labels.remove_tags(ids, tags, fut), DEFERRED)

    @implements(cmds.Flush)
    def flush(self, torrent_id: str) -> Future[None]:
        """Resolve once the torrent's written data has reached the disk."""
        return self._call(lambda fut: self._m().flush(torrent_id, fut), DEFERRED)

    @implements(cmds.Details)
    def details(self, torrent_id: str) -> Future[TorrentDetails]:
        """Files, peers, trackers and pieces of one torrent."""
        return self._call(lambda: self._m().details(torrent_id))

    @implements(cmds.SaveResumeData)
    def save_resume_data(self) -> Future[None]:
        """Resolve once resume data of every torrent is on disk."""
        return self._call(lambda fut: self._save_all(fut), DEFERRED)

    @implements(cmds.SessionSettings)
    def session_settings(self) -> Future[dict[str, Any]]:
        """libtorrent's effective settings (for diagnostics and tests)."""
        return self._call(lambda: dict(self._m().ses.get_settings()))

    @implements(cmds.ApplyConfig)
    def apply_config(self, config: Config) -> Future[None]:
        """Apply a new configuration live (what libtorrent allows without restart)."""
        def check() -> None:
            validate_config(keep_file_only(config, self.config))
        return self._checked(check,
                             lambda: self._apply_config(keep_file_only(config, self.config)))

    def _apply_config(self, config: Config) -> None:
        self._loop.apply_config(config)  # with the limits in force (turtle mode)

    @implements(cmds.SetAltSpeed)
    def set_alt_speed(self, on: bool) -> Future[None]:
        """Turtle mode on or off by hand, until the schedule's next boundary."""
        return self._call(lambda: self._loop.switch_alt_speed(on))

    # ------------------------------------------------------------------ hooks of the services

    def post_event(self, event: Event) -> None:
        """Emit an event from another thread (the sites thread): it is stamped and delivered
        on the engine thread, in order with the engine's own."""
        self._call(lambda: self._out.emit(event))

    def set_sites(self, sites: dict[str, SiteState]) -> Future[None]:
        """Publish the sites' states in a new snapshot (from the sites thread); resolves
        once that snapshot is out."""
        def apply() -> None:
            self._out.sites = MappingProxyType(dict(sites))
            self._out.publish(self._m())
        return self._call(apply)

    def set_web(self, state: WebState) -> Future[None]:
        """The Smart Proxy's state, published in the next snapshot."""
        def apply() -> None:
            self._out.web = state
            self._m().dirty = True
        return self._call(apply)

    def set_tor(self, state: TorState) -> Future[None]:
        """Tor's state (from the tor thread), published in the next snapshot."""
        def apply() -> None:
            self._out.tor = state
            self._m().dirty = True
        return self._call(apply)

    def set_parts(self, parts: dict[str, PartState]) -> Future[None]:
        """The supervised parts' states (from the watcher), published in the next
        snapshot."""
        def apply() -> None:
            self._out.parts = MappingProxyType(dict(parts))
            self._m().dirty = True
        return self._call(apply)

    def _save_all(self, fut: Future[None]) -> None:
        self._m().save_all(only_modified=False)
        self._loop.save_waiters.append(fut)


_IMPLEMENTATIONS = implementations(Engine)
"""The engine's command implementations, by command type."""

