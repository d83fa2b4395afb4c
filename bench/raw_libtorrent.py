"""Download one torrent from one peer with bare libtorrent, as a baseline for tidegate.

Usage: python bench/raw_libtorrent.py TORRENT SAVE_DIR HOST:PORT [pread|posix|mmap|default]
       python bench/raw_libtorrent.py --seed TORRENT DATA_DIR [pread|posix|mmap|default]
       python bench/raw_libtorrent.py --recheck TORRENT DATA_DIR ROUNDS [pread|...]

Applies the same libtorrent settings ``tidegate download`` applies with the loopback bench
config (copied from engine/torrents/session.py and engine/config.py; nothing is imported
from tidegate), adds the torrent, dials the peer, waits for torrent_finished_alert, then
flush_cache() and cache_flushed_alert, and exits 0. Prints one JSON line with its own
timings (start_to_added_s counts from the first line of this script, after
the interpreter started). Exit 1 on a torrent or
file error, 2 on bad usage, 3 on timeout.

``--seed`` serves the torrent from DATA_DIR instead (after checking it) and prints
``{"port": N}`` once it serves, until SIGINT/SIGTERM. Environment ``RAW_LT_SETTINGS`` (a
JSON object of settings_pack names) overrides settings on either side, for
bench/settings_study.py; ``RAW_LT_UTP=1`` turns uTP on and TCP off; ``RAW_LT_DEFAULTS=1``
starts from libtorrent's own defaults instead of tidegate's settings, changing only what
loopback needs (LT_DEFAULTS_LOOPBACK), and leaves the peer classes alone.

``--recheck`` adds the torrent over complete data in DATA_DIR, waits for the check at add,
then ``force_recheck()`` ROUNDS times, each timed from the call to torrent_checked_alert,
and prints ``{"check_at_add_s": S, "rechecks_s": [S, ...]}`` (exit 1 if a check finds the
data incomplete). The torrent is not auto-managed, unless ``RAW_LT_AUTO_MANAGED=1`` (as
tidegate adds torrents: libtorrent then starts a forced recheck only at its next
auto-manage pass, up to ~1 s later).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

T_START = time.monotonic()

import libtorrent as lt  # noqa: E402  (imported after the clock starts on purpose)

TIMEOUT_S = 600.0

DISK_IO = {
    "default": "default_disk_io_constructor",
    "pread": "pread_disk_io_constructor",
    "posix": "posix_disk_io_constructor",
    "mmap": "mmap_disk_io_constructor",
}

ALERT_MASK = (
    lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.storage
    | lt.alert_category.tracker
    | lt.alert_category.file_progress
    | lt.alert_category.dht_operation
    | lt.alert_category.dht
)

# engine/torrents/session.py settings_for() with the bench config (loopback, no DHT/LSD/
# UPnP/NAT-PMP/uTP, several connections per IP) and every other key at tidegate's default.
SETTINGS = {
    "user_agent": "tidegate/0.1",
    "peer_fingerprint": "-TG0100-",
    "alert_mask": int(ALERT_MASK),
    "alert_queue_size": 100_000,
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "dht_bootstrap_nodes": "dht.libtorrent.org:25401,router.bittorrent.com:6881,"
                           "router.utorrent.com:6881",
    "dht_restrict_routing_ips": True,
    "dht_restrict_search_ips": True,
    "dht_ignore_dark_internet": True,
    "dht_enforce_node_id": True,
    "dht_prefer_verified_node_ids": True,
    "dht_block_ratelimit": 5,
    "in_enc_policy": int(lt.enc_policy.enabled),
    "out_enc_policy": int(lt.enc_policy.enabled),
    "allowed_enc_level": int(lt.enc_level.both),
    "connections_limit": 500,
    "allow_multiple_connections_per_ip": True,
    "download_rate_limit": 0,
    "upload_rate_limit": 0,
    "active_downloads": 8,
    "active_seeds": -1,
    "active_limit": -1,
    "active_checking": 1,
    "dont_count_slow_torrents": False,
    "proxy_type": int(lt.proxy_type_t.none),
    "proxy_hostname": "",
    "proxy_port": 0,
    "proxy_username": "",
    "proxy_password": "",
    "proxy_peer_connections": True,
    "proxy_tracker_connections": True,
    "proxy_hostnames": True,
    "hashing_threads": 2,
    "tick_interval": 100,
    "send_buffer_watermark": 3072 * 1024,
    "send_buffer_low_watermark": 1024 * 1024,
    "send_buffer_watermark_factor": 150,
    "max_queued_disk_bytes": 16384 * 1024,
    "stop_tracker_timeout": 2,
    "ssrf_mitigation": True,
    "validate_https_trackers": True,
    "allow_idna": False,
}

LOCAL_RANGES = [
    ("10.0.0.0", "10.255.255.255"), ("172.16.0.0", "172.31.255.255"),
    ("192.168.0.0", "192.168.255.255"), ("169.254.0.0", "169.254.255.255"),
    ("127.0.0.0", "127.255.255.255"), ("::1", "::1"),
    ("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
]


# With RAW_LT_DEFAULTS=1: libtorrent's defaults except what a loopback bench needs (listen
# on 127.0.0.1 only, nothing reaching outside, TCP only as for every client, and the alerts
# this script waits for).
LT_DEFAULTS_LOOPBACK = {
    "alert_mask": int(ALERT_MASK),
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
}


def lt_defaults() -> bool:
    return os.environ.get("RAW_LT_DEFAULTS") == "1"


def settings() -> dict[str, object]:
    """SETTINGS (or LT_DEFAULTS_LOOPBACK) with the study's overrides from the environment."""
    out = dict(LT_DEFAULTS_LOOPBACK if lt_defaults() else SETTINGS)
    if os.environ.get("RAW_LT_UTP") == "1":
        out.update(enable_outgoing_utp=True, enable_incoming_utp=True,
                   enable_outgoing_tcp=False, enable_incoming_tcp=False)
    out.update(json.loads(os.environ.get("RAW_LT_SETTINGS") or "{}"))
    return out


