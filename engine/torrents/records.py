"""The engine thread's table of torrents: one record per torrent, found by id or handle.

Every other part of :mod:`engine.torrents` reads and changes torrents through this one
object, handed to it when the :class:`~.manager.TorrentManager` builds it, instead of
sharing a host's attributes. It numbers torrents for people, turns libtorrent's status
into a :class:`~engine.state.TorrentState` (kept as the same object while nothing
changed, so snapshots share it), and says when a snapshot is due.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import libtorrent as lt

from ..errors import UnknownTorrentError
from ..state import Phase, TorrentState
from . import status
from .record import NO_TRACKERS, TorrentRecord
from .shared import Shared


class TorrentRecords:
    """Per-torrent records and their states; only the engine thread uses it."""

    def __init__(self) -> None:
        self.torrents: dict[str, TorrentRecord] = {}
        self.last_number = 0
        """The number given to the latest torrent added (``TorrentState.number``): numbers
        are never given twice in an engine's life."""
        self._by_handle: dict[lt.torrent_handle, str] = {}
        self.dirty = False
        """Set when something changed that deserves a snapshot right away."""
        self.torrents_changed = True
        """Set when a torrent was added, removed or changed state since the last snapshot;
        when clear, the next snapshot reuses the previous torrents mapping."""
        self.unlisted: dict[str, float] = {}
        """Torrents without a state yet (not in snapshots), and since when (monotonic)."""
        self.texts: Shared[str] = Shared()
        """Save paths, tracker URLs and the extras' strings, one object each for all the
        torrents that repeat them (:mod:`.shared`)."""
        self.numbers: Shared[int] = Shared()
        """Sizes, times and counts above 256 in the states, likewise."""

    # ------------------------------------------------------------------ lookup

    def get(self, torrent_id: str) -> TorrentRecord:
        t = self.torrents.get(torrent_id)
        if t is None:
            raise UnknownTorrentError(torrent_id)
        return t

    def id_for(self, handle: lt.torrent_handle) -> str | None:
        return self._by_handle.get(handle)

    def torrent_of(self, a: Any) -> TorrentRecord | None:
        """The torrent of an alert with a handle, if it is in the table."""
        tid = self.id_for(a.handle)
        return self.torrents.get(tid) if tid else None

    def blame(self, a: Any) -> TorrentRecord | None:
        """The torrent an alert is about, if any (never raises)."""
        try:
            return self.torrent_of(a) if hasattr(a, "handle") else None
        except Exception:
            return None

    # ------------------------------------------------------------------ membership

    def add(self, t: TorrentRecord) -> TorrentRecord | None:
        """Put ``t`` in the table, numbered; returns the record it replaces (a reload,
        engine/torrents/faults.py: the same torrent, which keeps its number)."""
        old = self.torrents.get(t.id)
        if old is not None:
            t.number = old.number
        else:
            self.last_number += 1
            t.number = self.last_number
        self.torrents[t.id] = t
        self.torrents_changed = True
        self._by_handle[t.handle] = t.id
        if t.state is None:
            self.unlisted[t.id] = time.monotonic()
        return old

    def unindex(self, t: TorrentRecord) -> None:
        """``t``'s handle is leaving the session; the record stays until its next one."""
        self._by_handle.pop(t.handle, None)

    def drop(self, t: TorrentRecord) -> None:
        self.torrents_changed = True
        self.torrents.pop(t.id, None)
        self._by_handle.pop(t.handle, None)
        self.unlisted.pop(t.id, None)

    def refresh_unlisted(self, older_than: float, most: int = 200) -> None:
        """Read the state of torrents that have waited ``older_than`` seconds for one (a
        status update that left them out): at most ``most`` per call."""
        if not self.unlisted:
            return
        cutoff = time.monotonic() - older_than
        late = [tid for tid, since in self.unlisted.items() if since < cutoff][:most]
        for tid in late:
            t = self.torrents.get(tid)
            if t is None or not t.handle.is_valid():
                self.unlisted.pop(tid, None)
                continue
            self.refresh(t)

    # ------------------------------------------------------------------ state

    def refresh(self, t: TorrentRecord) -> None:
        self.set_state(t, self.state_of(t, t.handle.status()))

    def state_of(self, t: TorrentRecord, s: lt.torrent_status) -> TorrentState:
        """``s`` as a TorrentState. A torrent seen unfinished counts as not flushed, so
        a state update that reports it finished before libtorrent's finished alert (both
        can come in one batch, the data still in the disk cache) never claims
        complete_on_disk; the flush that follows the finished alert sets it."""
        if not s.is_finished:
            t.flushed = False
        if not t.total_pieces and s.has_metadata:
            ti = t.handle.torrent_file()
            t.total_pieces = ti.num_pieces() if ti is not None else 0
        return status.torrent_state(t.id, s, t.extras, t.flushed, t.error, t.number,
                                    t.total_pieces, self.texts, self.numbers)

    def set_state(self, t: TorrentRecord, new: TorrentState) -> None:
        # Keep the old object when nothing changed, so snapshots share it.
        if new != t.state:
            if new.phase == Phase.DOWNLOADING:
                t.restored_complete = False  # data was missing after all: its finish is news
                t.finished_by_check = False  # and so is the finish of a download
            if t.state is None:
                self.unlisted.pop(t.id, None)
            t.state = new
            t.state_at = time.monotonic()
            self.dirty = self.torrents_changed = True

    def read_trackers(self, t: TorrentRecord,
                      added: list[tuple[str, int]] | None = None) -> None:
        """Remember ``t``'s tracker URLs and tiers while libtorrent's list can be read
        (a tracker message that is not UTF-8 makes the whole list unreadable).

        ``added``: the (url, tier) list it was added with, to keep when libtorrent's
        is already unreadable as the add alert is handled (a tracker can answer before
        the engine's loop reaches that alert; it did on a loaded machine)."""
        try:
            # the list converted: every string in it is valid
            t.trackers = self.tracker_pairs((str(e["url"]), int(e["tier"]))
                                            for e in t.handle.trackers())
        except UnicodeDecodeError:
            if added and not t.trackers:
                t.trackers = self.tracker_pairs(added)

    def tracker_pairs(self, pairs: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
        """(url, tier) pairs as a record keeps them: a tuple (the one empty tuple when there
        are none), each URL shared with the other torrents that name it."""
        kept = tuple((self.texts(url), self.numbers(tier)) for url, tier in pairs)
        return kept or NO_TRACKERS

    def share_texts(self, extras: Any) -> None:
        """Each string setting of ``extras`` (category, folders, creator, ...) as the one
        object all torrents with that value share (a restore decodes a copy per file)."""
        for name in extras.__struct_fields__:
            value = getattr(extras, name)
            if isinstance(value, str) and value:
                setattr(extras, name, self.texts(value))
