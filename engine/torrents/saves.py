"""Acknowledged means durable: resume data asked of libtorrent, and who waits for its file.

A command that changes what a torrent's resume file records resolves its future only once
that file is on disk. :class:`ResumeSaves` asks libtorrent for the data
(``save_resume_data``: libtorrent answers each call with exactly one alert, in order, so
the n-th answer holds everything done before the n-th call), parks the command's
:data:`~.record.Then` on that answer, then on the :class:`~.resume_writer.ResumeWriter`
ticket of the file the answer queued, and runs it once the writer says the ticket is
durable. A crash right after a reply cannot undo what was acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libtorrent as lt

from ..events import Event, Log
from .record import Then, TorrentRecord
from .records import TorrentRecords
from .resume import ResumeStore

SAVE_FLAGS = lt.save_resume_flags_t.save_info_dict
_IF_COUNTERS_CHANGED = 1 << 3
_IF_CHANGED = int(lt.save_resume_flags_t.only_if_modified) & ~_IF_COUNTERS_CHANGED
"""``only_if_modified`` is libtorrent's ``if_counters_changed | if_download_progress |
if_config_changed | if_state_changed | if_metadata_changed``; this is it without the
counters. The binding names none of them but takes the integer."""


class ResumeSaves:
    """Saves asked and not answered, and what waits for their files to be durable."""

    def __init__(self, records: TorrentRecords, store: ResumeStore,
                 emit: Callable[[Event], None]):
        self._records = records
        self._store = store
        self._emit = emit
        self._outstanding: set[str] = set()
        """Ids whose latest save libtorrent has not answered yet."""
        self._await_answer: dict[str, list[tuple[int, Then]]] = {}
        """Per torrent: (save number, then) waiting for libtorrent's answer to that save."""
        self._await_disk: list[tuple[int, Then]] = []
        """(writer ticket, then) waiting for the resume file to be durable."""

    def save_soon(self, t: TorrentRecord, then: Then | None = None) -> None:
        """Ask libtorrent for fresh resume data (written when the alert comes); ``then``
        runs once the file recording everything done so far is durable, so a command
        acknowledged through it survives a crash of the process."""
        if t.handle.is_valid():
            self._ask(t, SAVE_FLAGS)
            if then is not None:
                self._await_answer.setdefault(t.id, []).append((t.saves_asked, then))
        elif then is not None:
            then()
        self._records.dirty = True

    def save_all(self, only_modified: bool, counters: bool = True) -> int:
        """Ask every torrent for resume data: all of them, or (``only_modified``) those
        that changed since their last save; a change of counters alone counts only when
        ``counters``."""
        flags: Any = SAVE_FLAGS
        if only_modified:
            modified = int(lt.save_resume_flags_t.only_if_modified) if counters else _IF_CHANGED
            flags = int(SAVE_FLAGS) | modified
        n = 0
        for t in self._records.torrents.values():
            if t.handle.is_valid():
                self._ask(t, flags)
                n += 1
        return n

    def save_on_stop(self) -> int:
        """Ask for the resume data of every torrent that changed since its last save.

        libtorrent marks every torrent's counters as changed every second (its active and
        seeding clocks), so "only if modified" rewrote all 50,000 files of a box at each
        stop (over 20 s). Here the clocks alone do not count: a torrent is saved when
        anything else changed (``need_save_resume_data`` without the counters) or when it
        moved bytes since its last save (its upload or download total differs from the one
        saved). The clocks of the others keep the value of their last counters save (every
        ``storage.counters_save_interval``). Returns how many were asked."""
        n = 0
        for t in self._records.torrents.values():
            h = t.handle
            if not h.is_valid():
                continue
            s = t.state
            moved = s is None or (s.all_time_upload, s.all_time_download) != t.saved_transfer
            if moved or h.need_save_resume_data(_IF_CHANGED):
                self._ask(t, SAVE_FLAGS)
                n += 1
        return n

    def _ask(self, t: TorrentRecord, flags: Any) -> None:
        """One ``save_resume_data`` call, counted (libtorrent answers each with one alert)."""
        t.handle.save_resume_data(flags)
        t.saves_asked += 1
        self._outstanding.add(t.id)

    def arrived(self, torrent_id: str) -> None:
        """libtorrent answered a save of ``torrent_id`` (its file is not written yet)."""
        self._outstanding.discard(torrent_id)

    def waited_for(self, torrent_id: str) -> bool:
        """Whether a command waits on a save of ``torrent_id`` (its file goes first)."""
        return torrent_id in self._await_answer

    def answered(self, t: TorrentRecord, ticket: int) -> None:
        """libtorrent answered one more save of ``t``; its file is durable at ``ticket``."""
        t.saves_answered += 1
        waiting = self._await_answer.get(t.id)
        if not waiting:
            return
        ready = [then for n, then in waiting if n <= t.saves_answered]
        waiting[:] = [(n, then) for n, then in waiting if n > t.saves_answered]
        if not waiting:
            del self._await_answer[t.id]
        self._await_disk += [(ticket, then) for then in ready]

    def drop(self, torrent_id: str) -> None:
        """Nothing more will be saved for ``torrent_id`` from its handle (removed, or
        being reloaded): what waited on its saves is done now."""
        self._outstanding.discard(torrent_id)
        for _n, then in self._await_answer.pop(torrent_id, []):
            then()

    def run_durable(self, everything: bool = False) -> None:
        """Run what waited for resume files that are now durable (all of it when
        ``everything``: the engine is stopping and the writer has finished)."""
        if everything:
            for waiting in self._await_answer.values():
                self._await_disk += [(0, then) for _n, then in waiting]
            self._await_answer.clear()
        if not self._await_disk:
            return
        undone = set() if everything else self._store.writer.not_done(
            {k for k, _then in self._await_disk})
        ready = [then for ticket, then in self._await_disk if ticket not in undone]
        self._await_disk = [(k, then) for k, then in self._await_disk if k in undone]
        for then in ready:
            then()

    @property
    def outstanding(self) -> int:
        """Resume data asked of libtorrent, or queued for disk, and not yet written."""
        return len(self._outstanding) + self._store.writer.outstanding

    @property
    def asked(self) -> int:
        """Resume data asked of libtorrent whose alert has not come yet."""
        return len(self._outstanding)

    def report_write_errors(self) -> None:
        """Report resume files the writer thread could not write (called on this thread)."""
        for path, exc in self._store.writer.take_errors():
            self._emit(Log(level="error", message=f"cannot write resume data {path}: {exc}"))
