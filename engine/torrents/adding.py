"""Torrents handed to libtorrent, from an add request or the resume folder.

``async_add_torrent`` answers later, with ``add_torrent_alert``; until then what the
engine knows of the torrent (the command's future, its extras, the peers and trackers it
was added with, whether its resume data had every piece or was repaired on load) waits
here, in :class:`TorrentAdds`, and the table takes it when the alert comes
(:meth:`TorrentAdds.take`). Adds and restores share the checks (special files, peers, PEX)
and the repair of what a crash can leave in a resume file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import NamedTuple

import libtorrent as lt

from ..config import Config
from ..errors import DuplicateTorrentError, InputError
from ..events import Event, Log
from ..requests import (
    AddRequest,
    check_add_numbers,
    check_priority,
    check_rate,
    check_tracker_url,
    check_web_seed,
    parse_peer,
)
from . import inputs, recheck, special
from .record import Then, TorrentRecord, has_every_piece, resolve
from .records import TorrentRecords
from .recover import settle_move
from .resume import ResumeStore, Saved, TorrentExtras, merge_peers
from .text import read_text

_TF = lt.torrent_flags
_PendingAdd = tuple["Future[str] | None", TorrentExtras, "AddRequest | None"]


class Pending(NamedTuple):
    """What waited for a torrent's add alert."""

    fut: Future[str] | None
    extras: TorrentExtras
    req: AddRequest | None
    """The add request; None for a torrent restored (or reloaded) from resume data."""
    peers: list[tuple[str, int]]
    trackers: list[tuple[str, int]]
    restored_complete: bool


