"""The torrent table of the engine thread, and libtorrent alerts applied to it.

:class:`TorrentTable` holds what the engine knows per torrent and turns alerts
into engine values at once (an alert is invalid after the next ``pop_alerts``),
dispatched by alert type through a dict. Commands live in
:mod:`engine.torrents.manager`, which builds on this class.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import libtorrent as lt
import msgspec

from ..config import Config
from ..errors import (
    EngineError,
    InputError,
    UnknownTorrentError,
)
from ..events import (
    Event,
    Log,
    MetadataReceived,
    PeerBanned,
    PieceFailed,
    ResumeDataError,
    StorageMoved,
    StorageMoveFailed,
    TorrentAdded,
    TorrentChecked,
    TorrentCompleted,
    TorrentErrored,
    TorrentPaused,
    TorrentRemoved,
    TorrentResumed,
    TrackerError,
)
from ..requests import AddRequest
from ..state import Phase, SessionStats, TorrentState
from . import inputs, move_target, recheck, status
from .dht import DhtItems
from .faults import DiskFaults
from .isolation import Containment
from .pieces import PieceReader
from .record import Then, TorrentRecord, resolve
from .resume import ResumeStore, TorrentExtras, merge_peers
from .text import read_text, read_url

_SAVE_FLAGS = lt.save_resume_flags_t.save_info_dict
_IF_COUNTERS_CHANGED = 1 << 3
_IF_CHANGED = int(lt.save_resume_flags_t.only_if_modified) & ~_IF_COUNTERS_CHANGED
"""``only_if_modified`` is libtorrent's ``if_counters_changed | if_download_progress |
if_config_changed | if_state_changed | if_metadata_changed``; this is it without the
counters. The binding names none of them but takes the integer."""
_PendingAdd = tuple["Future[str] | None", TorrentExtras, "AddRequest | None"]
_TF = lt.torrent_flags
RATE_WINDOW = 2.0
"""Seconds over which session-wide rates are measured."""


class TorrentTable(DiskFaults):
    """Per-torrent state and alert handling; only the engine thread uses it."""

    def __init__(
        self,
        ses: lt.session,
        cfg: Config,
        store: ResumeStore,
        default_save_path: Path,
        emit: Callable[[Event], None],
    ):
        self.ses = ses
        self.cfg = cfg
        self.store = store
        self.default_save_path = default_save_path
        self.emit = emit
        self.torrents: dict[str, TorrentRecord] = {}
        self.last_number = 0
        """The number given to the latest torrent added (``TorrentState.number``): numbers
        are never given twice in an engine's life."""
        self._by_handle: dict[lt.torrent_handle, str] = {}
        self._pending_adds: dict[str, _PendingAdd] = {}
        self._pending_moves: dict[str, Future[str]] = {}
        self._move_checks: dict[str, tuple[Path, Path, list[str]]] = {}
        """Per moving torrent: old folder, target, files that were in the old folder."""
        self._move_undo: dict[str, str] = {}
        """Torrents moved back after a move that left their files behind: why it failed."""
        self._pending_removes: dict[str, tuple[Future[None], bool]] = {}
        self._pending_flush: dict[str, list[Future[None]]] = {}
        self._pending_peers: dict[str, list[tuple[str, int]]] = {}
        self._pending_trackers: dict[str, list[tuple[str, int]]] = {}
        self._outstanding_saves: set[str] = set()
        self._await_answer: dict[str, list[tuple[int, Then]]] = {}
        """Per torrent: (save number, then) waiting for libtorrent's answer to that save."""
        self._await_disk: list[tuple[int, Then]] = []
        """(writer ticket, then) waiting for the resume file to be durable."""
        self._restoring_complete: set[str] = set()
        """Ids being restored from resume data that had every piece."""
        self._resave_on_add: set[str] = set()
        """Ids restored from resume data repaired on load: saved again once added."""
        self._reloading: dict[str, tuple[lt.add_torrent_params, TorrentRecord]] = {}
        """Torrents removed from the session to be added again (:mod:`.faults`)."""
        self.dirty = False
        """Set when something changed that deserves a snapshot right away."""
        self.torrents_changed = True
        """Set when a torrent was added, removed or changed state since the last snapshot;
        when clear, the next snapshot reuses the previous torrents mapping."""
        self.stats = SessionStats()
        self._counters: deque[tuple[float, dict[str, int]]] = deque()
        """Recent session counters; rates are measured over about :data:`RATE_WINDOW`."""
        self.listen_port = 0
        self.containment = Containment(emit)
        """Where an unexpected exception in one torrent's work ends (:mod:`.isolation`)."""
        self._handlers: dict[type, Callable[[Any], None]] = {
            lt.add_torrent_alert: self._on_added,
            lt.state_update_alert: self._on_state_update,
            lt.torrent_finished_alert: self._on_finished,
            lt.cache_flushed_alert: self._on_flushed,
            lt.metadata_received_alert: self._on_metadata,
            lt.save_resume_data_alert: self._on_resume_saved,
            lt.save_resume_data_failed_alert: self._on_resume_failed,
            lt.torrent_removed_alert: self._on_removed,
            lt.torrent_deleted_alert: self._on_deleted,
            lt.torrent_delete_failed_alert: self._on_delete_failed,
            lt.storage_moved_alert: self._on_moved,
            lt.storage_moved_failed_alert: self._on_move_failed,
            lt.torrent_error_alert: self._on_torrent_error,
            lt.file_error_alert: self._on_file_error,
            lt.tracker_error_alert: self._on_tracker_error,
            lt.hash_failed_alert: self._on_hash_failed,
            lt.peer_ban_alert: self._on_peer_ban,
            lt.torrent_checked_alert: self._on_checked,
            lt.torrent_paused_alert: self._on_paused,
            lt.torrent_resumed_alert: self._on_resumed,
            lt.session_stats_alert: self._on_session_stats,
            lt.listen_succeeded_alert: self._on_listen_ok,
            lt.listen_failed_alert: self._on_listen_failed,
        }
        self.dht = DhtItems(ses)
        self._handlers.update(self.dht.handlers())
        self.pieces = PieceReader(self._id_for)
        self._handlers.update(self.pieces.handlers())

    # ------------------------------------------------------------------ helpers

    def get(self, torrent_id: str) -> TorrentRecord:
        t = self.torrents.get(torrent_id)
        if t is None:
            raise UnknownTorrentError(torrent_id)
        return t

    def _id_for(self, handle: lt.torrent_handle) -> str | None:
        return self._by_handle.get(handle)

    def _save_soon(self, t: TorrentRecord, then: Then | None = None) -> None:
        """Ask libtorrent for fresh resume data (written when the alert comes); ``then``
        runs once the file recording everything done so far is durable, so a command
        acknowledged through it survives a crash of the process."""
        if t.handle.is_valid():
            t.handle.save_resume_data(_SAVE_FLAGS)
            t.saves_asked += 1
            self._outstanding_saves.add(t.id)
            if then is not None:
                self._await_answer.setdefault(t.id, []).append((t.saves_asked, then))
        elif then is not None:
            then()
        self.dirty = True

    def save_all(self, only_modified: bool, counters: bool = True) -> int:
        """Ask every torrent for resume data: all of them, or (``only_modified``) those
        that changed since their last save; a change of counters alone counts only when
        ``counters``."""
        flags: Any = _SAVE_FLAGS
        if only_modified:
            modified = int(lt.save_resume_flags_t.only_if_modified) if counters else _IF_CHANGED
            flags = int(_SAVE_FLAGS) | modified
        n = 0
        for t in self.torrents.values():
            if t.handle.is_valid():
                t.handle.save_resume_data(flags)
                t.saves_asked += 1
                self._outstanding_saves.add(t.id)
                n += 1
        return n

    def _answered(self, t: TorrentRecord, ticket: int) -> None:
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

    def run_durable(self, everything: bool = False) -> None:
        """Run what waited for resume files that are now durable (all of it when
        ``everything``: the engine is stopping and the writer has finished)."""
        if everything:
            for waiting in self._await_answer.values():
                self._await_disk += [(0, then) for _n, then in waiting]
            self._await_answer.clear()
        if not self._await_disk:
            return
        undone = set() if everything else self.store.writer.not_done(
            {k for k, _then in self._await_disk})
        ready = [then for ticket, then in self._await_disk if ticket not in undone]
        self._await_disk = [(k, then) for k, then in self._await_disk if k in undone]
        for then in ready:
            then()

    @property
    def saves_outstanding(self) -> int:
        """Resume data asked of libtorrent, or queued for disk, and not yet written."""
        return len(self._outstanding_saves) + self.store.writer.outstanding

    @property
    def saves_asked(self) -> int:
        """Resume data asked of libtorrent whose alert has not come yet."""
        return len(self._outstanding_saves)

    def report_write_errors(self) -> None:
        """Report resume files the writer thread could not write (called on this thread)."""
        for path, exc in self.store.writer.take_errors():
            self.emit(Log(level="error", message=f"cannot write resume data {path}: {exc}"))

    def _forget(self, t: TorrentRecord) -> None:
        self.torrents_changed = True
        self.torrents.pop(t.id, None)
        self._by_handle.pop(t.handle, None)
        self._outstanding_saves.discard(t.id)
        for _n, then in self._await_answer.pop(t.id, []):
            then()  # nothing more will be saved for it: a command before the remove is done
        self.pieces.forget(t.id)
        self._move_checks.pop(t.id, None)
        self._move_undo.pop(t.id, None)
        for fut in self._pending_flush.pop(t.id, []):
            if not fut.done():
                fut.set_exception(EngineError(f"torrent {t.id} was removed"))
        self.dirty = True

    # ------------------------------------------------------------------ alerts

    def handle_alerts(self, alerts: list[Any]) -> None:
        for a in alerts:
            handler = self._handlers.get(type(a))
            if handler is not None:
                try:
                    handler(a)
                except Exception as exc:  # one alert's fault is its torrent's, no more
                    self.contain(exc, type(a).__name__, self._blame(a))

    def _torrent_of(self, a: Any) -> TorrentRecord | None:
        tid = self._id_for(a.handle)
        return self.torrents.get(tid) if tid else None

    def _blame(self, a: Any) -> TorrentRecord | None:
        """The torrent an alert is about, if any (never raises)."""
        try:
            return self._torrent_of(a) if hasattr(a, "handle") else None
        except Exception:
            return None

    # ------------------------------------------------------------------ containment

    def contain(self, exc: BaseException, where: str, t: TorrentRecord | None) -> None:
        """An unexpected exception in ``where``: ``t``'s error (paused, reported once,
        quarantined when it keeps failing), or a log line when no torrent is to blame.
        Nothing here may raise: this is the last stop before the engine thread."""
        if t is None or self.torrents.get(t.id) is not t:
            self.containment.other_fault(where, exc)
            return
        message, quarantined = self.containment.torrent_fault(t.id, where, exc)
        first = not t.fault
        newly_quarantined = quarantined and not t.extras.quarantined
        t.fault = message
        if quarantined:
            t.extras.quarantined = message
        try:
            t.handle.unset_flags(_TF.auto_managed)
            t.handle.pause()
            if first or newly_quarantined:
                # the pause (and a quarantine) recorded; not at every fault, since the
                # fault may be in saving itself
                self._save_soon(t)
        except Exception as again:
            self.containment.other_fault(f"pausing {t.id} after an internal error", again)
        self._show_fault(t)
        if first or newly_quarantined:
            self.emit(TorrentErrored(torrent_id=t.id, message=message))

    def _show_fault(self, t: TorrentRecord) -> None:
        """Put ``t``'s fault in its state; from libtorrent's status if that can be read,
        else on the last state known (the fault may be in reading the status)."""
        try:
            self.refresh(t)
            return
        except Exception as exc:
            self.containment.other_fault("reading a faulty torrent's status", exc)
        old = t.state
        if old is None:
            new = TorrentState(
                id=t.id, name=t.id, info_hash_v1=None, info_hash_v2=None, phase=Phase.ERROR,
                progress=0.0, total_size=0, wanted=0, wanted_done=0, download_rate=0,
                upload_rate=0, num_peers=0, num_seeds=0, swarm_seeds=-1, swarm_peers=-1,
                all_time_download=0, all_time_upload=0, ratio=0.0, eta=-1, save_path="",
                added_time=0, completed_time=0, seeding_time=0, has_metadata=False,
                paused=True, sequential=False, queue_position=-1, download_limit=0,
                upload_limit=0, ratio_limit=t.extras.ratio_limit,
                seed_time_limit=t.extras.seed_time_limit, complete_on_disk=False,
                error=t.error, num_pieces=0, pieces_done=0)
        else:
            new = msgspec.structs.replace(old, phase=Phase.ERROR, error=t.error, paused=True,
                                          download_rate=0, upload_rate=0, eta=-1)
        self._set_state(t, new)

    def clear_fault(self, t: TorrentRecord) -> None:
        """The user resumed ``t``: its contained fault (and quarantine) is over."""
        if t.fault or t.extras.quarantined:
            t.fault = ""
            t.extras.quarantined = ""
            self.containment.cleared(t.id)

    def _on_added(self, a: lt.add_torrent_alert) -> None:
        p = a.params
        ih = p.ti.info_hashes() if p.ti is not None else p.info_hashes
        torrent_id = inputs.torrent_id(ih)
        fut, extras, req = self._pending_adds.pop(torrent_id, (None, TorrentExtras(), None))
        peers = self._pending_peers.pop(torrent_id, [])
        trackers = self._pending_trackers.pop(torrent_id, [])
        restored_complete = torrent_id in self._restoring_complete
        self._restoring_complete.discard(torrent_id)
        if a.error.value():
            message = read_text(a.error.message)
            if fut is not None and not fut.done():
                fut.set_exception(EngineError(f"could not add {torrent_id}: {message}"))
            else:
                self.emit(ResumeDataError(file=str(self.store.path(torrent_id)), message=message))
            return
        h = a.handle
        merge_peers(extras, peers)  # with those kept in its resume file
        t = TorrentRecord(id=torrent_id, handle=h, extras=extras,
                          restored_complete=restored_complete, fault=extras.quarantined)
        old = self.torrents.get(torrent_id)
        if old is not None:
            t.number = old.number  # reloaded (engine/torrents/faults.py): the same torrent
        else:
            self.last_number += 1
            t.number = self.last_number
        self._reload_added(t, old)
        self.torrents[torrent_id] = t
        if old is not None:
            self.refresh(t)  # reloaded: its state stays in every snapshot
        self.torrents_changed = True
        self._by_handle[h] = torrent_id
        for peer in t.peers:
            h.connect_peer(peer)
        recheck.resume_check(t)
        self._read_trackers(t, trackers)
        self.emit(TorrentAdded(torrent_id=torrent_id,
                               name=read_text(lambda: h.status().name) or torrent_id))
        if req is not None:
            # a new torrent, not a restored one: the add is acknowledged once its resume
            # file is on disk, so a crash right after the reply cannot lose it; its state
            # now, so the snapshot published before that reply already shows it
            self.refresh(t)
            self._save_soon(t, resolve(fut, torrent_id) if fut is not None else None)
        elif torrent_id in self._resave_on_add:
            self._save_soon(t)  # restored after a repair (an interrupted move)
        self._resave_on_add.discard(torrent_id)
        self.dirty = True

    def _on_state_update(self, a: lt.state_update_alert) -> None:
        for s in a.status:
            tid = self._by_handle.get(s.handle)
            t = self.torrents.get(tid) if tid else None
            if t is not None:
                try:
                    self._set_state(t, self.state_of(t, s))
                except Exception as exc:  # this torrent's status, not the others'
                    self.contain(exc, "reading its status", t)

    def _read_trackers(self, t: TorrentRecord,
                       added: list[tuple[str, int]] | None = None) -> None:
        """Remember ``t``'s tracker URLs and tiers while libtorrent's list can be read
        (a tracker message that is not UTF-8 makes the whole list unreadable).

        ``added``: the (url, tier) list it was added with, to keep when libtorrent's
        is already unreadable as the add alert is handled (a tracker can answer before
        the engine's loop reaches that alert; it did on a loaded machine)."""
        try:
            # the list converted: every string in it is valid
            t.trackers = [(str(e["url"]), int(e["tier"])) for e in t.handle.trackers()]
        except UnicodeDecodeError:
            if added and not t.trackers:
                t.trackers = list(added)

    def refresh(self, t: TorrentRecord) -> None:
        self._set_state(t, self.state_of(t, t.handle.status()))

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
                                    t.total_pieces)

    def _set_state(self, t: TorrentRecord, new: TorrentState) -> None:
        # Keep the old object when nothing changed, so snapshots share it.
        if new != t.state:
            if new.phase == Phase.DOWNLOADING:
                t.restored_complete = False  # data was missing after all: its finish is news
                t.finished_by_check = False  # and so is the finish of a download
            t.state = new
            t.state_at = time.monotonic()
            self.dirty = self.torrents_changed = True

    def _on_finished(self, a: lt.torrent_finished_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        # The finished alert comes before the data is on disk: flush first.
        if t.extras.rechecking:
            t.finished_by_check = True  # a recheck found it complete (before its end alert)
        t.flushed = False
        t.handle.flush_cache()
        self.refresh(t)

    def _on_flushed(self, a: lt.cache_flushed_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        was_pending = not t.flushed
        t.flushed = True
        for fut in self._pending_flush.pop(t.id, []):
            if not fut.done():
                fut.set_result(None)
        self.clear_disk_error(t)
        self.refresh(t)
        if was_pending and t.state is not None and t.state.complete_on_disk:
            if t.restored_complete:
                t.restored_complete = False  # later completions (after a recheck) are news
                return
            self._save_soon(t)
            by_check, t.finished_by_check = t.finished_by_check, False
            self.emit(TorrentCompleted(torrent_id=t.id, name=t.state.name,
                                       after_check=by_check))

    def _on_metadata(self, a: lt.metadata_received_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        ti = t.handle.torrent_file()
        if ti is not None:
            try:
                renames = inputs.check_file_paths(ti, t.id)
            except InputError as exc:
                # Hostile metadata from a peer: stop before any byte is written.
                t.handle.unset_flags(_TF.auto_managed)
                t.handle.pause()
                self.ses.remove_torrent(t.handle, 0)
                self._forget(t)
                self.store.delete(t.id)
                self.emit(TorrentErrored(torrent_id=t.id, message=str(exc)))
                return
            for index, name in renames.items():
                t.handle.rename_file(index, name)
        self._save_soon(t)
        self.refresh(t)
        self.emit(MetadataReceived(torrent_id=t.id, name=read_text(lambda: t.handle.status().name),
                                   awaiting_selection=t.extras.metadata_first))

    def _on_resume_saved(self, a: lt.save_resume_data_alert) -> None:
        tid = self._id_for(a.handle)
        if tid is None:
            return
        self._outstanding_saves.discard(tid)
        t = self.torrents[tid]
        try:
            # queued (failures come via the writer); first in line when a command waits
            ticket = self.store.save(tid, a.params, t.extras, urgent=tid in self._await_answer)
            t.trackers = _trackers_of(a.params)
        except Exception as exc:
            # answered all the same (with the file as it is), or whoever waits on this
            # save would wait for ever
            self._answered(t, self.store.writer.ticket_of(self.store.path(tid)))
            self.contain(exc, "saving its resume data", t)
            return
        self._answered(t, ticket)
        if t.reload and t.saves_answered >= t.reload:
            self._reload_saved(t, a.params)

    def _on_resume_failed(self, a: lt.save_resume_data_failed_alert) -> None:
        tid = self._id_for(a.handle)
        if tid is not None:
            self._outstanding_saves.discard(tid)
            t = self.torrents[tid]
            # not modified since the last save (or no data): its file holds it once the
            # write queued for it, if any, is durable
            self._answered(t, self.store.writer.ticket_of(self.store.path(tid)))
            if t.reload and t.saves_answered >= t.reload:
                t.reload = 0  # not without its resume data: the next retry asks again

    def _on_removed(self, a: lt.torrent_removed_alert) -> None:
        tid = inputs.torrent_id(a.info_hashes)
        if self._reload_removed(tid):
            return
        if tid not in self._pending_removes:
            return
        fut, delete = self._pending_removes[tid]
        if not delete:
            self._pending_removes.pop(tid)
            fut.set_result(None)
            self.emit(TorrentRemoved(torrent_id=tid, data_deleted=False))

    def _on_deleted(self, a: lt.torrent_deleted_alert | lt.torrent_delete_failed_alert) -> None:
        tid = inputs.torrent_id(a.info_hashes)
        entry = self._pending_removes.pop(tid, None)
        if entry is not None:
            entry[0].set_result(None)
            self.emit(TorrentRemoved(torrent_id=tid, data_deleted=True))

    def _on_delete_failed(self, a: lt.torrent_delete_failed_alert) -> None:
        if not a.error.value():
            # libtorrent's way of saying the torrent had no storage (a magnet without
            # metadata yet): there was nothing to delete
            self._on_deleted(a)
            return
        tid = inputs.torrent_id(a.info_hashes)
        entry = self._pending_removes.pop(tid, None)
        if entry is not None:
            entry[0].set_exception(EngineError(f"removed {tid} but could not delete its data: "
                                               f"{read_text(a.error.message)}"))
            self.emit(TorrentRemoved(torrent_id=tid, data_deleted=False))

    def _on_moved(self, a: lt.storage_moved_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        path = read_text(a.storage_path)
        undo = self._move_undo.pop(t.id, None)
        if undo is not None:  # back where the data is, after a move that moved nothing
            self._move_failed(t, undo)
            return
        old, target, before = self._move_checks.pop(t.id, (Path(), Path(), []))
        behind = move_target.left_behind(old, Path(path), before)
        if behind:
            # libtorrent skips a file it gets "no such file or directory" for, as if it
            # were not downloaded yet: the torrent would point at a folder without its data
            self._move_undo[t.id] = (
                f"{old / behind[0]} was not moved to {target} ({len(behind)} of "
                f"{len(before)} files looked at); the data stays in {old}")
            t.handle.move_storage(str(old), lt.move_flags_t.dont_replace)
            return
        t.extras.moving_to = ""
        self.refresh(t)
        # the event first: whoever waits on the future sees it in their stream already
        self.emit(StorageMoved(torrent_id=t.id, path=path))
        fut = self._pending_moves.pop(t.id, None)
        # acknowledged once the resume file names the new folder
        self._save_soon(t, resolve(fut, path) if fut is not None else None)

    def _on_move_failed(self, a: lt.storage_moved_failed_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        message, file = read_text(a.error.message), read_text(a.file_path)
        message = f"{message} ({file})" if file else message
        self._move_checks.pop(t.id, None)
        undo = self._move_undo.pop(t.id, None)
        self._move_failed(t, f"{undo}; moving back failed too: {message}" if undo else message)

    def _move_failed(self, t: TorrentRecord, message: str) -> None:
        t.extras.moving_to = ""
        self.refresh(t)
        self._save_soon(t)
        self.emit(StorageMoveFailed(torrent_id=t.id, message=message))
        fut = self._pending_moves.pop(t.id, None)
        if fut is not None and not fut.done():
            fut.set_exception(EngineError(f"could not move {t.id}: {message}"))

    def _on_torrent_error(self, a: lt.torrent_error_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            self.refresh(t)
            self.emit(TorrentErrored(torrent_id=t.id, message=read_text(a.error.message)))

    def _on_tracker_error(self, a: lt.tracker_error_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            msg = read_text(a.error_message) or read_text(a.error.message)
            url = read_url(a.tracker_url)
            t.tracker_errors[url] = msg
            self.emit(TrackerError(torrent_id=t.id, url=url, message=msg))

    def _on_hash_failed(self, a: lt.hash_failed_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            self.emit(PieceFailed(torrent_id=t.id, piece=int(a.piece_index)))

    def _on_peer_ban(self, a: lt.peer_ban_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            ip, port = a.endpoint
            peer = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            self.emit(PeerBanned(torrent_id=t.id, peer=peer,
                                 reason="it sent data that failed the hash check"))

    def _on_checked(self, a: lt.torrent_checked_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            ended = recheck.ended(t)
            if ended:
                self._save_soon(t)  # no longer to be checked (and paused again) at start
            # a check disconnects every peer, and libtorrent drops connect_peer calls made
            # while it runs: dial the peers the user named again now
            for peer in t.peers:
                t.handle.connect_peer(peer)
            self.refresh(t)
            progress = t.state.progress if t.state else 0.0
            if ended and progress >= 1.0:
                t.finished_by_check = True  # libtorrent reports it finishing (again)
            self.emit(TorrentChecked(torrent_id=t.id, progress=progress, recheck=ended))

    def _on_paused(self, a: lt.torrent_paused_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            self.refresh(t)
            if t.state is not None and t.state.paused:
                reason = "share limit" if t.extras.stopped_by_limit else "user"
                self.emit(TorrentPaused(torrent_id=t.id, reason=reason))

    def _on_resumed(self, a: lt.torrent_resumed_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            self.refresh(t)
            if t.extras.pause_after_check:
                return  # running only for a recheck (:mod:`.recheck`): not the user's resume
            # connect_peer on a torrent that is still paused is dropped silently, so
            # peers the user named are dialled again once the torrent really runs.
            for peer in t.peers:
                t.handle.connect_peer(peer)
            self.emit(TorrentResumed(torrent_id=t.id))

    def _on_listen_ok(self, a: lt.listen_succeeded_alert) -> None:
        if a.socket_type == lt.socket_type_t.tcp or not self.listen_port:
            self.listen_port = a.port

    def _on_listen_failed(self, a: lt.listen_failed_alert) -> None:
        self.emit(Log(level="error", message=f"cannot listen on {a.address}:{a.port}: "
                                             f"{read_text(a.error.message)}"))

    def _free_disk(self) -> int:
        """Free bytes where downloads go (the nearest existing folder, as it may not exist yet)."""
        path = Path(self.default_save_path)
        for folder in (path, *path.parents):
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                continue
        return -1

    def _on_session_stats(self, a: lt.session_stats_alert) -> None:
        values: dict[str, int] = a.values
        now = time.monotonic()
        keys = ("net.recv_bytes", "net.sent_bytes", "net.recv_payload_bytes",
                "net.sent_payload_bytes")
        rates = dict.fromkeys(keys, 0)
        # libtorrent's rate limiter sends in bursts: a rate over one 0.25 s stats period
        # swings between 0 and several times the limit, so measure over a longer window
        while len(self._counters) > 1 and now - self._counters[1][0] >= RATE_WINDOW:
            self._counters.popleft()
        if self._counters:
            then, old = self._counters[0]
            dt = max(now - then, 1e-3)
            rates = {k: max(0, int((values.get(k, 0) - old.get(k, 0)) / dt)) for k in keys}
        self._counters.append((now, {k: values.get(k, 0) for k in keys}))
        self.stats = SessionStats(
            download_rate=rates["net.recv_bytes"],
            upload_rate=rates["net.sent_bytes"],
            payload_download_rate=rates["net.recv_payload_bytes"],
            payload_upload_rate=rates["net.sent_payload_bytes"],
            total_download=values.get("net.recv_bytes", 0),
            total_upload=values.get("net.sent_bytes", 0),
            dht_nodes=values.get("dht.dht_nodes", 0),
            num_peers=values.get("peer.num_peers_connected", 0),
            listen_port=self.listen_port,
            download_limit=self.cfg.rates.download,
            upload_limit=self.cfg.rates.upload,
            free_disk=self._free_disk(),
        )
        self.dirty = True


def _trackers_of(params: lt.add_torrent_params) -> list[tuple[str, int]]:
    """(url, tier) of resume data's trackers (libtorrent leaves out tiers of zero)."""
    urls = list(params.trackers)
    tiers = list(params.tracker_tiers)
    return [(u, tiers[i] if i < len(tiers) else 0) for i, u in enumerate(urls)]
