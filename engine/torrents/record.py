"""What the engine thread keeps per torrent, and the callbacks that wait on its resume file."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import libtorrent as lt

from ..state import TorrentState
from .resume import TorrentExtras

Then = Callable[[], None]
"""What to do once a torrent's resume file records a change (resolve a command's future)."""


def resolve(fut: Future[Any], value: Any = None) -> Then:
    """A :data:`Then` that resolves ``fut`` with ``value`` (unless it is already done)."""
    def then() -> None:
        if not fut.done():
            fut.set_result(value)
    return then


@dataclass(slots=True)
class DiskFault:
    error: str = ""
    """A write to the download folder failed (full, read-only, ...): libtorrent stops
    downloading (upload mode) and keeps seeding. Shown as the torrent's error until a
    retry is followed by data received and kept."""
    retried: bool = False
    """Writing was tried again and has not failed since."""
    retry_at: float = 0.0
    mark: int = 0
    """Payload bytes received when writing was tried again."""


NO_DISK_FAULT = DiskFault()
"""What every torrent whose writes never failed holds (one object, not one each): never
changed; :meth:`TorrentRecord.own_disk` replaces it before a change."""


NO_TRACKERS: tuple[tuple[str, int], ...] = ()
NONE_KEPT: Mapping[Any, Any] = MappingProxyType({})
"""The shared empty value of a record's per-tracker tables: most torrents never have an
entry, and an empty dict each costs 64 bytes; a table is replaced, never changed in place."""


@dataclass(slots=True)
class TorrentRecord:
    """What the engine thread keeps per torrent (slotted: tens of thousands of them;
    docs/BENCHMARKS.md "Memory per torrent")."""

    id: str
    handle: lt.torrent_handle
    extras: TorrentExtras
    number: int = 0
    """Its small number for people (``TorrentState.number``), for this engine's life."""
    total_pieces: int = 0
    """Its number of pieces once its metadata is known (``torrent_status.num_pieces`` is
    the number of pieces *had*)."""
    state: TorrentState | None = None
    state_at: float = 0.0
    """``time.monotonic()`` when ``state`` last changed."""
    flushed: bool = True
    """False while unfinished and between torrent_finished_alert and cache_flushed_alert."""
    restored_complete: bool = False
    """Restored from resume data that already had every piece: libtorrent still reports it
    as finishing once, which is neither news for the user nor a reason to rewrite its file."""
    recheck_after_load: bool = False
    """A recheck interrupted by a stop, to start again once its load's check ends."""
    quiet_check: bool = False
    """Restored with every piece among many at once, its load's check not seen yet: that
    check is not news (no event, no status call: :mod:`.alerts`)."""
    quiet_finish: bool = False
    """The same for the finish libtorrent reports at its load (nothing to flush)."""
    finished_by_check: bool = False
    """A recheck found every wanted piece: the completion that follows is not a download's
    (``TorrentCompleted.after_check``); cleared when the torrent downloads."""
    saves_asked: int = 0
    """``save_resume_data`` calls so far; libtorrent answers each with exactly one alert,
    in order, so the n-th answer reflects everything done before the n-th call."""
    saves_answered: int = 0
    saved_transfer: tuple[int, int] | None = None
    """(uploaded, downloaded) totals in its newest resume file written (None: not known):
    a stop saves it again only if they moved, or something else changed (:mod:`.saves`)."""
    disk: DiskFault = field(default_factory=lambda: NO_DISK_FAULT)
    """A failed write to the download folder, and its retries (:mod:`.faults`): the one
    shared :data:`NO_DISK_FAULT` until a write fails (:meth:`own_disk` before a change)."""
    fault: str = ""
    """An internal error contained in this torrent's work (:mod:`.isolation`): shown as its
    error, with the torrent paused, until the user resumes it."""
    trackers: Sequence[tuple[str, int]] = NO_TRACKERS
    """(url, tier) of its trackers as last read from libtorrent: what is shown when
    libtorrent's tracker list cannot be read (a tracker message that is not UTF-8)."""
    tracker_errors: Mapping[str, str] = field(default_factory=lambda: NONE_KEPT)
    """The last error message per tracker URL, from tracker_error_alert (replaced whole)."""
    dropped_trackers: Mapping[str, tuple[int, str]] = field(default_factory=lambda: NONE_KEPT)
    """Trackers taken off it for flooding its peer list (:mod:`.flood`): url -> (tier,
    why), shown in its tracker list as errors until added again by hand (replaced whole)."""
    reload: int = 0
    """To be removed from the session and added again once its resume data comes: the
    number of the save (``saves_asked``) whose answer that is; 0 when not. Other saves
    (the periodic ones, which fail when nothing changed) may be answered before it."""
    purge: bool = False
    """The reload keeps its pieces and forgets its peers (:mod:`.flood`); otherwise it
    checks its files afresh (:mod:`.faults`)."""

    @property
    def peers(self) -> list[tuple[str, int]]:
        """Peers the user named (--peer, add_peers), kept in its resume file: dialled at
        every start, resume and check."""
        return self.extras.peers

    def own_disk(self) -> DiskFault:
        """Its own :class:`DiskFault` to change (never the shared one)."""
        if self.disk is NO_DISK_FAULT:
            self.disk = DiskFault()
        return self.disk

    @property
    def error(self) -> str:
        """What the engine shows as the torrent's error beside libtorrent's own."""
        return self.disk.error or self.fault or self.extras.move_error


def has_every_piece(p: lt.add_torrent_params) -> bool:
    """Whether resume data says every piece is already on disk."""
    if p.ti is None:
        return False
    n = p.ti.num_pieces()
    have = p.have_pieces  # padded to whole bytes
    return len(have) >= n and all(have[:n])
