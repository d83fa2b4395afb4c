"""Discrete events, delivered in order on the engine's message channel.

Every event carries ``seq`` (one counter for the whole engine, no gaps as sent)
so a consumer that misses some can tell and resynchronise from a snapshot.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    seq: int = 0
    time: float = 0.0


class TorrentAdded(Event, frozen=True, kw_only=True):
    torrent_id: str
    name: str
    restored: bool = False
    """Restored from its resume file at start (not a new add)."""


class MetadataReceived(Event, frozen=True, kw_only=True):
    torrent_id: str
    name: str
    awaiting_selection: bool
    """True for a metadata-first add: nothing downloads until files are chosen."""


class TorrentCompleted(Event, frozen=True, kw_only=True):
    """Every wanted byte is downloaded, hash-checked and flushed to disk."""

    torrent_id: str
    name: str
    after_check: bool = False
    """Found complete by a recheck (``recheck``), not by downloading: the
    :class:`TorrentChecked` of that recheck already says so."""


class TorrentErrored(Event, frozen=True, kw_only=True):
    torrent_id: str
    message: str
    file: str = ""


class TrackerError(Event, frozen=True, kw_only=True):
    torrent_id: str
    url: str
    message: str


class PieceFailed(Event, frozen=True, kw_only=True):
    """A downloaded piece failed its hash check (it is downloaded again; the peers that
    sent it lose trust, and libtorrent bans one that keeps sending bad data)."""

    torrent_id: str
    piece: int


class PeerBanned(Event, frozen=True, kw_only=True):
    """A peer was banned from a torrent: no more connections to or from it."""

    torrent_id: str
    peer: str
    """``ip:port`` (``[ip]:port`` for IPv6)."""
    reason: str


class StorageMoved(Event, frozen=True, kw_only=True):
    torrent_id: str
    path: str


class StorageMoveFailed(Event, frozen=True, kw_only=True):
    torrent_id: str
    message: str


class TorrentRemoved(Event, frozen=True, kw_only=True):
    torrent_id: str
    data_deleted: bool


class TorrentPaused(Event, frozen=True, kw_only=True):
    torrent_id: str
    reason: str = "user"


class TorrentResumed(Event, frozen=True, kw_only=True):
    torrent_id: str


class TorrentChecked(Event, frozen=True, kw_only=True):
    """A hash check of a torrent's data ended (at add, at start, or a recheck)."""

    torrent_id: str
    progress: float
    """Share of the wanted data found good, 0.0-1.0."""
    recheck: bool = False
    """It ends a recheck asked with ``recheck`` (not the check at add or start)."""


class ShareLimitReached(Event, frozen=True, kw_only=True):
    torrent_id: str
    reason: str


class ResumeDataError(Event, frozen=True, kw_only=True):
    """A saved torrent could not be restored (the file is kept, renamed)."""

    file: str
    message: str


class SiteUpdated(Event, frozen=True, kw_only=True):
    """A site's chain grew: a verified new head (published here or fetched)."""

    address: str
    name: str
    height: int


class SiteRefused(Event, frozen=True, kw_only=True):
    """Something announced or fetched for a site was refused; nothing was stored."""

    address: str
    reason: str
    """A chain reason (``rollback``, ``equivocation``, ``bad_signature``...) or
    ``bad_files`` (a snapshot's files do not match its manifest)."""
    message: str


class SiteHosted(Event, frozen=True, kw_only=True):
    """A snapshot of a site is on disk, verified against its manifest, and seeding."""

    address: str
    snapshot: int
    """The seq of the UPDATE naming the snapshot."""


class SiteChanged(Event, frozen=True, kw_only=True):
    """The snapshot a site is served from changed (published here, or followed, fetched
    and verified): which file paths are new or have new content, which are gone, compared
    with the snapshot served before (docs/program-api.md). The lists hold at most
    ``MAX_CHANGED_PATHS`` paths each; ``truncated`` says when more changed (read
    ``site_files`` for the whole list)."""

    address: str
    height: int
    """The verified chain height."""
    head: str
    """Hex SHA-256 of the head entry."""
    snapshot: int
    """The seq of the UPDATE naming the snapshot now served."""
    changed: list[str]
    removed: list[str]
    truncated: bool = False


MAX_CHANGED_PATHS = 1000
"""Paths a :class:`SiteChanged` lists per list (an event stays a few tens of KiB)."""


class SiteProgress(Event, frozen=True, kw_only=True):
    """Publishing a site: bytes hashed so far (a few per second at most)."""

    address: str
    done: int
    total: int


class Log(Event, frozen=True, kw_only=True):
    level: str
    message: str


class PartFailed(Event, frozen=True, kw_only=True):
    """A supervised part died (docs/watcher.md); the watcher restarts it in ``retry_in``
    seconds (the engine itself: the daemon exits non-zero instead)."""

    part: str
    why: str
    attempt: int
    """How many times in a row it died (1 after a stable run)."""
    retry_in: float


class PartRestarted(Event, frozen=True, kw_only=True):
    """The watcher restarted a part that had died."""

    part: str
    why: str
    """Why it had died."""
    attempt: int


class DaemonConnection(Event, frozen=True, kw_only=True):
    """A remote client lost or regained its daemon (emitted by the client, not the engine)."""

    connected: bool
    endpoint: str
    message: str = ""


class EventsLost(Event, frozen=True, kw_only=True):
    """The subscriber fell behind and ``count`` events were dropped for it."""

    count: int


def event_types() -> tuple[type[Event], ...]:
    """Every concrete event class (for decoding a tagged union)."""
    return tuple(Event.__subclasses__())


class EventStream:
    """One subscriber's ordered view of the event channel.

    Bounded: a subscriber that stops reading loses the oldest backlog beyond
    ``maxsize`` and receives an :class:`EventsLost` marker instead, so a stuck
    reader never makes the engine grow without limit.
    """

    def __init__(self, maxsize: int = 10_000):
        self._queue: queue.Queue[Event] = queue.Queue(maxsize)
        self._lost = 0
        self._lock = threading.Lock()
        self.closed = False

    def _put(self, event: Event) -> None:
        with self._lock:
            if self._lost:
                try:
                    self._queue.put_nowait(EventsLost(seq=event.seq, time=event.time,
                                                      count=self._lost))
                    self._lost = 0
                except queue.Full:
                    self._lost += 1
                    return
            try:
                self._queue.put_nowait(event)
            except queue.Full:
                self._lost += 1

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None after ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[Event]:
        """Every event waiting now, without blocking."""
        out: list[Event] = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def __iter__(self) -> Iterator[Event]:
        while not self.closed:
            event = self.get(timeout=0.25)
            if event is not None:
                yield event
