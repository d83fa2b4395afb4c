"""Converting libtorrent status and info objects into engine values.

Pure copying: every function takes a libtorrent object and returns frozen
values, so nothing from libtorrent outlives the engine thread's loop iteration.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import libtorrent as lt

from ..state import FileState, PeerState, Phase, TorrentState, TrackerState
from .inputs import hash_hex
from .resume import TorrentExtras

_S = lt.torrent_status.states
_CHECKING = {_S.checking_files, _S.checking_resume_data}
if hasattr(_S, "allocating"):
    _CHECKING.add(_S.allocating)


def phase_of(s: lt.torrent_status, extras: TorrentExtras) -> Phase:
    if s.errc.value():
        return Phase.ERROR
    if s.moving_storage:
        return Phase.MOVING
    paused = bool(s.flags & lt.torrent_flags.paused)
    if s.state in _CHECKING:
        return Phase.CHECKING
    if extras.metadata_first and s.has_metadata and not (
            paused and not s.flags & lt.torrent_flags.auto_managed):
        return Phase.CHOOSE_FILES
    if paused:
        auto = bool(s.flags & lt.torrent_flags.auto_managed)
        return Phase.QUEUED if auto else Phase.PAUSED
    if s.state == _S.downloading_metadata:
        return Phase.METADATA
    if s.state == _S.seeding:
        return Phase.SEEDING
    if s.state == _S.finished:
        return Phase.FINISHED
    return Phase.DOWNLOADING


def ratio_of(s: lt.torrent_status) -> float:
    down = s.all_time_download or s.total_wanted_done
    return s.all_time_upload / down if down > 0 else 0.0


def torrent_state(
    torrent_id: str, s: lt.torrent_status, extras: TorrentExtras, flushed: bool
) -> TorrentState:
    v1, v2 = hash_hex(s.info_hashes)
    phase = phase_of(s, extras)
    remaining = s.total_wanted - s.total_wanted_done
    # libtorrent stops updating a paused torrent, so its last rates would linger.
    idle = phase in (Phase.PAUSED, Phase.QUEUED, Phase.CHOOSE_FILES, Phase.ERROR)
    rate = 0 if idle else s.download_payload_rate
    eta = remaining // rate if (phase == Phase.DOWNLOADING and rate > 0) else -1
    return TorrentState(
        id=torrent_id,
        name=s.name or torrent_id,
        info_hash_v1=v1,
        info_hash_v2=v2,
        phase=phase,
        progress=float(s.progress),
        total_size=s.total if s.has_metadata else 0,
        wanted=s.total_wanted,
        wanted_done=s.total_wanted_done,
        download_rate=rate,
        upload_rate=0 if idle else s.upload_payload_rate,
        num_peers=s.num_peers,
        num_seeds=s.num_seeds,
        swarm_seeds=s.num_complete,
        swarm_peers=s.num_incomplete,
        all_time_download=s.all_time_download,
        all_time_upload=s.all_time_upload,
        ratio=ratio_of(s),
        eta=int(eta),
        save_path=s.save_path,
        added_time=int(s.added_time),
        completed_time=int(s.completed_time),
        seeding_time=int(s.seeding_duration.total_seconds()),
        has_metadata=s.has_metadata,
        paused=bool(s.flags & lt.torrent_flags.paused)
        and not (s.flags & lt.torrent_flags.auto_managed),
        sequential=bool(s.flags & lt.torrent_flags.sequential_download),
        queue_position=int(s.queue_position),
        download_limit=max(0, s.download_limit),
        upload_limit=max(0, s.upload_limit),
        ratio_limit=extras.ratio_limit,
        seed_time_limit=extras.seed_time_limit,
        complete_on_disk=bool(s.is_finished and s.has_metadata and flushed and s.total_wanted > 0),
        error=s.errc.message() if s.errc.value() else "",
        num_pieces=s.num_pieces if s.has_metadata else 0,
        pieces_done=s.num_pieces,
    )


def files_of(h: lt.torrent_handle, ti: lt.torrent_info) -> tuple[FileState, ...]:
    fs = ti.layout()
    progress = h.file_progress()
    prios = h.get_file_priorities()
    renamed = h.status(lt.status_flags_t.query_renamed_files).renamed_files
    out = []
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        out.append(FileState(index=i, path=renamed.file_path(fs, i), size=fs.file_size(i),
                             done=int(progress[i]), priority=int(prios[i])))
    return tuple(out)


def _peer_flags(p: lt.peer_info) -> str:
    f = p.flags
    letters = []
    if f & lt.peer_info.seed:
        letters.append("S")
    if f & (lt.peer_info.rc4_encrypted | lt.peer_info.plaintext_encrypted):
        letters.append("E")
    if not f & lt.peer_info.local_connection:
        letters.append("I")
    if f & lt.peer_info.remote_choked:
        letters.append("C")
    if f & lt.peer_info.choked:
        letters.append("c")
    return "".join(letters)


def peers_of(h: lt.torrent_handle) -> tuple[PeerState, ...]:
    out = []
    for p in h.get_peer_info():
        addr, port = p.ip
        client = p.client.decode("utf-8", "replace") if isinstance(p.client, bytes) else p.client
        out.append(PeerState(address=str(addr), port=int(port), client=str(client),
                             flags=_peer_flags(p), download_rate=p.payload_down_speed,
                             upload_rate=p.payload_up_speed, progress=float(p.progress)))
    return tuple(out)


def trackers_of(h: lt.torrent_handle) -> tuple[TrackerState, ...]:
    out = []
    for t in h.trackers():
        seeds = leechers = -1
        next_in = -1
        status = "not contacted"
        last_error = ""
        for ep in t.get("endpoints", []):
            for ih in ep.get("info_hashes", []):
                if ih.get("scrape_complete", -1) >= 0:
                    seeds = max(seeds, ih["scrape_complete"])
                if ih.get("scrape_incomplete", -1) >= 0:
                    leechers = max(leechers, ih["scrape_incomplete"])
                err = ih.get("last_error") or {}
                if err.get("value"):
                    last_error = ih.get("message") or _error_text(err)
                    status = "error"
                elif ih.get("updating"):
                    status = "announcing"
                elif ih.get("start_sent"):
                    status = "working"
                na = ih.get("next_announce")
                if na is not None and hasattr(na, "timestamp"):
                    next_in = max(0, int(na.timestamp() - time.time()))
        out.append(TrackerState(url=t["url"], tier=int(t["tier"]), status=status, seeds=seeds,
                                leechers=leechers, next_announce=next_in, last_error=last_error))
    return tuple(out)


_CATEGORIES = {"libtorrent": "get_libtorrent_category", "http": "get_http_category",
               "bdecode": "get_bdecode_category", "socks": "get_socks_category",
               "i2p error": "get_i2p_category", "upnp": "get_upnp_category"}
"""libtorrent's own error categories, whose messages it can give by value."""


def _error_text(err: Mapping[str, Any]) -> str:
    """libtorrent reports tracker errors as ``{value, category}``; name them like strerror
    (``libtorrent error 201`` said nothing; its message is ``blocked by SSRF mitigation``)."""
    value = err.get("value")
    category = str(err.get("category", ""))
    if isinstance(value, int) and category in ("system", "generic", "asio.system", ""):
        try:
            return os.strerror(value)
        except ValueError:
            pass
    getter = _CATEGORIES.get(category)
    if isinstance(value, int) and getter is not None:
        try:
            message = str(getattr(lt, getter)().message(value))
        except (AttributeError, RuntimeError, TypeError, OverflowError):
            message = ""
        if message:
            return message
    return f"{category} error {value}".strip()
