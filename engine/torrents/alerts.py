"""The engine thread's alert dispatch, and the alerts of a torrent's life in the table.

An alert is invalid after the next ``pop_alerts``, so every handler copies what it needs
into engine values at once. :class:`TorrentTable` dispatches alerts by type through one
dict; each part of :mod:`engine.torrents` hands it its own handlers (``handlers()``:
:class:`~.faults.DiskFaults`, :class:`~.moves.StorageMoves`, :class:`~.removal.Removals`,
:class:`~.stats.SessionCounters`, :class:`~.dht.DhtItems`, :class:`~.pieces.PieceReader`),
and an exception in any of them ends in :mod:`.contain`, blamed on its torrent. The table
handles the rest itself: a torrent added, its states, finished and flushed, its metadata,
its resume data answered, checked, paused, resumed, its errors.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import libtorrent as lt

from ..errors import EngineError, InputError
from ..events import (
    Event,
    MetadataReceived,
    PeerBanned,
    PieceFailed,
    ResumeDataError,
    TorrentAdded,
    TorrentChecked,
    TorrentCompleted,
    TorrentErrored,
    TorrentPaused,
    TorrentResumed,
    TrackerError,
)
from . import inputs, recheck
from .adding import TorrentAdds
from .contain import TorrentContainment
from .faults import DiskFaults
from .moves import StorageMoves
from .pieces import PieceReader
from .record import TorrentRecord, resolve
from .records import TorrentRecords
from .resume import ResumeStore, merge_peers
from .saves import ResumeSaves
from .text import read_text, read_url

_TF = lt.torrent_flags
Handler = Callable[[Any], None]


QUIET_BATCH = 200
"""A torrent restored while at least this many others wait for their add alert takes the
quiet path (no status calls for its load: its state comes with the next status update).
Fewer, and each is shown at once, as a torrent added by hand is."""


class TorrentTable:
    """Alert dispatch and the torrents' own alerts; only the engine thread uses it.

    Given the parts it works with, built by :class:`~.manager.TorrentManager`."""

    def __init__(self, ses: lt.session, store: ResumeStore, records: TorrentRecords,
                 adds: TorrentAdds, saves: ResumeSaves, faults: DiskFaults,
                 moves: StorageMoves, pieces: PieceReader, contain: TorrentContainment,
                 emit: Callable[[Event], None]):
        self.ses = ses
        self._store = store
        self._records = records
        self._adds = adds
        self._saves = saves
        self._faults = faults
        self._moves = moves
        self._pieces = pieces
        self._contain = contain
        self._emit = emit
        self._pending_flush: dict[str, list[Future[None]]] = {}
        self.handlers: dict[type, Handler] = {
            lt.add_torrent_alert: self._on_added,
            lt.state_update_alert: self._on_state_update,
            lt.torrent_finished_alert: self._on_finished,
            lt.cache_flushed_alert: self._on_flushed,
            lt.metadata_received_alert: self._on_metadata,
            lt.save_resume_data_alert: self._on_resume_saved,
            lt.save_resume_data_failed_alert: self._on_resume_failed,
            lt.torrent_error_alert: self._on_torrent_error,
            lt.tracker_error_alert: self._on_tracker_error,
            lt.hash_failed_alert: self._on_hash_failed,
            lt.peer_ban_alert: self._on_peer_ban,
            lt.torrent_checked_alert: self._on_checked,
            lt.torrent_paused_alert: self._on_paused,
            lt.torrent_resumed_alert: self._on_resumed,
        }
        """Alert type → handler: the table's own and those its parts hand it."""

    def register(self, handlers: dict[type, Handler]) -> None:
        """Dispatch these alerts to a part's handlers (its ``handlers()``)."""
        self.handlers.update(handlers)

    def handle_alerts(self, alerts: list[Any]) -> None:
        for a in alerts:
            handler = self.handlers.get(type(a))
            if handler is not None:
                try:
                    handler(a)
                except Exception as exc:  # one alert's fault is its torrent's, no more
                    self._contain.contain(exc, type(a).__name__, self._records.blame(a))

    def flush(self, t: TorrentRecord, fut: Future[None]) -> None:
        """Write ``t``'s cached data to disk; ``fut`` resolves on ``cache_flushed_alert``."""
        self._pending_flush.setdefault(t.id, []).append(fut)
        t.handle.flush_cache()

    def forget(self, t: TorrentRecord) -> None:
        """``t`` leaves the table (removed): every part lets it go."""
        self._records.drop(t)
        self._saves.drop(t.id)  # a command before the remove is done
        self._pieces.forget(t.id)
        self._moves.forget(t.id)
        self._contain.containment.forget(t.id)
        for fut in self._pending_flush.pop(t.id, []):
            if not fut.done():
                fut.set_exception(EngineError(f"torrent {t.id} was removed"))
        self._records.dirty = True

    # ------------------------------------------------------------------ alerts

    def _on_added(self, a: lt.add_torrent_alert) -> None:
        p = a.params
        ih = p.ti.info_hashes() if p.ti is not None else p.info_hashes
        torrent_id = inputs.torrent_id(ih)
        fut, extras, req, peers, trackers, restored_complete = self._adds.take(torrent_id)
        if a.error.value():
            message = read_text(a.error.message)
            if fut is not None and not fut.done():
                fut.set_exception(EngineError(f"could not add {torrent_id}: {message}"))
            else:
                self._emit(ResumeDataError(file=str(self._store.path(torrent_id)),
                                           message=message))
            return
        h = a.handle
        merge_peers(extras, peers)  # with those kept in its resume file
        self._records.share_texts(extras)
        t = TorrentRecord(id=torrent_id, handle=h, extras=extras,
                          restored_complete=restored_complete,
                          fault=extras.quarantined)
        if req is None:  # restored: its file holds these totals
            t.saved_transfer = (p.total_uploaded, p.total_downloaded)
            # one of many restored at once, with every piece: its load's check and finish
            # are not news, and a status call for each would wait behind the adds queued
            t.quiet_check = t.quiet_finish = (restored_complete and
                                              self._adds.restoring >= QUIET_BATCH)
        old = self._records.add(t)  # numbered; a reload (:mod:`.faults`) keeps its number
        self._faults.reload_added(t, old)
        if old is not None:
            self._records.refresh(t)  # reloaded: its state stays in every snapshot
        for peer in t.peers:
            h.connect_peer(peer)
        recheck.resume_check(t)
        if req is None:
            t.trackers = self._records.tracker_pairs(trackers)  # as handed to libtorrent
        else:
            self._records.read_trackers(t, trackers)
        # the name without asking libtorrent (a call that waits for its thread: 50,000 of
        # them made a restore seconds longer)
        self._emit(TorrentAdded(torrent_id=torrent_id,
                                name=read_text(lambda: p.ti.name() if p.ti is not None
                                               else p.name) or torrent_id,
                                restored=req is None))
        resave = self._adds.take_resave(torrent_id)
        if req is not None:
            # a new torrent, not a restored one: the add is acknowledged once its resume
            # file is on disk, so a crash right after the reply cannot lose it; its state
            # now, so the snapshot published before that reply already shows it
            self._records.refresh(t)
            self._saves.save_soon(t, resolve(fut, torrent_id) if fut is not None else None)
        elif resave:
            self._saves.save_soon(t)  # restored after a repair (an interrupted move)
        self._records.dirty = True

    def _on_state_update(self, a: lt.state_update_alert) -> None:
        for s in a.status:
            tid = self._records.id_for(s.handle)
            t = self._records.torrents.get(tid) if tid else None
            if t is not None:
                try:
                    self._records.set_state(t, self._records.state_of(t, s))
                except Exception as exc:  # this torrent's status, not the others'
                    self._contain.contain(exc, "reading its status", t)

    def _on_finished(self, a: lt.torrent_finished_alert) -> None:
        t = self._records.torrent_of(a)
        if t is None:
            return
        if t.quiet_finish and not t.extras.rechecking:
            # restored with every piece: nothing was written, so nothing to flush, and
            # its state comes with the next status update (a status call per torrent
            # here waited behind libtorrent's queue of adds: seconds at 50,000)
            t.quiet_finish = False
            return
        # The finished alert comes before the data is on disk: flush first.
        if t.extras.rechecking:
            t.finished_by_check = True  # a recheck found it complete (before its end alert)
        t.flushed = False
        t.handle.flush_cache()
        self._records.refresh(t)

    def _on_flushed(self, a: lt.cache_flushed_alert) -> None:
        t = self._records.torrent_of(a)
        if t is None:
            return
        was_pending = not t.flushed
        t.flushed = True
        waiting = self._pending_flush.pop(t.id, [])
        for fut in waiting:
            if not fut.done():
                fut.set_result(None)
        self._faults.clear_disk_error(t)
        if not was_pending and not waiting:
            return  # a flush nobody waited for (libtorrent's own): nothing changed here
        self._records.refresh(t)
        if was_pending and t.state is not None and t.state.complete_on_disk:
            if t.restored_complete:
                t.restored_complete = False  # later completions (after a recheck) are news
                return
            self._saves.save_soon(t)
            by_check, t.finished_by_check = t.finished_by_check, False
            self._emit(TorrentCompleted(torrent_id=t.id, name=t.state.name,
                                        after_check=by_check))

    def _on_metadata(self, a: lt.metadata_received_alert) -> None:
        t = self._records.torrent_of(a)
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
                self.forget(t)
                self._store.delete(t.id)
                self._emit(TorrentErrored(torrent_id=t.id, message=str(exc)))
                return
            for index, name in renames.items():
                t.handle.rename_file(index, name)
        self._saves.save_soon(t)
        self._records.refresh(t)
        self._emit(MetadataReceived(torrent_id=t.id,
                                    name=read_text(lambda: t.handle.status().name),
                                    awaiting_selection=t.extras.metadata_first))

    def _on_resume_saved(self, a: lt.save_resume_data_alert) -> None:
        tid = self._records.id_for(a.handle)
        if tid is None:
            return
        self._saves.arrived(tid)
        t = self._records.torrents[tid]
        try:
            # queued (failures come via the writer); first in line when a command waits
            ticket = self._store.save(tid, a.params, t.extras,
                                      urgent=self._saves.waited_for(tid))
            t.trackers = self._records.tracker_pairs(_trackers_of(a.params))
            t.saved_transfer = (a.params.total_uploaded, a.params.total_downloaded)
        except Exception as exc:
            # answered all the same (with the file as it is), or whoever waits on this
            # save would wait for ever
            self._saves.answered(t, self._store.writer.ticket_of(self._store.path(tid)))
            self._contain.contain(exc, "saving its resume data", t)
            return
        self._saves.answered(t, ticket)
        self._faults.resume_saved(t, a.params)

    def _on_resume_failed(self, a: lt.save_resume_data_failed_alert) -> None:
        tid = self._records.id_for(a.handle)
        if tid is not None:
            self._saves.arrived(tid)
            t = self._records.torrents[tid]
            # not modified since the last save (or no data): its file holds it once the
            # write queued for it, if any, is durable
            self._saves.answered(t, self._store.writer.ticket_of(self._store.path(tid)))
            self._faults.resume_failed(t)

    def _on_torrent_error(self, a: lt.torrent_error_alert) -> None:
        t = self._records.torrent_of(a)
        if t is not None:
            self._records.refresh(t)
            self._emit(TorrentErrored(torrent_id=t.id, message=read_text(a.error.message)))

    def _on_tracker_error(self, a: lt.tracker_error_alert) -> None:
        t = self._records.torrent_of(a)
        if t is not None:
            msg = read_text(a.error_message) or read_text(a.error.message)
            url = read_url(a.tracker_url)
            t.tracker_errors = {**t.tracker_errors, url: msg}
            self._emit(TrackerError(torrent_id=t.id, url=url, message=msg))

    def _on_hash_failed(self, a: lt.hash_failed_alert) -> None:
        t = self._records.torrent_of(a)
        if t is not None:
            self._emit(PieceFailed(torrent_id=t.id, piece=int(a.piece_index)))

    def _on_peer_ban(self, a: lt.peer_ban_alert) -> None:
        t = self._records.torrent_of(a)
        if t is not None:
            ip, port = a.endpoint
            peer = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            self._emit(PeerBanned(torrent_id=t.id, peer=peer,
                                  reason="it sent data that failed the hash check"))

    def _on_checked(self, a: lt.torrent_checked_alert) -> None:
        t = self._records.torrent_of(a)
        if t is not None:
            if recheck.after_load(t):
                return  # the load's check: the interrupted recheck starts now
            if t.quiet_check and not t.extras.rechecking:
                t.quiet_check = False
                # the load of a torrent restored with every piece: not news, but the
                # peers the user named were dropped if dialled while it loaded
                for peer in t.peers:
                    t.handle.connect_peer(peer)
                return
            ended = recheck.ended(t)
            if ended:
                self._saves.save_soon(t)  # no longer to be checked (and paused again) at start
            # a check disconnects every peer, and libtorrent drops connect_peer calls made
            # while it runs: dial the peers the user named again now
            for peer in t.peers:
                t.handle.connect_peer(peer)
            self._records.refresh(t)
            progress = t.state.progress if t.state else 0.0
            if ended and progress >= 1.0:
                t.finished_by_check = True  # libtorrent reports it finishing (again)
            self._emit(TorrentChecked(torrent_id=t.id, progress=progress, recheck=ended))

    def _on_paused(self, a: lt.torrent_paused_alert) -> None:
        t = self._records.torrent_of(a)
        if t is not None:
            self._records.refresh(t)
            if t.state is not None and t.state.paused:
                reason = "share limit" if t.extras.stopped_by_limit else "user"
                self._emit(TorrentPaused(torrent_id=t.id, reason=reason))

    def _on_resumed(self, a: lt.torrent_resumed_alert) -> None:
        t = self._records.torrent_of(a)
        if t is not None:
            self._records.refresh(t)
            if t.extras.pause_after_check:
                return  # running only for a recheck (:mod:`.recheck`): not the user's resume
            # connect_peer on a torrent that is still paused is dropped silently, so
            # peers the user named are dialled again once the torrent really runs.
            for peer in t.peers:
                t.handle.connect_peer(peer)
            self._emit(TorrentResumed(torrent_id=t.id))


def _trackers_of(params: lt.add_torrent_params) -> list[tuple[str, int]]:
    """(url, tier) of resume data's trackers (libtorrent leaves out tiers of zero)."""
    urls = list(params.trackers)
    tiers = list(params.tracker_tiers)
    return [(u, tiers[i] if i < len(tiers) else 0) for i, u in enumerate(urls)]
