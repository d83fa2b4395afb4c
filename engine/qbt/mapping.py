"""tidegate's values in qBittorrent's shapes (Web API v2 as qBittorrent 4.5 serves it).

Pure functions: a :class:`~engine.state.TorrentState` becomes the dict of
``torrents/info``, a :class:`~engine.state.TorrentDetails` the lists of
``torrents/files`` and ``torrents/trackers`` and the dict of ``torrents/properties``,
the session's numbers ``transfer/info`` and ``server_state``. Where tidegate has no
equivalent the value is the closest honest one (docs/qbittorrent-api.md lists each).
"""

from __future__ import annotations

import os.path
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from ..config import Config
from ..state import (
    CategoryState,
    FileState,
    Phase,
    SessionStats,
    TorrentDetails,
    TorrentState,
    TrackerState,
)

API_VERSION = "2.8.19"
"""The Web API version claimed: qBittorrent 4.5.2's, whose shapes and state strings
(``pausedDL``/``pausedUP``, not 5.x's ``stoppedDL``/``stoppedUP``) are served."""
APP_VERSION = "v4.5.2"
"""What ``app/version`` says: the qBittorrent whose API this one follows."""
INFINITE_ETA = 8640000
"""qBittorrent's ETA for "never" (100 days)."""


def qbt_hash(t: TorrentState) -> str:
    """qBittorrent's ``hash``: the v2 info-hash cut to 40 hex digits when there is one
    (hybrid too, as qBittorrent 4.x does), else the v1 info-hash."""
    if t.info_hash_v2:
        return t.info_hash_v2[:40]
    return t.info_hash_v1 or t.id


def category_of(t: TorrentState) -> str:
    return t.category


def tags_of(t: TorrentState) -> tuple[str, ...]:
    return t.tags


def state_of(t: TorrentState) -> str:
    """qBittorrent 4.x's state string for a torrent."""
    up = t.finished or (t.has_metadata and t.wanted > 0 and t.wanted_done >= t.wanted)
    phase = t.phase
    if phase == Phase.ERROR:
        low = t.error.lower()
        return "missingFiles" if "no such file" in low or "missing" in low else "error"
    if phase == Phase.MOVING:
        return "moving"
    if phase == Phase.CHECKING:
        return "checkingUP" if up else "checkingDL"
    if phase in (Phase.PAUSED, Phase.CHOOSE_FILES):
        return "pausedUP" if up else "pausedDL"
    if phase == Phase.QUEUED:
        return "queuedUP" if up else "queuedDL"
    if phase == Phase.METADATA:
        return "metaDL"
    if phase == Phase.DOWNLOADING:
        return "downloading" if t.download_rate > 0 else "stalledDL"
    return "uploading" if t.upload_rate > 0 else "stalledUP"


def _limit_ratio(value: float) -> float:
    """tidegate's per-torrent ratio limit (-1 global, 0 none) as qBittorrent's (-2 global,
    -1 none)."""
    if value < 0:
        return -2
    return -1 if value == 0 else value