def make_session(disk_io: str) -> lt.session:
    params = lt.session_params()
    params.settings = settings()
    params.disk_io_constructor = DISK_IO[disk_io]
    ses = lt.session(params)  # session_params carries ut_metadata, ut_pex and smart_ban
    if lt_defaults():
        return ses
    # engine/torrents/session.py apply_peer_classes(): everyone in the global class, local
    # networks (loopback included) in the local class, exempt from the global rate limits.
    ip_filter = lt.ip_filter()
    ip_filter.add_rule("0.0.0.0", "255.255.255.255", 1 << ses.global_peer_class_id)
    ip_filter.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                       1 << ses.global_peer_class_id)
    for start, end in LOCAL_RANGES:
        ip_filter.add_rule(start, end, 1 << ses.local_peer_class_id)
    ses.set_peer_class_filter(ip_filter)
    return ses


def seed(torrent: str, data_dir: str, disk_io: str) -> int:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    ses = make_session(disk_io)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = data_dir
    tf = lt.torrent_flags
    atp.flags = (tf.default_flags & ~tf.paused & ~tf.auto_managed) | tf.duplicate_is_error
    handle = ses.add_torrent(atp)
    announced = False
    while not stop:
        ses.wait_for_alert(200)
        for a in ses.pop_alerts():
            if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                print(json.dumps({"error": a.message()}), flush=True)
                return 1
        if not announced and handle.status().is_seeding:
            print(json.dumps({"port": ses.listen_port()}), flush=True)
            announced = True
    return 0


def recheck(torrent: str, data_dir: str, rounds: int, disk_io: str) -> int:
    ses = make_session(disk_io)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = data_dir
    tf = lt.torrent_flags
    atp.flags = (tf.default_flags & ~tf.paused & ~tf.auto_managed) | tf.duplicate_is_error
    if os.environ.get("RAW_LT_AUTO_MANAGED") == "1":
        atp.flags |= tf.auto_managed
    t0 = time.monotonic()
    handle = ses.add_torrent(atp)
    times = []
    for rnd in range(rounds + 1):
        if rnd:
            t0 = time.monotonic()
            handle.force_recheck()
        deadline = t0 + TIMEOUT_S
        checked = None
        while checked is None:
            if time.monotonic() > deadline:
                print(json.dumps({"error": f"no check within {TIMEOUT_S:g} s"}), flush=True)
                return 3
            ses.wait_for_alert(500)
            for a in ses.pop_alerts():
                if isinstance(a, lt.torrent_checked_alert):
                    checked = time.monotonic()
                elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                    print(json.dumps({"error": a.message()}), flush=True)
                    return 1
        if handle.status().progress_ppm != 1_000_000:
            print(json.dumps({"error": "the data is not complete"}), flush=True)
            return 1
        times.append(round(checked - t0, 4))
    print(json.dumps({"check_at_add_s": times[0], "rechecks_s": times[1:]}), flush=True)
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--recheck":
        if (len(argv) not in (4, 5) or not argv[3].isdigit()
                or (len(argv) == 5 and argv[4] not in DISK_IO)):
            print(__doc__.strip().splitlines()[4], file=sys.stderr)
            return 2
        return recheck(argv[1], argv[2], int(argv[3]), argv[4] if len(argv) == 5 else "pread")
    if argv and argv[0] == "--seed":
        if len(argv) not in (3, 4) or (len(argv) == 4 and argv[3] not in DISK_IO):
            print(__doc__.strip().splitlines()[3], file=sys.stderr)
            return 2
        return seed(argv[1], argv[2], argv[3] if len(argv) == 4 else "pread")
    if len(argv) not in (3, 4) or (len(argv) == 4 and argv[3] not in DISK_IO):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    torrent, save_dir, peer = argv[0], argv[1], argv[2]
    disk_io = argv[3] if len(argv) == 4 else "pread"
    host, _, port = peer.rpartition(":")
    ses = make_session(disk_io)

    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save_dir
    tf = lt.torrent_flags
    atp.flags = ((tf.default_flags & ~tf.paused) | tf.duplicate_is_error) & ~tf.disable_pex
    handle = ses.add_torrent(atp)
    handle.connect_peer((host.strip("[]"), int(port)))
    t_added = time.monotonic()

    t_finished = None
    deadline = t_added + TIMEOUT_S
    while time.monotonic() < deadline:
        ses.wait_for_alert(500)
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_finished_alert):
                t_finished = time.monotonic()
                handle.flush_cache()
            elif isinstance(a, lt.cache_flushed_alert) and t_finished is not None:
                t_flushed = time.monotonic()
                size = atp.ti.total_size()
                print(json.dumps({
                    "bytes": size,
                    "start_to_added_s": round(t_added - T_START, 4),
                    "added_to_finished_s": round(t_finished - t_added, 4),
                    "finished_to_flushed_s": round(t_flushed - t_finished, 4),
                    "added_to_flushed_s": round(t_flushed - t_added, 4),
                }), flush=True)
                return 0
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                print(json.dumps({"error": a.message()}), flush=True)
                return 1
    print(json.dumps({"error": f"not finished within {TIMEOUT_S:g} s"}), flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
