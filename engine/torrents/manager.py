"""Torrent commands on the engine thread.

:class:`TorrentManager` adds the commands (add, pause, move, priorities, ...)
to the :class:`~engine.torrents.alerts.TorrentTable`. Commands change libtorrent
through handles; those that finish on an alert park their future in the table
until the alert arrives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import libtorrent as lt

from ..errors import (
    DuplicateTorrentError,
    EngineError,
    InputError,
    describe,
)
from ..events import (
    Log,
    ResumeDataError,
    ShareLimitReached,
)
from ..requests import (
    AddRequest,
    check_add_numbers,
    check_priority,
    check_queue_move,
    check_rate,
    check_ratio,
    check_seed_time,
    check_tracker_url,
    check_web_seed,
    parse_peer,
)
from ..state import TorrentDetails, TorrentState
from . import inputs, move_target, recheck, special, status
from .alerts import _TF, TorrentTable
from .record import TorrentRecord, has_every_piece, resolve
from .recover import settle_move, torrent_files
from .resume import Corrupt, Saved, TorrentExtras, merge_peers
from .text import read_text, read_url


class TorrentManager(TorrentTable):
    """The engine thread's torrents: state, alerts and commands."""

    # ------------------------------------------------------------------ restore

    def restore(self) -> int:
        """Add every torrent from the resume folder; report unreadable files."""
        n = 0
        saved: list[Saved] = []
        for item in self.store.load_all():
            if isinstance(item, Corrupt):
                self.emit(ResumeDataError(file=str(item.file), message=item.message))
            else:
                saved.append(item)
        # in the order they were added: their numbers (TorrentState.number) follow it;
        # taken from the end, so each one's params are freed once it is added
        saved.sort(key=lambda i: (i.params.added_time, i.torrent_id), reverse=True)
        while saved:
            item = saved.pop()
            try:
                self._restore_one(item)
            except Exception as exc:  # one file's fault: reported, the others go on
                self._pending_adds.pop(item.torrent_id, None)
                self.emit(ResumeDataError(file=str(self.store.path(item.torrent_id)),
                                          message=f"could not restore: {describe(exc)}"))
                continue
            n += 1
        return n

    def _mark_site(self, torrent_id: str, req: AddRequest) -> None:
        """A site's torrent added before torrents were marked with their site (the sites
        thread adds its torrents again at start) is marked now; it is still a duplicate."""
        known = self.torrents.get(torrent_id)
        if known is not None and not known.extras.site:
            known.extras.site, known.extras.site_role = req.site, req.site_role
            self.refresh(known)
            self._save_soon(known)
        elif known is None and torrent_id in self._pending_adds:  # being restored
            extras = self._pending_adds[torrent_id][1]
            if not extras.site:
                extras.site, extras.site_role = req.site, req.site_role
                self._resave_on_add.add(torrent_id)

    def _restore_one(self, item: Saved) -> None:
        self._settle(item)
        atp = item.params
        atp.flags |= _TF.duplicate_is_error
        if atp.ti is not None and not item.extras.quarantined:
            found = special.not_regular(atp.save_path, atp.ti, dict(atp.renamed_files))
            if found is not None:  # held, with why, until it is moved away and resumed
                item.extras.quarantined = special.held_message(found)
                self.emit(Log(level="warning",
                              message=f"torrent {item.torrent_id}: {item.extras.quarantined}"))
        recheck.restoring(atp, item.extras)
        if item.extras.quarantined:
            # it failed repeatedly last time: back paused, with why, until resumed
            atp.flags = (atp.flags | _TF.paused) & ~_TF.auto_managed
        self._pex_flag(atp)
        item.extras.peers = _valid_peers(item.extras.peers)
        self._pending_adds[item.torrent_id] = (None, item.extras, None)
        if has_every_piece(atp):
            self._restoring_complete.add(item.torrent_id)
        self._add_to_session(item.torrent_id, atp)

    def _settle(self, saved: Saved) -> None:
        """Repair what a crash can leave in a resume file (an interrupted move) before the
        torrent is added from it; the repaired file is written once it is added.
        Settings it held that cannot be kept were reset when it was read: each is reported,
        and the file is written again without them."""
        for warning in saved.warnings:
            self.emit(Log(level="warning", message=f"torrent {saved.torrent_id}: {warning}"))
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
        self.emit(Log(level="warning", message=f"torrent {saved.torrent_id}: {message}"))

    def _pex_flag(self, atp: lt.add_torrent_params) -> None:
        if self.cfg.network.enable_pex:
            atp.flags &= ~_TF.disable_pex
        else:
            atp.flags |= _TF.disable_pex

    # ------------------------------------------------------------------ commands

    def add(self, req: AddRequest, fut: Future[str]) -> None:
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
        if torrent_id in self.torrents and peers:
            # added again with peers: the user wants it to find them (after a restart of
            # an older version, say, that did not keep them)
            self._add_peers_again(self.torrents[torrent_id], peers, fut)
            return
        if req.site:
            self._mark_site(torrent_id, req)
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
                               metadata_first=req.metadata_first,
                               comment=read_text(lambda: atp.comment),
                               creator=read_text(lambda: atp.created_by))
        saved = self.store.load(torrent_id) if self.store.exists(torrent_id) else None
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
        self._pending_adds[torrent_id] = (fut, extras, req)
        self._pending_peers[torrent_id] = peers
        self._add_to_session(torrent_id, atp)

    # Commands that change what the resume file records resolve ``fut`` only once that
    # file is durable (``_save_soon(t, resolve(fut))``): an acknowledged change survives a
    # crash of the process right after the reply.

    def pause(self, torrent_id: str, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        if recheck.defer_pause(t):  # paused when the check ends
            self._save_soon(t, resolve(fut))
            return
        t.handle.unset_flags(_TF.auto_managed)
        t.handle.pause(lt.torrent_handle.graceful_pause)
        self._save_soon(t, resolve(fut))

    def resume(self, torrent_id: str, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        found = special.problem_of(t.handle)
        if found is not None:
            raise special.refusal(found, "resume it")
        if t.extras.metadata_first and t.handle.status().has_metadata:
            t.extras.metadata_first = False  # the user has chosen: download now
            t.handle.unset_flags(_TF.upload_mode)
        t.extras.stopped_by_limit = False
        t.extras.pause_after_check = False
        self.clear_fault(t)
        if t.disk.error:
            self.retry_disk(t)  # the user may have made room: try writing now
        t.handle.clear_error()
        t.handle.set_flags(_TF.auto_managed)
        t.handle.resume()
        for peer in t.peers:
            t.handle.connect_peer(peer)
        self._save_soon(t, resolve(fut))

    def remove(self, torrent_id: str, delete_data: bool, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        flags = lt.session.delete_files if delete_data else 0
        self._pending_removes[torrent_id] = (fut, delete_data)
        if self._reloading.pop(torrent_id, None) is None:
            self.ses.remove_torrent(t.handle, flags)
        # else being reloaded (engine/torrents/faults.py): it is already leaving the session
        # and now does not come back; its files stay even with delete_data (rare enough)
        self._forget(t)
        self.store.delete(torrent_id)

    def recheck(self, torrent_id: str) -> None:
        t = self.get(torrent_id)
        found = special.problem_of(t.handle)
        if found is not None:
            raise special.refusal(found, "check it again")
        recheck.start(t)  # a paused torrent too (libtorrent would wait for a resume)
        self._save_soon(t)  # a restart in the middle checks again

    def reannounce(self, torrent_id: str) -> list[str]:
        """Announce now; returns where to (``"3 trackers"``, ``"DHT"``, ``"LSD"``), empty
        when there is nowhere: no tracker, and DHT and local discovery are off (or the
        torrent is private, which keeps it out of both)."""
        t = self.get(torrent_id)
        where: list[str] = []
        try:
            trackers = len(t.handle.trackers())
        except UnicodeDecodeError:  # one message that is not UTF-8 (engine/torrents/text.py)
            trackers = len(t.trackers)
        if trackers:
            t.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
            where.append(f"{trackers} tracker{'s' if trackers != 1 else ''}")
        ti = t.handle.torrent_file()
        private = ti is not None and ti.priv()
        if self.cfg.network.enable_dht and not private:
            t.handle.force_dht_announce()
            where.append("DHT")
        if self.cfg.network.enable_lsd and not private:
            where.append("LSD")  # libtorrent announces there on its own schedule
        return where

    def move(self, torrent_id: str, path: str, fut: Future[str]) -> None:
        t = self.get(torrent_id)
        if torrent_id in self._pending_moves:
            raise EngineError(f"torrent {torrent_id} is already being moved")
        # a folder we can make folders and files in, not /proc or /sys: libtorrent would
        # report such a move done without moving anything (engine/torrents/move_target.py)
        target = move_target.check_target(path)
        old = Path(read_text(lambda: t.handle.status().save_path))
        if target == old:
            fut.set_result(str(target))
            return
        ti = t.handle.torrent_file()
        files: list[str] = []
        if ti is not None:
            params = lt.add_torrent_params()
            params.ti = ti
            files = torrent_files(params)
            taken = [rel for rel in files if (target / rel).exists()]
            if taken:
                # what libtorrent's fail_if_exist refuses too; checked here so that after a
                # crash any torrent file in the target is known to come from this move
                raise InputError(path, f"{target / taken[0]} already exists")
        self._move_checks[torrent_id] = (old, target, move_target.present(old, files))
        self._pending_moves[torrent_id] = fut
        # The target is recorded durably first: a crash during the move leaves a resume
        # file that says where the data may be (engine/torrents/recover.py).
        t.extras.moving_to = str(target)

        def start() -> None:
            if self.torrents.get(torrent_id) is not t:  # removed meanwhile
                moving = self._pending_moves.pop(torrent_id, None)
                if moving is not None and not moving.done():
                    moving.set_exception(EngineError(f"torrent {torrent_id} was removed"))
                return
            t.handle.move_storage(str(target), lt.move_flags_t.fail_if_exist)
        self._save_soon(t, start)

    def set_limits(self, torrent_id: str, down: int | None, up: int | None,
                   fut: Future[None]) -> None:
        t = self.get(torrent_id)
        if down is not None:
            t.handle.set_download_limit(_limit(down, "download limit"))
        if up is not None:
            t.handle.set_upload_limit(_limit(up, "upload limit"))
        self._save_soon(t, resolve(fut))

    def set_share_limits(self, torrent_id: str, ratio: float | None, seed_time: int | None,
                         fut: Future[None]) -> None:
        t = self.get(torrent_id)
        if ratio is not None:
            t.extras.ratio_limit = check_ratio(ratio, "ratio")
        if seed_time is not None:
            t.extras.seed_time_limit = check_seed_time(seed_time, "seed_time")
        self._save_soon(t, resolve(fut))

    def set_file_priorities(self, torrent_id: str, priorities: dict[int, int],
                            fut: Future[None]) -> None:
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
        self._save_soon(t, resolve(fut))

    def queue_move(self, torrent_id: str, where: str) -> None:
        """Move a torrent in the download queue: ``up``, ``down``, ``top`` or ``bottom``.
        libtorrent keeps positions only while the session runs (no resume data field):
        after a restart the queue is the order the torrents were loaded in."""
        t = self.get(torrent_id)
        getattr(t.handle, f"queue_position_{check_queue_move(where)}")()

    def set_sequential(self, torrent_id: str, on: bool, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        if on:
            t.handle.set_flags(_TF.sequential_download)
        else:
            t.handle.unset_flags(_TF.sequential_download)
        self._save_soon(t, resolve(fut))

    def add_trackers(self, torrent_id: str, urls: list[str], fut: Future[None]) -> None:
        t = self.get(torrent_id)
        checked = [check_tracker_url(u) for u in urls]
        tiers = [tier for _url, tier in self._tracker_list(t)]
        tier = (max(tiers) + 1) if tiers else 0
        for url in checked:
            t.handle.add_tracker({"url": url, "tier": tier})
        self._save_soon(t, resolve(fut))

    def remove_trackers(self, torrent_id: str, urls: list[str], fut: Future[None]) -> None:
        t = self.get(torrent_id)
        current = self._tracker_list(t)
        known = {url for url, _tier in current}
        missing = [u for u in urls if u not in known]
        if missing:
            raise InputError(missing[0], f"torrent {torrent_id} has no such tracker")
        keep = []
        for url, tier in current:
            if url not in urls:
                entry = lt.announce_entry(url)
                entry.tier = tier
                keep.append(entry)
        t.handle.replace_trackers(keep)
        t.trackers = [(url, tier) for url, tier in current if url not in urls]
        self._save_soon(t, resolve(fut))

    def _tracker_list(self, t: TorrentRecord) -> list[tuple[str, int]]:
        """(url, tier) of ``t``'s trackers: libtorrent's list, or the one the engine
        kept when libtorrent's cannot be read (a tracker message that is not UTF-8)."""
        self._read_trackers(t)
        return list(t.trackers)

    def add_peers(self, torrent_id: str, peers: list[str], fut: Future[None]) -> None:
        t = self.get(torrent_id)
        parsed = [parse_peer(p) for p in peers]
        merge_peers(t.extras, parsed)
        for p in parsed:
            t.handle.connect_peer(p)
        self._save_soon(t, resolve(fut))  # kept: dialled again after a restart

    def _add_peers_again(self, t: TorrentRecord, peers: list[tuple[str, int]],
                         fut: Future[str]) -> None:
        """An add of a torrent already here that names peers: they join its peers
        (kept with it and dialled now) instead of the add being refused."""
        new = merge_peers(t.extras, peers)
        for p in peers:
            t.handle.connect_peer(p)
        self.emit(Log(level="info", message=f"torrent {t.id} is already added; "
                                            f"connecting to {len(peers)} peers "
                                            f"({len(new)} new)"))
        self._save_soon(t, resolve(fut, t.id))

    def flush(self, torrent_id: str, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        self._pending_flush.setdefault(torrent_id, []).append(fut)
        t.handle.flush_cache()

    def details(self, torrent_id: str) -> TorrentDetails:
        t = self.get(torrent_id)
        h = t.handle
        s = h.status()  # every query flag: name, pieces, ...
        state = self.state_of(t, s)
        ti = h.torrent_file()
        files = status.files_of(h, ti) if ti is not None else ()
        pieces = piece_map(s.pieces, h.get_download_queue()) if ti is not None else b""
        magnet = read_url(lambda: lt.make_magnet_uri(h))
        return TorrentDetails(
            torrent=state, files=files, peers=status.peers_of(h),
            trackers=status.trackers_of(h, t.trackers, t.tracker_errors), pieces=pieces,
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
        """Pause seeding torrents that reached their ratio or seed-time limit.

        Runs every second over the table's states: no libtorrent call per torrent
        (``status()`` costs ~0.1 ms each, a second per 10,000 torrents)."""
        now = time.monotonic()
        for t in list(self.torrents.values()):
            st = t.state
            if st is None or st.paused or not st.has_metadata or st.phase != "seeding" or \
                    t.extras.pause_after_check:  # running only for a recheck
                continue
            try:
                self._enforce_one(t, st, now)
            except Exception as exc:  # this torrent's fault only
                self.contain(exc, "checking its share limits", t)

    def _enforce_one(self, t: TorrentRecord, st: TorrentState, now: float) -> None:
        ratio_limit = t.extras.ratio_limit if t.extras.ratio_limit >= 0 else \
            self.cfg.seeding.ratio_limit
        time_limit = t.extras.seed_time_limit if t.extras.seed_time_limit >= 0 else \
            self.cfg.seeding.seed_time_limit
        if not ratio_limit and not time_limit:
            return
        # libtorrent need not report a seed whose only change is its seeding time,
        # so that time is the state's value plus the time since it was recorded.
        seeded = st.seeding_time + int(now - t.state_at)
        reason = ""
        if ratio_limit and st.ratio >= ratio_limit:
            reason = f"ratio {st.ratio:.2f} reached the limit {ratio_limit:g}"
        elif time_limit and seeded >= time_limit:
            reason = f"seeded for {seeded} s (limit {time_limit} s)"
        if reason:
            t.extras.stopped_by_limit = True
            t.handle.unset_flags(_TF.auto_managed)
            t.handle.pause()
            self._save_soon(t)
            self.emit(ShareLimitReached(torrent_id=t.id, reason=reason))


def _valid_peers(peers: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Peers read from a resume file that are still valid addresses (it may be edited)."""
    out = []
    for ip, port in peers:
        try:
            out.append(parse_peer(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"))
        except InputError:
            continue
    return out


def _real_files(fs: lt.file_storage) -> list[int]:
    """Indexes of the files a user sees (pad files left out)."""
    return [i for i in range(fs.num_files())
            if not fs.file_flags(i) & lt.file_storage.flag_pad_file]


def _limit(value: int, what: str) -> int:
    return check_rate(value, what) or -1


def piece_map(have: Sequence[bool], queue: Iterable[Mapping[str, Any]]) -> bytes:
    """One byte per piece: 0 missing, 1 have, 2 downloading (partly requested or received)."""
    out = bytearray(1 if p else 0 for p in have)
    for partial in queue:
        i = partial.get("piece_index", -1)
        if 0 <= i < len(out) and not out[i]:
            out[i] = 2
    return bytes(out)