class TorrentAdds:
    """Adds on their way into the session; the ``add`` command and the restore at start."""

    def __init__(self, ses: lt.session, cfg: Config, store: ResumeStore,
                 default_save_path: Path, records: TorrentRecords,
                 save: Callable[[TorrentRecord, Then | None], None],
                 emit: Callable[[Event], None]):
        self.ses = ses
        self.cfg = cfg
        self._store = store
        self._default_save_path = default_save_path
        self._records = records
        self._save = save
        self._emit = emit
        self._pending: dict[str, _PendingAdd] = {}
        self._peers: dict[str, list[tuple[str, int]]] = {}
        self._trackers: dict[str, list[tuple[str, int]]] = {}
        self._restoring_complete: set[str] = set()
        """Ids being restored from resume data that had every piece."""
        self._resave_on_add: set[str] = set()
        """Ids restored from resume data repaired on load: saved again once added."""
        self._restoring: set[str] = set()
        """Ids restored from resume data and waiting for their add alert."""
        self.take_queued: Callable[[str], object] = lambda torrent_id: None
        """Adds a torrent still in the restore queue now (:mod:`.restoring`): an add of
        the same torrent then meets it as it would after the start."""

    # ------------------------------------------------------------------ pending

    def submit(self, torrent_id: str, atp: lt.add_torrent_params) -> None:
        """``ses.async_add_torrent(atp)``, keeping its tracker list: libtorrent moves it
        out of the parameters, and a tracker can answer with a message that makes the
        torrent's own list unreadable before the add alert is handled."""
        try:
            self._trackers[torrent_id] = [
                (u, t) for u, t in zip(atp.trackers, _tiers(atp), strict=True)]
        except UnicodeDecodeError:
            self._trackers.pop(torrent_id, None)
        self.ses.async_add_torrent(atp)

    def again(self, torrent_id: str, params: lt.add_torrent_params, old: TorrentRecord) -> None:
        """Add a torrent again from ``params``, as ``old`` was (a reload, :mod:`.faults`)."""
        self._pending[torrent_id] = (None, old.extras, None)
        self._peers[torrent_id] = list(old.peers)
        self._resave_on_add.add(torrent_id)
        self.submit(torrent_id, params)

    def take(self, torrent_id: str) -> Pending:
        """What waited for ``torrent_id``'s add alert, which has come."""
        fut, extras, req = self._pending.pop(torrent_id, (None, TorrentExtras(), None))
        peers = self._peers.pop(torrent_id, [])
        trackers = self._trackers.pop(torrent_id, [])
        restored_complete = torrent_id in self._restoring_complete
        self._restoring_complete.discard(torrent_id)
        self._restoring.discard(torrent_id)
        if not self._pending:
            self._shrink()
        return Pending(fut, extras, req, peers, trackers, restored_complete)

    def _shrink(self) -> None:
        """Every add is done: tables that held a whole restore get their room back (a
        dict or set keeps the size it grew to; ~100 bytes per torrent restored)."""
        self._pending = {}
        self._peers = dict(self._peers)
        self._trackers = dict(self._trackers)
        self._restoring_complete = set(self._restoring_complete)
        self._resave_on_add = set(self._resave_on_add)

    def pending_extras(self) -> list[TorrentExtras]:
        """The extras of the torrents waiting for their add alert (restored ones)."""
        return [extras for _fut, extras, _req in self._pending.values()]

    def take_resave(self, torrent_id: str) -> bool:
        """Whether ``torrent_id``, now added, is to be saved again (repaired on load)."""
        resave = torrent_id in self._resave_on_add
        self._resave_on_add.discard(torrent_id)
        return resave

    # ------------------------------------------------------------------ restore

    def restore_one(self, item: Saved) -> None:
        """Hand one torrent read from the resume folder to libtorrent (the engine loop
        calls it a slice at a time: :mod:`.restoring`); raises on a fault of its file's."""
        try:
            self._restore_one(item)
        except Exception:
            self._pending.pop(item.torrent_id, None)
            self._restoring_complete.discard(item.torrent_id)
            self._restoring.discard(item.torrent_id)
            raise

    @property
    def restoring(self) -> int:
        """Restored torrents handed to libtorrent whose add alert has not come yet."""
        return len(self._restoring)

    def _restore_one(self, item: Saved) -> None:
        self._settle(item)
        atp = item.params
        atp.flags |= _TF.duplicate_is_error
        if atp.ti is not None and not item.extras.quarantined:
            found = special.not_regular(atp.save_path, atp.ti, dict(atp.renamed_files))
            if found is not None:  # held, with why, until it is moved away and resumed
                item.extras.quarantined = special.held_message(found)
                self._emit(Log(level="warning",
                               message=f"torrent {item.torrent_id}: {item.extras.quarantined}"))
        recheck.restoring(atp, item.extras)
        if item.extras.quarantined:
            # it failed repeatedly last time: back paused, with why, until resumed
            atp.flags = (atp.flags | _TF.paused) & ~_TF.auto_managed
        self._pex_flag(atp)
        item.extras.peers = _valid_peers(item.extras.peers)
        self._pending[item.torrent_id] = (None, item.extras, None)
        self._restoring.add(item.torrent_id)
        if has_every_piece(atp):
            self._restoring_complete.add(item.torrent_id)
        self.submit(item.torrent_id, atp)

    def _settle(self, saved: Saved) -> None:
        """Repair what a crash can leave in a resume file (an interrupted move) before the
        torrent is added from it; the repaired file is written once it is added.
        Settings it held that cannot be kept were reset when it was read: each is reported,
        and the file is written again without them."""
        for warning in saved.warnings:
            self._emit(Log(level="warning", message=f"torrent {saved.torrent_id}: {warning}"))
            self._resave_on_add.add(saved.torrent_id)
        target = saved.extras.moving_to
        if not target:
            return
        saved.extras.moving_to = ""
        self._resave_on_add.add(saved.torrent_id)
        try:
            message = settle_move(saved.params, target)
        except OSError as exc:
            message = (f"could not finish an interrupted move to {target}: {exc}; the "
                       f"torrent is checked where its files are")
        self._emit(Log(level="warning", message=f"torrent {saved.torrent_id}: {message}"))

    def _pex_flag(self, atp: lt.add_torrent_params) -> None:
        if self.cfg.network.enable_pex:
            atp.flags &= ~_TF.disable_pex
        else:
            atp.flags |= _TF.disable_pex

    # ------------------------------------------------------------------ add

    def add(self, req: AddRequest, fut: Future[str], complete_dir: str = "") -> str:
        """The ``add`` command: resolves ``fut`` with the torrent's id once its resume file
        is durable (:mod:`.saves`). ``complete_dir``: where its data moves once complete
        (:mod:`.completion`). Returns the id of the torrent added ("" none: it was here)."""
        check_add_numbers(req)
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
        peers = [parse_peer(p) for p in req.peers]
        self.take_queued(torrent_id)
        torrents = self._records.torrents
        if torrent_id in torrents and peers:
            # added again with peers: the user wants it to find them (after a restart of
            # an older version, say, that did not keep them)
            self._add_peers_again(torrents[torrent_id], peers, fut)
            return ""
        if req.site:
            self._mark_site(torrent_id, req)
        if torrent_id in torrents or torrent_id in self._pending:
            raise DuplicateTorrentError(torrent_id)
        save_path = Path(req.save_path).expanduser() if req.save_path else \
            self._default_save_path
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
                               metadata_first=req.metadata_first,
                               comment=read_text(lambda: atp.comment),
                               creator=read_text(lambda: atp.created_by))
        saved = self._store.load(torrent_id) if self._store.exists(torrent_id) else None
        if isinstance(saved, Saved):
            self._settle(saved)
        if isinstance(saved, Saved) and saved.params.save_path == atp.save_path:
            # Added again after an interruption: continue from the saved state.
            saved.params.flags = (saved.params.flags & ~(_TF.paused | _TF.auto_managed)) | (
                flags & (_TF.paused | _TF.auto_managed)) | _TF.duplicate_is_error
            if atp.ti is not None and saved.params.ti is None:
                saved.params.ti = atp.ti
            atp = saved.params
            extras = saved.extras
        if req.site:
            extras.site, extras.site_role = req.site, req.site_role
        if req.category:  # checked by the labels (engine/torrents/labels.py)
            extras.category = req.category
        if req.tags:  # (an empty list each otherwise: kept sorted, each once, when read)
            extras.tags = sorted(set(extras.tags) | set(req.tags))
        if complete_dir:
            extras.complete_dir = complete_dir
        self._pex_flag(atp)
        if req.file_priorities is not None:
            if atp.ti is None:
                raise InputError(source, "file priorities need a .torrent (a magnet has no "
                                         "file list yet; use metadata-first instead)")
            real = real_files(atp.ti.layout())
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
        seeds = [check_web_seed(u) for u in req.web_seeds]
        if seeds:
            atp.url_seeds = list(dict.fromkeys([*atp.url_seeds, *seeds]))
        if check_rate(req.download_limit, "download limit"):
            atp.download_limit = req.download_limit
        if check_rate(req.upload_limit, "upload limit"):
            atp.upload_limit = req.upload_limit
        if atp.ti is not None:
            found = special.not_regular(atp.save_path, atp.ti, dict(atp.renamed_files))
            if found is not None:
                raise special.refusal(found, "add it again")
        self._pending[torrent_id] = (fut, extras, req)
        self._peers[torrent_id] = peers
        self.submit(torrent_id, atp)
        return torrent_id

    def _mark_site(self, torrent_id: str, req: AddRequest) -> None:
        """A site's torrent added before torrents were marked with their site (the sites
        thread adds its torrents again at start) is marked now; it is still a duplicate."""
        known = self._records.torrents.get(torrent_id)
        if known is not None and not known.extras.site:
            known.extras.site, known.extras.site_role = req.site, req.site_role
            self._records.refresh(known)
            self._save(known, None)
        elif known is None and torrent_id in self._pending:  # being restored
            extras = self._pending[torrent_id][1]
            if not extras.site:
                extras.site, extras.site_role = req.site, req.site_role
                self._resave_on_add.add(torrent_id)

    def _add_peers_again(self, t: TorrentRecord, peers: list[tuple[str, int]],
                         fut: Future[str]) -> None:
        """An add of a torrent already here that names peers: they join its peers
        (kept with it and dialled now) instead of the add being refused."""
        new = merge_peers(t.extras, peers)
        for p in peers:
            t.handle.connect_peer(p)
        self._emit(Log(level="info", message=f"torrent {t.id} is already added; "
                                             f"connecting to {len(peers)} peers "
                                             f"({len(new)} new)"))
        self._save(t, resolve(fut, t.id))


def _valid_peers(peers: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Peers read from a resume file that are still valid addresses (it may be edited)."""
    if not peers:
        return peers  # (its own empty list, not one more per torrent)
    out = []
    for ip, port in peers:
        try:
            out.append(parse_peer(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"))
        except InputError:
            continue
    return out


def real_files(fs: lt.file_storage) -> list[int]:
    """Indexes of the files a user sees (pad files left out)."""
    return [i for i in range(fs.num_files())
            if not fs.file_flags(i) & lt.file_storage.flag_pad_file]


def _tiers(atp: lt.add_torrent_params) -> list[int]:
    """One tier per tracker of ``atp`` (libtorrent leaves out trailing tiers of zero)."""
    tiers = list(atp.tracker_tiers)
    return [tiers[i] if i < len(tiers) else 0 for i in range(len(atp.trackers))]
