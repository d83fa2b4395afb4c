"""The torrent side of the engine thread: handles, commands and alerts.

Only the engine thread touches a :class:`TorrentManager`. Commands mutate
libtorrent through handles; alerts are translated at once into engine values
(an alert is invalid after the next ``pop_alerts``) by a table keyed on alert
type. Commands that finish on an alert (add, move, remove, flush) park their
future until that alert arrives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libtorrent as lt

from ..config import Config
from ..errors import (
    DuplicateTorrentError,
    EngineError,
    InputError,
    UnknownTorrentError,
)
from ..events import (
    Event,
    Log,
    MetadataReceived,
    ResumeDataError,
    ShareLimitReached,
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
from ..requests import AddRequest, check_priority, check_tracker_url, parse_peer
from ..state import SessionStats, TorrentDetails, TorrentState
from . import inputs, status
from .resume import Corrupt, ResumeStore, Saved, TorrentExtras

_SAVE_FLAGS = lt.save_resume_flags_t.save_info_dict
_PendingAdd = tuple["Future[str] | None", TorrentExtras, "AddRequest | None"]
_TF = lt.torrent_flags


@dataclass
class _Torrent:
    """What the engine thread keeps per torrent."""

    id: str
    handle: lt.torrent_handle
    extras: TorrentExtras
    state: TorrentState | None = None
    flushed: bool = True
    """False between torrent_finished_alert and cache_flushed_alert."""
    peers: list[tuple[str, int]] = field(default_factory=list)
    """Peers the user named (--peer, add_peers): dialled again on every resume."""


class TorrentManager:
    """Owns the libtorrent session's torrents on the engine thread."""

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
        self.torrents: dict[str, _Torrent] = {}
        self._by_handle: dict[lt.torrent_handle, str] = {}
        self._pending_adds: dict[str, _PendingAdd] = {}
        self._pending_moves: dict[str, Future[str]] = {}
        self._pending_removes: dict[str, tuple[Future[None], bool]] = {}
        self._pending_flush: dict[str, list[Future[None]]] = {}
        self._pending_peers: dict[str, list[tuple[str, int]]] = {}
        self._outstanding_saves: set[str] = set()
        self.dirty = False
        """Set when something changed that deserves a snapshot right away."""
        self.stats = SessionStats()
        self._last_counters: tuple[float, dict[str, int]] | None = None
        self.listen_port = 0
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
            lt.torrent_checked_alert: self._on_checked,
            lt.torrent_paused_alert: self._on_paused,
            lt.torrent_resumed_alert: self._on_resumed,
            lt.session_stats_alert: self._on_session_stats,
            lt.listen_succeeded_alert: self._on_listen_ok,
            lt.listen_failed_alert: self._on_listen_failed,
        }

    # ------------------------------------------------------------------ helpers

    def get(self, torrent_id: str) -> _Torrent:
        t = self.torrents.get(torrent_id)
        if t is None:
            raise UnknownTorrentError(torrent_id)
        return t

    def _id_for(self, handle: lt.torrent_handle) -> str | None:
        return self._by_handle.get(handle)

    def _save_soon(self, t: _Torrent) -> None:
        """Ask libtorrent for fresh resume data (written when the alert comes)."""
        if t.handle.is_valid():
            t.handle.save_resume_data(_SAVE_FLAGS)
            self._outstanding_saves.add(t.id)
        self.dirty = True

    def save_all(self, only_modified: bool) -> int:
        flags = _SAVE_FLAGS | (lt.save_resume_flags_t.only_if_modified if only_modified else 0)
        n = 0
        for t in self.torrents.values():
            if t.handle.is_valid():
                t.handle.save_resume_data(flags)
                self._outstanding_saves.add(t.id)
                n += 1
        return n

    @property
    def saves_outstanding(self) -> int:
        return len(self._outstanding_saves)

    # ------------------------------------------------------------------ restore

    def restore(self) -> int:
        """Add every torrent from the resume folder; report unreadable files."""
        n = 0
        for item in self.store.load_all():
            if isinstance(item, Corrupt):
                self.emit(ResumeDataError(file=str(item.file), message=item.message))
                continue
            atp = item.params
            atp.flags |= _TF.duplicate_is_error
            self._pex_flag(atp)
            self._pending_adds[item.torrent_id] = (None, item.extras, None)
            self.ses.async_add_torrent(atp)
            n += 1
        return n

    def _pex_flag(self, atp: lt.add_torrent_params) -> None:
        if self.cfg.network.enable_pex:
            atp.flags &= ~_TF.disable_pex
        else:
            atp.flags |= _TF.disable_pex

    # ------------------------------------------------------------------ commands

    def add(self, req: AddRequest, fut: Future[str]) -> None:
        source = req.source or ("<torrent bytes>" if req.torrent is not None else req.uri or "")
        if req.torrent is not None:
            atp = inputs.parse_torrent(req.torrent, source, self.cfg.limits)
            assert atp.ti is not None  # parse_torrent guarantees metadata
            ih = atp.ti.info_hashes()
        elif req.uri:
            atp = inputs.parse_uri(req.uri, source)
            ih = atp.info_hashes
        else:
            raise InputError(source or "add", "nothing to add: give a .torrent, magnet or hash")
        torrent_id = inputs.torrent_id(ih)
        if torrent_id in self.torrents or torrent_id in self._pending_adds:
            raise DuplicateTorrentError(torrent_id)
        save_path = Path(req.save_path).expanduser() if req.save_path else self.default_save_path
        if not save_path.is_absolute():
            raise InputError(str(save_path), "download folder must be an absolute path")
        try:
            save_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(str(save_path), f"cannot create download folder: {exc}") from None
        if not os.access(save_path, os.W_OK):
            raise InputError(str(save_path), "download folder is not writable")
        atp.save_path = str(save_path)
        flags = (_TF.default_flags & ~_TF.paused) | _TF.duplicate_is_error
        if req.paused:
            flags = (flags | _TF.paused) & ~_TF.auto_managed
        if req.sequential:
            flags |= _TF.sequential_download
        if req.metadata_first:
            # Upload mode fetches metadata but never requests payload. Priorities of
            # zero (default_dont_download) would instead make the torrent "finished",
            # after which libtorrent never redials the seeds it dropped when files are
            # chosen (seen as a hang here; qBittorrent issue 6336 is the same).
            flags |= _TF.upload_mode
        if req.seed_mode and atp.ti is not None:
            flags |= _TF.seed_mode
        atp.flags = flags
        extras = TorrentExtras(ratio_limit=req.ratio_limit, seed_time_limit=req.seed_time_limit,
                               metadata_first=req.metadata_first, comment=atp.comment,
                               creator=atp.created_by)
        saved = self.store.load(torrent_id) if self.store.exists(torrent_id) else None
        if isinstance(saved, Saved) and saved.params.save_path == atp.save_path:
            # Added again after an interruption: continue from the saved state.
            saved.params.flags = (saved.params.flags & ~(_TF.paused | _TF.auto_managed)) | (
                flags & (_TF.paused | _TF.auto_managed)) | _TF.duplicate_is_error
            if atp.ti is not None and saved.params.ti is None:
                saved.params.ti = atp.ti
            atp = saved.params
            extras = saved.extras
        self._pex_flag(atp)
        if req.file_priorities is not None:
            if atp.ti is None:
                raise InputError(source, "file priorities need a .torrent (a magnet has no "
                                         "file list yet; use metadata-first instead)")
            real = _real_files(atp.ti.layout())
            if len(req.file_priorities) != len(real):
                raise InputError(source, f"{len(req.file_priorities)} priorities given for "
                                         f"{len(real)} files")
            prios = [0] * atp.ti.num_files()
            for index, prio in zip(real, req.file_priorities, strict=True):
                prios[index] = check_priority(prio, source)
            atp.file_priorities = prios
        trackers = [check_tracker_url(u) for u in req.trackers]
        if trackers:
            atp.trackers = list(dict.fromkeys([*atp.trackers, *trackers]))
        peers = [parse_peer(p) for p in req.peers]
        if req.download_limit:
            atp.download_limit = req.download_limit
        if req.upload_limit:
            atp.upload_limit = req.upload_limit
        self._pending_adds[torrent_id] = (fut, extras, req)
        self._pending_peers[torrent_id] = peers
        self.ses.async_add_torrent(atp)

    def pause(self, torrent_id: str) -> None:
        t = self.get(torrent_id)
        t.handle.unset_flags(_TF.auto_managed)
        t.handle.pause(lt.torrent_handle.graceful_pause)
        self._save_soon(t)

    def resume(self, torrent_id: str) -> None:
        t = self.get(torrent_id)
        if t.extras.metadata_first and t.handle.status().has_metadata:
            t.extras.metadata_first = False  # the user has chosen: download now
            t.handle.unset_flags(_TF.upload_mode)
        t.extras.stopped_by_limit = False
        t.handle.clear_error()
        t.handle.set_flags(_TF.auto_managed)
        t.handle.resume()
        for peer in t.peers:
            t.handle.connect_peer(peer)
        self._save_soon(t)

    def remove(self, torrent_id: str, delete_data: bool, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        flags = lt.session.delete_files if delete_data else 0
        self._pending_removes[torrent_id] = (fut, delete_data)
        self.ses.remove_torrent(t.handle, flags)
        self._forget(t)
        self.store.delete(torrent_id)

    def _forget(self, t: _Torrent) -> None:
        self.torrents.pop(t.id, None)
        self._by_handle.pop(t.handle, None)
        self._outstanding_saves.discard(t.id)
        for fut in self._pending_flush.pop(t.id, []):
            if not fut.done():
                fut.set_exception(EngineError(f"torrent {t.id} was removed"))
        self.dirty = True

    def recheck(self, torrent_id: str) -> None:
        t = self.get(torrent_id)
        t.handle.force_recheck()
        self.dirty = True

    def reannounce(self, torrent_id: str) -> None:
        t = self.get(torrent_id)
        t.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        if self.cfg.network.enable_dht:
            t.handle.force_dht_announce()

    def move(self, torrent_id: str, path: str, fut: Future[str]) -> None:
        t = self.get(torrent_id)
        target = Path(path).expanduser()
        if not target.is_absolute():
            raise InputError(path, "target folder must be an absolute path")
        if torrent_id in self._pending_moves:
            raise EngineError(f"torrent {torrent_id} is already being moved")
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(path, f"cannot create folder: {exc}") from None
        self._pending_moves[torrent_id] = fut
        t.handle.move_storage(str(target), lt.move_flags_t.fail_if_exist)

    def set_limits(self, torrent_id: str, down: int | None, up: int | None) -> None:
        t = self.get(torrent_id)
        if down is not None:
            t.handle.set_download_limit(_limit(down, "download limit"))
        if up is not None:
            t.handle.set_upload_limit(_limit(up, "upload limit"))
        self._save_soon(t)

    def set_share_limits(self, torrent_id: str, ratio: float | None, seed_time: int | None) -> None:
        t = self.get(torrent_id)
        if ratio is not None:
            if ratio < -1:
                raise InputError(str(ratio), "ratio limit must be -1 (global), 0 (none) or more")
            t.extras.ratio_limit = float(ratio)
        if seed_time is not None:
            if seed_time < -1:
                raise InputError(str(seed_time), "seed time limit must be -1, 0 or more seconds")
            t.extras.seed_time_limit = int(seed_time)
        self._save_soon(t)

    def set_file_priorities(self, torrent_id: str, priorities: dict[int, int]) -> None:
        t = self.get(torrent_id)
        ti = t.handle.torrent_file()
        if ti is None:
            raise EngineError(f"torrent {torrent_id} has no metadata yet; wait for it")
        real = set(_real_files(ti.layout()))
        current = list(t.handle.get_file_priorities())
        for index, prio in priorities.items():
            if index not in real:
                raise InputError(str(index), f"torrent {torrent_id} has no file with index "
                                             f"{index}")
            current[index] = check_priority(prio, f"file {index}")
        t.handle.prioritize_files(current)
        self._save_soon(t)

    def set_sequential(self, torrent_id: str, on: bool) -> None:
        t = self.get(torrent_id)
        if on:
            t.handle.set_flags(_TF.sequential_download)
        else:
            t.handle.unset_flags(_TF.sequential_download)
        self._save_soon(t)

    def add_trackers(self, torrent_id: str, urls: list[str]) -> None:
        t = self.get(torrent_id)
        checked = [check_tracker_url(u) for u in urls]
        tiers = [e["tier"] for e in t.handle.trackers()]
        tier = (max(tiers) + 1) if tiers else 0
        for url in checked:
            t.handle.add_tracker({"url": url, "tier": tier})
        self._save_soon(t)

    def remove_trackers(self, torrent_id: str, urls: list[str]) -> None:
        t = self.get(torrent_id)
        current = t.handle.trackers()
        known = {e["url"] for e in current}
        missing = [u for u in urls if u not in known]
        if missing:
            raise InputError(missing[0], f"torrent {torrent_id} has no such tracker")
        keep = [lt.announce_entry(e["url"]) for e in current if e["url"] not in urls]
        for entry, e in zip(keep, [e for e in current if e["url"] not in urls], strict=True):
            entry.tier = e["tier"]
        t.handle.replace_trackers(keep)
        self._save_soon(t)

    def add_peers(self, torrent_id: str, peers: list[str]) -> None:
        t = self.get(torrent_id)
        for p in [parse_peer(p) for p in peers]:
            if p not in t.peers:
                t.peers.append(p)
            t.handle.connect_peer(p)

    def flush(self, torrent_id: str, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        self._pending_flush.setdefault(torrent_id, []).append(fut)
        t.handle.flush_cache()

    def details(self, torrent_id: str) -> TorrentDetails:
        t = self.get(torrent_id)
        h = t.handle
        s = h.status()  # every query flag: name, pieces, ...
        state = status.torrent_state(t.id, s, t.extras, t.flushed)
        ti = h.torrent_file()
        files = status.files_of(h, ti) if ti is not None else ()
        pieces = bytes(1 if p else 0 for p in s.pieces) if ti is not None else b""
        magnet = lt.make_magnet_uri(h)
        return TorrentDetails(
            torrent=state, files=files, peers=status.peers_of(h),
            trackers=status.trackers_of(h), pieces=pieces,
            piece_length=ti.piece_length() if ti is not None else 0,
            comment=t.extras.comment,
            creator=t.extras.creator,
            private=bool(ti.priv()) if ti is not None else False, magnet=magnet)

    def apply_pex(self) -> None:
        for t in self.torrents.values():
            if self.cfg.network.enable_pex:
                t.handle.unset_flags(_TF.disable_pex)
            else:
                t.handle.set_flags(_TF.disable_pex)

    # ------------------------------------------------------------------ limits

    def enforce_share_limits(self) -> None:
        """Pause seeding torrents that reached their ratio or seed-time limit."""
        for t in list(self.torrents.values()):
            st = t.state
            if st is None or st.paused or not st.has_metadata or st.phase != "seeding":
                continue
            ratio_limit = t.extras.ratio_limit if t.extras.ratio_limit >= 0 else \
                self.cfg.seeding.ratio_limit
            time_limit = t.extras.seed_time_limit if t.extras.seed_time_limit >= 0 else \
                self.cfg.seeding.seed_time_limit
            if not ratio_limit and not time_limit:
                continue
            s = t.handle.status()
            reason = ""
            if ratio_limit and status.ratio_of(s) >= ratio_limit:
                reason = f"ratio {status.ratio_of(s):.2f} reached the limit {ratio_limit:g}"
            elif time_limit and s.seeding_duration.total_seconds() >= time_limit:
                reason = f"seeded for {int(s.seeding_duration.total_seconds())} s " \
                         f"(limit {time_limit} s)"
            if reason:
                t.extras.stopped_by_limit = True
                t.handle.unset_flags(_TF.auto_managed)
                t.handle.pause()
                self._save_soon(t)
                self.emit(ShareLimitReached(torrent_id=t.id, reason=reason))

    # ------------------------------------------------------------------ alerts

    def handle_alerts(self, alerts: list[Any]) -> None:
        for a in alerts:
            handler = self._handlers.get(type(a))
            if handler is not None:
                handler(a)

    def _torrent_of(self, a: Any) -> _Torrent | None:
        tid = self._id_for(a.handle)
        return self.torrents.get(tid) if tid else None

    def _on_added(self, a: lt.add_torrent_alert) -> None:
        p = a.params
        ih = p.ti.info_hashes() if p.ti is not None else p.info_hashes
        torrent_id = inputs.torrent_id(ih)
        fut, extras, req = self._pending_adds.pop(torrent_id, (None, TorrentExtras(), None))
        peers = self._pending_peers.pop(torrent_id, [])
        if a.error.value():
            message = a.error.message()
            if fut is not None and not fut.done():
                fut.set_exception(EngineError(f"could not add {torrent_id}: {message}"))
            else:
                self.emit(ResumeDataError(file=str(self.store.path(torrent_id)), message=message))
            return
        h = a.handle
        t = _Torrent(id=torrent_id, handle=h, extras=extras, peers=peers)
        self.torrents[torrent_id] = t
        self._by_handle[h] = torrent_id
        for peer in peers:
            h.connect_peer(peer)
        if req is not None:  # a new torrent, not a restored one: persist it now
            self._save_soon(t)
        self.emit(TorrentAdded(torrent_id=torrent_id, name=h.status().name or torrent_id))
        if fut is not None and not fut.done():
            fut.set_result(torrent_id)
        self.dirty = True

    def _on_state_update(self, a: lt.state_update_alert) -> None:
        for s in a.status:
            tid = self._by_handle.get(s.handle)
            t = self.torrents.get(tid) if tid else None
            if t is not None:
                self._set_state(t, status.torrent_state(t.id, s, t.extras, t.flushed))

    def refresh(self, t: _Torrent) -> None:
        self._set_state(t, status.torrent_state(t.id, t.handle.status(), t.extras, t.flushed))

    def _set_state(self, t: _Torrent, new: TorrentState) -> None:
        # Keep the old object when nothing changed, so snapshots share it.
        if new != t.state:
            t.state = new
            self.dirty = True

    def _on_finished(self, a: lt.torrent_finished_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        # The finished alert comes before the data is on disk: flush first.
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
        self.refresh(t)
        if was_pending and t.state is not None and t.state.complete_on_disk:
            self._save_soon(t)
            self.emit(TorrentCompleted(torrent_id=t.id, name=t.state.name))

    def _on_metadata(self, a: lt.metadata_received_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        ti = t.handle.torrent_file()
        if ti is not None:
            try:
                renames = inputs.check_file_paths(ti.layout(), t.id)
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
        self.emit(MetadataReceived(torrent_id=t.id, name=t.handle.status().name,
                                   awaiting_selection=t.extras.metadata_first))

    def _on_resume_saved(self, a: lt.save_resume_data_alert) -> None:
        tid = self._id_for(a.handle)
        if tid is None:
            return
        self._outstanding_saves.discard(tid)
        t = self.torrents[tid]
        try:
            self.store.save(tid, a.params, t.extras)
        except OSError as exc:
            self.emit(Log(level="error", message=f"cannot write resume data for {tid}: {exc}"))

    def _on_resume_failed(self, a: lt.save_resume_data_failed_alert) -> None:
        tid = self._id_for(a.handle)
        if tid is not None:
            self._outstanding_saves.discard(tid)

    def _on_removed(self, a: lt.torrent_removed_alert) -> None:
        tid = inputs.torrent_id(a.info_hashes)
        if tid not in self._pending_removes:
            return
        fut, delete = self._pending_removes[tid]
        if not delete:
            self._pending_removes.pop(tid)
            fut.set_result(None)
            self.emit(TorrentRemoved(torrent_id=tid, data_deleted=False))

    def _on_deleted(self, a: lt.torrent_deleted_alert) -> None:
        tid = inputs.torrent_id(a.info_hashes)
        entry = self._pending_removes.pop(tid, None)
        if entry is not None:
            entry[0].set_result(None)
            self.emit(TorrentRemoved(torrent_id=tid, data_deleted=True))

    def _on_delete_failed(self, a: lt.torrent_delete_failed_alert) -> None:
        tid = inputs.torrent_id(a.info_hashes)
        entry = self._pending_removes.pop(tid, None)
        if entry is not None:
            entry[0].set_exception(EngineError(f"removed {tid} but could not delete its data: "
                                               f"{a.error.message()}"))
            self.emit(TorrentRemoved(torrent_id=tid, data_deleted=False))

    def _on_moved(self, a: lt.storage_moved_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        path = a.storage_path()
        fut = self._pending_moves.pop(t.id, None)
        if fut is not None and not fut.done():
            fut.set_result(path)
        self._save_soon(t)
        self.refresh(t)
        self.emit(StorageMoved(torrent_id=t.id, path=path))

    def _on_move_failed(self, a: lt.storage_moved_failed_alert) -> None:
        t = self._torrent_of(a)
        if t is None:
            return
        message = f"{a.error.message()} ({a.file_path()})" if a.file_path() else a.error.message()
        fut = self._pending_moves.pop(t.id, None)
        if fut is not None and not fut.done():
            fut.set_exception(EngineError(f"could not move {t.id}: {message}"))
        self.emit(StorageMoveFailed(torrent_id=t.id, message=message))

    def _on_torrent_error(self, a: lt.torrent_error_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            self.refresh(t)
            self.emit(TorrentErrored(torrent_id=t.id, message=a.error.message()))

    def _on_file_error(self, a: lt.file_error_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            self.emit(TorrentErrored(torrent_id=t.id, message=a.error.message(),
                                     file=a.filename()))

    def _on_tracker_error(self, a: lt.tracker_error_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            msg = a.error_message() or a.error.message()
            self.emit(TrackerError(torrent_id=t.id, url=a.tracker_url(), message=msg))

    def _on_checked(self, a: lt.torrent_checked_alert) -> None:
        t = self._torrent_of(a)
        if t is not None:
            self.refresh(t)
            progress = t.state.progress if t.state else 0.0
            self.emit(TorrentChecked(torrent_id=t.id, progress=progress))

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
            # connect_peer on a torrent that is still paused is dropped silently, so
            # peers the user named are dialled again once the torrent really runs.
            for peer in t.peers:
                t.handle.connect_peer(peer)
            self.refresh(t)
            self.emit(TorrentResumed(torrent_id=t.id))

    def _on_listen_ok(self, a: lt.listen_succeeded_alert) -> None:
        if a.socket_type == lt.socket_type_t.tcp or not self.listen_port:
            self.listen_port = a.port

    def _on_listen_failed(self, a: lt.listen_failed_alert) -> None:
        self.emit(Log(level="error", message=f"cannot listen on {a.address}:{a.port}: "
                                             f"{a.error.message()}"))

    def _on_session_stats(self, a: lt.session_stats_alert) -> None:
        values: dict[str, int] = a.values
        now = time.monotonic()
        keys = ("net.recv_bytes", "net.sent_bytes", "net.recv_payload_bytes",
                "net.sent_payload_bytes")
        rates = dict.fromkeys(keys, 0)
        if self._last_counters is not None:
            then, old = self._last_counters
            dt = max(now - then, 1e-3)
            rates = {k: max(0, int((values.get(k, 0) - old.get(k, 0)) / dt)) for k in keys}
        self._last_counters = (now, {k: values.get(k, 0) for k in keys})
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
        )
        self.dirty = True


def _real_files(fs: lt.file_storage) -> list[int]:
    """Indexes of the files a user sees (pad files left out)."""
    return [i for i in range(fs.num_files())
            if not fs.file_flags(i) & lt.file_storage.flag_pad_file]


def _limit(value: int, what: str) -> int:
    if not isinstance(value, int) or value < 0:
        raise InputError(str(value), f"{what} must be 0 (unlimited) or a positive bytes/s value")
    return value if value > 0 else -1
