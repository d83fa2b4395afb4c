"""The engine thread's torrents: the parts that make them up, and the commands.

:class:`TorrentManager` is the one object the engine holds for its torrents. It builds
the parts, each owning its state and given what it works with, and hands the alert
dispatch of :class:`~.alerts.TorrentTable` every part's handlers:

* :class:`~.records.TorrentRecords`: the records, their numbers and states;
* :class:`~.saves.ResumeSaves`: resume data asked for, and commands acknowledged once
  their file is durable;
* :class:`~.contain.TorrentContainment`: an internal error made one torrent's error;
* :class:`~.adding.TorrentAdds`: adds and restores until their add alert;
* :class:`~.faults.DiskFaults`: failed writes, their retries and reloads;
* :class:`~.moves.StorageMoves`, :class:`~.removal.Removals`: moves and removes under way;
* :class:`~.labels.TorrentLabels`: the categories, and torrents' categories and tags;
* :class:`~.stats.SessionCounters`, :class:`~.share_limits.ShareLimits`,
  :class:`~.dht.DhtItems`, :class:`~.dht_peers.DhtPeers`, :class:`~.pieces.PieceReader`,
  :class:`~.file_reads.FileReads` (a file's bytes from its pieces, for `torrent_read`).

Commands change libtorrent through handles; those that finish on an alert park their
future in the part that owns that alert. The attributes the engine reads (``torrents``,
``stats``, ``dirty``, ...) are the parts', passed through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import libtorrent as lt
import msgspec

from ..config import Config
from ..errors import EngineError, InputError, UnknownTorrentError
from ..events import Event
from ..requests import (
    AddRequest,
    check_priority,
    check_queue_move,
    check_rate,
    check_ratio,
    check_seed_time,
    check_tracker_url,
    parse_peer,
)
from ..state import SessionStats, TorrentDetails
from . import recheck, special, status
from .adding import TorrentAdds, real_files
from .alerts import TorrentTable
from .completion import CompletionMoves
from .contain import TorrentContainment
from .dht import DhtItems, bind_ip
from .dht_peers import DhtPeers
from .faults import DiskFaults
from .file_reads import FileReads
from .flood import TrackerFloods
from .isolation import Containment
from .labels import TorrentLabels
from .moves import StorageMoves
from .pieces import PieceReader
from .record import TorrentRecord, resolve
from .records import TorrentRecords
from .removal import Removals
from .restoring import SLICE, RestoreQueue
from .resume import ResumeStore, merge_peers
from .saves import ResumeSaves
from .share_limits import ShareLimits
from .stats import SessionCounters
from .text import read_url

_TF = lt.torrent_flags


class TorrentManager:
    """The engine thread's torrents: state, alerts and commands."""

    def __init__(self, ses: lt.session, cfg: Config, store: ResumeStore,
                 default_save_path: Path, emit: Callable[[Event], None]):
        self._ses = ses
        self._cfg = cfg
        self.store = store
        self.default_save_path = default_save_path
        self._emit = emit
        self.restore_queue: RestoreQueue | None = None
        """The resume folder while it is being loaded (:meth:`begin_restore`)."""
        self.records = TorrentRecords()
        self.torrents = self.records.torrents
        """Every torrent by id (the records' own dict, never replaced)."""
        self.saves = ResumeSaves(self.records, store, emit)
        self.containment = Containment(emit)
        """Where an unexpected exception in one torrent's work ends (:mod:`.isolation`)."""
        self.contained = TorrentContainment(self.records, self.containment,
                                            self.saves.save_soon, emit)
        contain = self.contained.contain
        self.adds = TorrentAdds(ses, cfg, store, default_save_path, self.records,
                                self.saves.save_soon, emit)
        self.faults = DiskFaults(ses, cfg, self.records, self.adds, self.saves, contain, emit)
        self.floods = TrackerFloods(ses, self.records, self.faults, emit)
        self.moves = StorageMoves(self.records, self.saves.save_soon, emit)
        self.labels = TorrentLabels(store.folder, self.records, self.saves.save_soon,
                                    self.moves, emit)
        self.completion = CompletionMoves(cfg, default_save_path, self.records, self.moves,
                                          self.saves.save_soon, emit)
        self.pieces = PieceReader(self.records.id_for)
        self.file_reads = FileReads(self.pieces)
        self.dht = DhtItems(ses, bind_ip(cfg.network.listen_interfaces),
                            direct=cfg.proxy.type == "none")
        self.dht_peers = DhtPeers(ses)
        self.table = TorrentTable(ses, store, self.records, self.adds, self.saves,
                                  self.faults, self.moves, self.pieces, self.contained,
                                  self.completion.seen(emit))
        self.removals = Removals(ses, store, self.faults, self.table.forget, emit)
        self.counters = SessionCounters(cfg, default_save_path, self.records, emit)
        self.limits = ShareLimits(cfg, self.records, self.saves.save_soon, contain, emit)
        for part in (self.faults, self.floods, self.moves, self.removals, self.counters, self.dht,
                     self.pieces):
            self.table.register(part.handlers())
        self.table.register(self.dht_peers.handlers())

    # ------------------------------------------------------------------ shared settings

    @property
    def ses(self) -> lt.session:
        return self._ses

    @ses.setter
    def ses(self, ses: lt.session) -> None:
        """Set (to None) at stop, so that no part keeps the session alive."""
        self._ses = self.adds.ses = self.faults.ses = self.table.ses = self.removals.ses = ses

    @property
    def cfg(self) -> Config:
        return self._cfg

    @cfg.setter
    def cfg(self, cfg: Config) -> None:
        """A new config (``apply_config``): every part reads it from now on."""
        self._cfg = self.adds.cfg = self.faults.cfg = self.counters.cfg = self.limits.cfg = cfg
        self.completion.cfg = cfg

    # ------------------------------------------------------------------ the parts' state

    @property
    def dirty(self) -> bool:
        """Something changed that deserves a snapshot right away."""
        return self.records.dirty

    @dirty.setter
    def dirty(self, value: bool) -> None:
        self.records.dirty = value

    @property
    def torrents_changed(self) -> bool:
        """A torrent was added, removed or changed state since the last snapshot."""
        return self.records.torrents_changed

    @torrents_changed.setter
    def torrents_changed(self, value: bool) -> None:
        self.records.torrents_changed = value

    @property
    def stats(self) -> SessionStats:
        s = self.counters.stats
        loading = self.loading
        if s.loading != loading:
            s = self.counters.stats = msgspec.structs.replace(s, loading=loading)
        return s

    @property
    def listen_port(self) -> int:
        return self.counters.listen_port

    @property
    def saves_outstanding(self) -> int:
        """Resume data asked of libtorrent, or queued for disk, and not yet written."""
        return self.saves.outstanding

    @property
    def saves_asked(self) -> int:
        """Resume data asked of libtorrent whose alert has not come yet."""
        return self.saves.asked

    @property
    def waiting_on_time(self) -> bool:
        """Work that ends on a deadline the loop must meet (DHT puts and lookups, file
        reads) or on the disk (resume data): the loop stays at ``snapshot_hz``."""
        return bool(self.dht.waiting or self.dht_peers.waiting or self.file_reads.waiting
                    or self.saves.outstanding)


    def get(self, torrent_id: str) -> TorrentRecord:
        t = self.records.torrents.get(torrent_id)
        if t is None and self.loading:
            q = self.restore_queue
            if q is not None:
                q.take_now(torrent_id)  # in the session soon: asked again, it is there
                raise q.unknown(torrent_id)
            raise UnknownTorrentError(torrent_id, f"no torrent {torrent_id} yet: torrents "
                                                  f"are still loading")
        return self.records.get(torrent_id)

    def handle_alerts(self, alerts: list[Any]) -> None:
        self.table.handle_alerts(alerts)

    def save_all(self, only_modified: bool, counters: bool = True) -> int:
        return self.saves.save_all(only_modified, counters)

    def save_on_stop(self) -> int:
        return self.saves.save_on_stop()

    def run_durable(self, everything: bool = False) -> None:
        self.saves.run_durable(everything)

    def report_write_errors(self) -> None:
        self.saves.report_write_errors()

    def retry_disk_errors(self, now: float) -> None:
        self.faults.retry_disk_errors(now)

    def enforce_share_limits(self) -> float:
        """Pause what reached a share limit; the monotonic time the next seed-time limit
        falls due (infinity: none)."""
        return self.limits.enforce()

    # ------------------------------------------------------------------ commands

    def begin_restore(self) -> None:
        """Queue every torrent of the resume folder; :meth:`restore_step` adds them."""
        self.restore_queue = RestoreQueue(self.store, self.adds.restore_one,
                                          self.labels.recover, self._emit)
        self.adds.take_queued = self.restore_queue.take_now
        # a first slice before the engine says it is ready: a home of a few hundred
        # torrents is read and handed to libtorrent in it, as before the queue
        self.restore_step()

    def restore_step(self, budget: float = SLICE) -> bool:
        """A slice of the restore (:mod:`.restoring`); True while some is left."""
        q = self.restore_queue
        if q is None:
            return False
        more = q.step(budget)
        self.records.dirty = True  # SessionStats.loading changed
        if not more:
            self.restore_queue = None
            self.adds.take_queued = lambda torrent_id: None
        return more

    @property
    def loading(self) -> int:
        """Torrents of the resume folder not in the list yet."""
        q = self.restore_queue
        return (q.left if q is not None else 0) + self.adds.restoring + len(self.records.unlisted)

    def add(self, req: AddRequest, fut: Future[str]) -> None:
        prepared, complete_dir = self.completion.prepare(req, self.labels.prepare(req))
        added = self.adds.add(prepared, fut, complete_dir)
        if added and complete_dir:
            self.completion.added(added)

    # Commands that change what the resume file records resolve ``fut`` only once that
    # file is durable (``saves.save_soon(t, resolve(fut))``): an acknowledged change
    # survives a crash of the process right after the reply.

    def pause(self, torrent_id: str, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        if recheck.defer_pause(t):  # paused when the check ends
            self.saves.save_soon(t, resolve(fut))
            return
        t.handle.unset_flags(_TF.auto_managed)
        t.handle.pause(lt.torrent_handle.graceful_pause)
        self.saves.save_soon(t, resolve(fut))

    def resume(self, torrent_id: str, fut: Future[None]) -> None:
        t = self.get(torrent_id)
        found = special.problem_of(t.handle)
        if found is not None:
            raise special.refusal(found, "resume it")
        if t.extras.metadata_first and t.handle.status().has_metadata:
            t.extras.metadata_first = False  # the user has chosen: download now
            t.handle.unset_flags(_TF.upload_mode)
        t.extras.stopped_by_limit = False
        t.extras.pause_after_check = t.extras.manage_after_check = False
        self.completion.retry(t)
        self.contained.clear(t)
        if t.disk.error:
            self.faults.retry_disk(t)  # the user may have made room: try writing now
        t.handle.clear_error()
        t.handle.set_flags(_TF.auto_managed)
        t.handle.resume()
        for peer in t.peers:
            t.handle.connect_peer(peer)
        self.saves.save_soon(t, resolve(fut))

    def recheck(self, torrent_id: str) -> None:
        t = self.get(torrent_id)
        found = special.problem_of(t.handle)
        if found is not None:
            raise special.refusal(found, "check it again")
        recheck.start(t)  # a paused torrent too (libtorrent would wait for a resume)
        self.saves.save_soon(t)  # a restart in the middle checks again

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

    def remove(self, torrent_id: str, delete_data: bool, fut: Future[None]) -> None:
        self.removals.remove(self.get(torrent_id), delete_data, fut)

    def move(self, torrent_id: str, path: str, fut: Future[str]) -> None:
        t = self.get(torrent_id)
        self.moves.move(t, path, fut)
        self.completion.moved_by_hand(t)  # saved with the move's target

    def flush(self, torrent_id: str, fut: Future[None]) -> None:
        self.table.flush(self.get(torrent_id), fut)

    def set_limits(self, torrent_id: str, down: int | None, up: int | None,
                   fut: Future[None]) -> None:
        t = self.get(torrent_id)
        if down is not None:
            t.handle.set_download_limit(_limit(down, "download limit"))
        if up is not None:
            t.handle.set_upload_limit(_limit(up, "upload limit"))
        self.saves.save_soon(t, resolve(fut))

    def set_share_limits(self, torrent_id: str, ratio: float | None, seed_time: int | None,
                         fut: Future[None]) -> None:
        t = self.get(torrent_id)
        if ratio is not None:
            t.extras.ratio_limit = check_ratio(ratio, "ratio")
        if seed_time is not None:
            t.extras.seed_time_limit = check_seed_time(seed_time, "seed_time")
        self.saves.save_soon(t, resolve(fut))

    def set_file_priorities(self, torrent_id: str, priorities: dict[int, int],
                            fut: Future[None]) -> None:
        t = self.get(torrent_id)
        ti = t.handle.torrent_file()
        if ti is None:
            raise EngineError(f"torrent {torrent_id} has no metadata yet; wait for it")
        real = set(real_files(ti.layout()))
        current = list(t.handle.get_file_priorities())
        for index, prio in priorities.items():
            if index not in real:
                raise InputError(str(index), f"torrent {torrent_id} has no file with index "
                                             f"{index}")
            current[index] = check_priority(prio, f"file {index}")
        t.handle.prioritize_files(current)
        self.saves.save_soon(t, resolve(fut))

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
        self.saves.save_soon(t, resolve(fut))

    def add_trackers(self, torrent_id: str, urls: list[str], fut: Future[None]) -> None:
        t = self.get(torrent_id)
        checked = [check_tracker_url(u) for u in urls]
        tiers = [tier for _url, tier in self._tracker_list(t)]
        tier = (max(tiers) + 1) if tiers else 0
        for url in checked:
            t.handle.add_tracker({"url": url, "tier": tier})
            if url in t.dropped_trackers:  # the user wants it back
                t.dropped_trackers = {u: v for u, v in t.dropped_trackers.items() if u != url}
        self.saves.save_soon(t, resolve(fut))

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
        t.trackers = tuple((url, tier) for url, tier in current if url not in urls)
        self.saves.save_soon(t, resolve(fut))

    def _tracker_list(self, t: TorrentRecord) -> list[tuple[str, int]]:
        """(url, tier) of ``t``'s trackers: libtorrent's list, or the one the engine
        kept when libtorrent's cannot be read (a tracker message that is not UTF-8)."""
        self.records.read_trackers(t)
        return list(t.trackers)

    def add_peers(self, torrent_id: str, peers: list[str], fut: Future[None]) -> None:
        t = self.get(torrent_id)
        parsed = [parse_peer(p) for p in peers]
        merge_peers(t.extras, parsed)
        for p in parsed:
            t.handle.connect_peer(p)
        self.saves.save_soon(t, resolve(fut))  # kept: dialled again after a restart

    def details(self, torrent_id: str) -> TorrentDetails:
        t = self.get(torrent_id)
        h = t.handle
        s = h.status()  # every query flag: name, pieces, ...
        state = self.records.state_of(t, s)
        ti = h.torrent_file()
        files = status.files_of(h, ti) if ti is not None else ()
        pieces = piece_map(s.pieces, h.get_download_queue()) if ti is not None else b""
        magnet = read_url(lambda: lt.make_magnet_uri(h))
        return TorrentDetails(
            torrent=state, files=files, peers=status.peers_of(h),
            trackers=status.trackers_of(h, t.trackers, t.tracker_errors,
                                        t.dropped_trackers), pieces=pieces,
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