def _limit_minutes(seconds: int) -> int:
    if seconds < 0:
        return -2
    return -1 if seconds == 0 else max(1, seconds // 60)


def effective_ratio(t: TorrentState, cfg: Config) -> float:
    value = t.ratio_limit if t.ratio_limit >= 0 else cfg.seeding.ratio_limit
    return value if value > 0 else -1


def effective_minutes(t: TorrentState, cfg: Config) -> int:
    value = t.seed_time_limit if t.seed_time_limit >= 0 else cfg.seeding.seed_time_limit
    return max(1, value // 60) if value > 0 else -1


def magnet(t: TorrentState) -> str:
    parts = []
    if t.info_hash_v1:
        parts.append(f"xt=urn:btih:{t.info_hash_v1}")
    if t.info_hash_v2:
        parts.append(f"xt=urn:btmh:1220{t.info_hash_v2}")
    parts.append(f"dn={quote(t.name, safe='')}")
    return "magnet:?" + "&".join(parts)


def torrent_info(t: TorrentState, cfg: Config) -> dict[str, Any]:
    """One element of ``torrents/info`` (and a value of ``sync/maindata``'s torrents)."""
    left = max(0, t.wanted - t.wanted_done)
    active = t.download_rate > 0 or t.upload_rate > 0
    return {
        "added_on": t.added_time,
        "amount_left": left,
        "auto_tmm": False,
        "availability": -1,
        "category": category_of(t),
        "completed": t.wanted_done,
        "completion_on": t.completed_time if t.completed_time > 0 else 0,
        "content_path": os.path.join(t.save_path, t.name) if t.has_metadata else t.save_path,
        "dl_limit": t.download_limit,
        "dlspeed": t.download_rate,
        "download_path": "",
        "downloaded": t.all_time_download,
        "downloaded_session": t.all_time_download,
        "eta": t.eta if t.eta >= 0 else INFINITE_ETA,
        "f_l_piece_prio": False,
        "force_start": False,
        "hash": qbt_hash(t),
        "infohash_v1": t.info_hash_v1 or "",
        "infohash_v2": t.info_hash_v2 or "",
        "last_activity": t.completed_time if not active else 0,
        "magnet_uri": magnet(t),
        "max_ratio": effective_ratio(t, cfg),
        "max_seeding_time": effective_minutes(t, cfg),
        "name": t.name,
        "num_complete": max(0, t.swarm_seeds),
        "num_incomplete": max(0, t.swarm_peers),
        "num_leechs": max(0, t.num_peers - t.num_seeds),
        "num_seeds": t.num_seeds,
        "priority": t.queue_position + 1 if t.queue_position >= 0 and not t.finished else 0,
        "progress": 1 if t.progress >= 1 else t.progress,
        "ratio": t.ratio,
        "ratio_limit": _limit_ratio(t.ratio_limit),
        "save_path": t.save_path,
        "seeding_time": t.seeding_time,
        "seeding_time_limit": _limit_minutes(t.seed_time_limit),
        "seen_complete": 0,
        "seq_dl": t.sequential,
        "size": t.wanted,
        "state": state_of(t),
        "super_seeding": False,
        "tags": ", ".join(tags_of(t)),
        "time_active": t.seeding_time,
        "total_size": t.total_size,
        "tracker": "",
        "trackers_count": 0,
        "up_limit": t.upload_limit,
        "uploaded": t.all_time_upload,
        "uploaded_session": t.all_time_upload,
        "upspeed": t.upload_rate,
    }


def file_priority(priority: int) -> int:
    """libtorrent's 0-7 as qBittorrent's 0 (skip), 1 (normal), 6 (high), 7 (maximal)."""
    if priority <= 0:
        return 0
    if priority <= 4:
        return 1
    return 6 if priority < 7 else 7


def files(details: TorrentDetails) -> list[dict[str, Any]]:
    """``torrents/files``: piece ranges from the files' offsets (pad files are not listed
    by tidegate, so a hybrid torrent's ranges may start a piece early)."""
    out = []
    offset = 0
    length = details.piece_length or 1
    f: FileState
    for f in details.files:
        last = offset + max(f.size, 1) - 1
        out.append({
            "availability": -1,
            "index": f.index,
            "is_seed": f.size > 0 and f.done >= f.size,
            "name": f.path,
            "piece_range": [offset // length, last // length],
            "priority": file_priority(f.priority),
            "progress": (f.done / f.size) if f.size else 1,
            "size": f.size,
        })
        offset += f.size
    return out


TRACKER_STATUS = {"working": 2, "announcing": 3, "error": 4, "not contacted": 1}


def trackers(details: TorrentDetails, cfg: Config) -> list[dict[str, Any]]:
    """``torrents/trackers``: the DHT, PeX and LSD rows qBittorrent always shows, then
    each tracker."""
    net = cfg.network
    out = []
    for name, on in (("DHT", net.enable_dht), ("PeX", net.enable_pex), ("LSD", net.enable_lsd)):
        out.append({"msg": "This torrent is private" if details.private else "",
                    "num_downloaded": 0, "num_leeches": 0, "num_peers": 0, "num_seeds": 0,
                    "status": 2 if on and not details.private else 0, "tier": -1,
                    "url": f"** [{name}] **"})
    tr: TrackerState
    for tr in details.trackers:
        out.append({"msg": tr.last_error, "num_downloaded": -1,
                    "num_leeches": tr.leechers, "num_peers": -1, "num_seeds": tr.seeds,
                    "status": TRACKER_STATUS.get(tr.status, 1), "tier": tr.tier,
                    "url": tr.url})
    return out


def properties(details: TorrentDetails, now: float) -> dict[str, Any]:
    """``torrents/properties``."""
    t = details.torrent
    elapsed = max(0, int(now) - t.added_time) if t.added_time else 0
    return {
        "addition_date": t.added_time,
        "comment": details.comment,
        "completion_date": t.completed_time if t.completed_time > 0 else -1,
        "created_by": details.creator,
        "creation_date": -1,
        "dl_limit": t.download_limit or -1,
        "dl_speed": t.download_rate,
        "dl_speed_avg": t.all_time_download // elapsed if elapsed else 0,
        "download_path": "",
        "eta": t.eta if t.eta >= 0 else INFINITE_ETA,
        "hash": qbt_hash(t),
        "infohash_v1": t.info_hash_v1 or "",
        "infohash_v2": t.info_hash_v2 or "",
        "is_private": details.private,
        "last_seen": -1,
        "name": t.name,
        "nb_connections": t.num_peers,
        "nb_connections_limit": -1,
        "peers": max(0, t.num_peers - t.num_seeds),
        "peers_total": max(0, t.swarm_peers),
        "piece_size": details.piece_length,
        "pieces_have": t.pieces_done,
        "pieces_num": t.num_pieces,
        "reannounce": 0,
        "save_path": t.save_path,
        "seeding_time": t.seeding_time,
        "seeds": t.num_seeds,
        "seeds_total": max(0, t.swarm_seeds),
        "share_ratio": t.ratio,
        "time_elapsed": elapsed,
        "total_downloaded": t.all_time_download,
        "total_downloaded_session": t.all_time_download,
        "total_size": t.total_size,
        "total_uploaded": t.all_time_upload,
        "total_uploaded_session": t.all_time_upload,
        "total_wasted": 0,
        "up_limit": t.upload_limit or -1,
        "up_speed": t.upload_rate,
        "up_speed_avg": t.all_time_upload // elapsed if elapsed else 0,
    }


def connection_status(stats: SessionStats) -> str:
    """qBittorrent's connection status: tidegate cannot tell whether incoming connections
    reach it, so a listening session is ``connected`` once it has a peer or DHT node,
    else ``firewalled``; not listening is ``disconnected``."""
    if not stats.listen_port:
        return "disconnected"
    return "connected" if stats.num_peers or stats.dht_nodes else "firewalled"


def transfer_info(stats: SessionStats) -> dict[str, Any]:
    return {
        "connection_status": connection_status(stats),
        "dht_nodes": stats.dht_nodes,
        "dl_info_data": stats.total_download,
        "dl_info_speed": stats.payload_download_rate,
        "dl_rate_limit": stats.download_limit,
        "up_info_data": stats.total_upload,
        "up_info_speed": stats.payload_upload_rate,
        "up_rate_limit": stats.upload_limit,
    }


def server_state(stats: SessionStats, torrents: Iterable[TorrentState],
                 cfg: Config) -> dict[str, Any]:
    """``sync/maindata``'s ``server_state``."""
    down = up = 0
    for t in torrents:
        down += t.all_time_download
        up += t.all_time_upload
    return {
        **transfer_info(stats),
        "alltime_dl": down,
        "alltime_ul": up,
        "average_time_queue": 0,
        "free_space_on_disk": stats.free_disk,
        "global_ratio": f"{up / down:.2f}" if down else "-",
        "queued_io_jobs": 0,
        "queueing": cfg.queue.active_downloads >= 0 or cfg.queue.active_limit >= 0,
        "read_cache_hits": "0",
        "read_cache_overload": "0",
        "refresh_interval": 1500,
        "total_buffers_size": 0,
        "total_peer_connections": stats.num_peers,
        "total_queued_size": 0,
        "total_wasted_session": 0,
        "use_alt_speed_limits": stats.alt_speed.on,
        "write_cache_overload": "0",
    }


def categories(snapshot_categories: Mapping[str, CategoryState]) -> dict[str, dict[str, str]]:
    """``torrents/categories``: name -> {name, savePath}."""
    return {name: {"name": name, "savePath": c.save_path}
            for name, c in snapshot_categories.items()}


def preferences(cfg: Config, save_path: str, port: int) -> dict[str, Any]:
    """``app/preferences``: the keys the tools read (Sonarr's and Radarr's
    ``QBittorrentPreferences``, qBittorrent's own defaults otherwise), with qBittorrent's
    names and types. Read-only: there is no ``setPreferences`` (the verb that set
    qBittorrent's "run a program on completion")."""
    net, q, seed, rates, qbt = cfg.network, cfg.queue, cfg.seeding, cfg.rates, cfg.qbt
    return {
        "save_path": save_path,
        "temp_path_enabled": False,
        "temp_path": "",
        "auto_tmm_enabled": False,
        "start_paused_enabled": False,
        "torrent_content_layout": "Original",
        "max_ratio_enabled": seed.ratio_limit > 0,
        "max_ratio": seed.ratio_limit if seed.ratio_limit > 0 else -1,
        "max_seeding_time_enabled": seed.seed_time_limit > 0,
        "max_seeding_time": seed.seed_time_limit // 60 if seed.seed_time_limit > 0 else -1,
        "max_ratio_act": 0,
        "queueing_enabled": q.active_downloads >= 0 or q.active_limit >= 0,
        "max_active_downloads": q.active_downloads,
        "max_active_uploads": q.active_seeds,
        "max_active_torrents": q.active_limit,
        "dont_count_slow_torrents": q.dont_count_slow_torrents,
        "dl_limit": rates.download,
        "up_limit": rates.upload,
        "limit_lan_peers": rates.limit_local_peers,
        "dht": net.enable_dht,
        "pex": net.enable_pex,
        "lsd": net.enable_lsd,
        "upnp": net.enable_upnp,
        "encryption": {"enabled": 0, "forced": 1, "disabled": 2}[net.encryption],
        "max_connec": net.connections_limit,
        "enable_multi_connections_from_same_ip": net.allow_multiple_connections_per_ip,
        "listen_port": port,
        "autorun_enabled": False,
        "autorun_program": "",
        "autorun_on_torrent_added_enabled": False,
        "autorun_on_torrent_added_program": "",
        "web_ui_address": qbt.listen,
        "web_ui_port": qbt.port,
        "web_ui_username": qbt.username,
        "bypass_local_auth": False,
        "bypass_auth_subnet_whitelist_enabled": False,
        "web_ui_csrf_protection_enabled": True,
        "web_ui_host_header_validation_enabled": True,
        "web_ui_domain_list": ";".join(qbt.server_domains),
        "web_ui_max_auth_fail_count": qbt.max_auth_fail_count,
        "web_ui_ban_duration": qbt.ban_duration,
        "web_ui_session_timeout": qbt.session_timeout,
        "use_https": False,
    }
