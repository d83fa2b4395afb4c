"""Building and checking libtorrent session settings from our config.

The settings are a pure function of :class:`~engine.config.Config`, so the
same dict serves session creation and live re-application.
"""

from __future__ import annotations

from typing import Any

import libtorrent as lt

from ..config import Config, tor_socks
from ..errors import EngineError

ALERT_MASK = (
    lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.storage
    | lt.alert_category.tracker
    | lt.alert_category.peer  # peer_ban_alert: a peer that sent bad data was banned
    | lt.alert_category.file_progress
    | lt.alert_category.dht_operation  # BEP 44 get results (sites)
    | lt.alert_category.dht  # BEP 44 put results (dht_put_alert is in this category)
)

_ENC = {
    "enabled": (lt.enc_policy.enabled, lt.enc_level.both),
    "forced": (lt.enc_policy.forced, lt.enc_level.rc4),
    "disabled": (lt.enc_policy.disabled, lt.enc_level.plaintext),
}
_PROXY = {
    "none": lt.proxy_type_t.none,
    "socks5": lt.proxy_type_t.socks5,
    "http": lt.proxy_type_t.http,
}

# Settings we rely on for safety; asserted after every apply.
SAFETY = {"ssrf_mitigation": True, "validate_https_trackers": True, "allow_idna": False}

USER_AGENT = "tidegate/0.1"
PEER_FINGERPRINT = "-TG0100-"


def settings_for(cfg: Config) -> dict[str, Any]:
    """The libtorrent settings dict for this config."""
    net = cfg.network
    enc_policy, enc_level = _ENC[net.encryption]
    proxy = cfg.proxy
    proxy_type = _PROXY[proxy.type]
    if proxy.type != "none" and proxy.username:
        with_password = {"socks5": lt.proxy_type_t.socks5_pw, "http": lt.proxy_type_t.http_pw}
        proxy_type = with_password[proxy.type]
    perf = cfg.performance
    settings = {
        "user_agent": USER_AGENT,
        "peer_fingerprint": PEER_FINGERPRINT,
        "alert_mask": int(ALERT_MASK),
        "alert_queue_size": 100_000,
        "listen_interfaces": net.listen_interfaces,
        "enable_dht": net.enable_dht,
        "enable_lsd": net.enable_lsd,
        "enable_upnp": net.enable_upnp,
        "enable_natpmp": net.enable_natpmp,
        "enable_outgoing_utp": net.enable_utp,
        "enable_incoming_utp": net.enable_utp,
        "dht_bootstrap_nodes": ",".join(net.dht_bootstrap_nodes),
        "dht_restrict_routing_ips": not net.dht_private_network,
        "dht_restrict_search_ips": not net.dht_private_network,
        "dht_ignore_dark_internet": not net.dht_private_network,
        "dht_enforce_node_id": not net.dht_private_network,
        "dht_prefer_verified_node_ids": not net.dht_private_network,
        # libtorrent blocks an IP sending over 5 DHT requests/s for 5 minutes; a private
        # DHT on one host is all one IP, so the whole network would block itself.
        "dht_block_ratelimit": 100_000 if net.dht_private_network else 5,
        # ... and it sends at most 8000 DHT bytes/s (its default): on a private DHT on one
        # host the sites' link lookups, krpc lookups and puts together passed it, replies
        # were dropped, and a put's own lookup missed the item it replaces: its seq was
        # too low, every node refused it, and libtorrent still counted it stored.
        "dht_upload_rate_limit": 1_000_000 if net.dht_private_network else 8000,
        "dht_item_lifetime": net.dht_item_lifetime,
        "dht_read_only": net.dht_read_only,
        "in_enc_policy": int(enc_policy),
        "out_enc_policy": int(enc_policy),
        "allowed_enc_level": int(enc_level),
        "connections_limit": net.connections_limit,
        "allow_multiple_connections_per_ip": net.allow_multiple_connections_per_ip,
        "download_rate_limit": cfg.rates.download,
        "upload_rate_limit": cfg.rates.upload,
        "active_downloads": cfg.queue.active_downloads,
        "active_seeds": cfg.queue.active_seeds,
        "active_limit": cfg.queue.active_limit,
        "active_checking": 1,
        "dont_count_slow_torrents": cfg.queue.dont_count_slow_torrents,
        "proxy_type": int(proxy_type),
        "proxy_hostname": proxy.host,
        "proxy_port": proxy.port,
        "proxy_username": proxy.username,
        "proxy_password": proxy.password,
        "proxy_peer_connections": proxy.peers,
        "proxy_tracker_connections": proxy.trackers,
        "proxy_hostnames": proxy.hostnames,
        "hashing_threads": cfg.storage.hashing_threads,
        "tick_interval": cfg.engine.tick_interval_ms,
        "send_buffer_watermark": perf.send_buffer_watermark_kib * 1024,
        "send_buffer_low_watermark": perf.send_buffer_low_watermark_kib * 1024,
        "send_buffer_watermark_factor": perf.send_buffer_watermark_factor,
        # libtorrent 2.1 lets 100 MiB of received data wait for the disk; on loopback that
        # was only memory: 16 MiB cut the downloader's peak RSS from ~180 to ~100 MiB at
        # the same speed (docs/BENCHMARKS.md, "Settings that matter").
        "max_queued_disk_bytes": perf.max_queued_disk_kib * 1024,
        "stop_tracker_timeout": 2,
        # libtorrent caches a UDP tracker's connection id for this long in a process-wide
        # map keyed by IP address alone: another UDP tracker on the same address (another
        # port) or a restarted one gets that id and answers "Connection ID missmatch",
        # failing the announce. 0: every announce connects first (one more 16-byte round
        # trip; BEP 15 allows both). tests/interop/test_trackers.py shows it.
        "udp_tracker_token_expiry": 0,
        # Every tracker of every tier is asked, not only the first that answers: a tracker
        # that answers with a list of junk peers would otherwise hide the swarm the other
        # trackers know (tests/reliability/test_hostile_net.py).
        "announce_to_all_tiers": True,
        "announce_to_all_trackers": True,
        **SAFETY,
    }
    if cfg.tor.mode == "tor-all":
        settings.update(tor_all_settings(cfg))
    return settings


def tor_all_settings(cfg: Config) -> dict[str, Any]:
    """``tor.mode = "tor-all"``: every peer and tracker connection through tor's SOCKS
    port (names resolved by tor), nothing libtorrent cannot send through it (DHT, uTP,
    LSD, UPnP, NAT-PMP; UDP trackers fail, as tor's SOCKS has no UDP), no identifying
    peer id or user agent, and a listen socket on loopback only (docs/tor.md)."""
    host, port = tor_socks(cfg)
    return {
        "proxy_type": int(lt.proxy_type_t.socks5),
        "proxy_hostname": host,
        "proxy_port": port,
        "proxy_username": "",
        "proxy_password": "",
        "proxy_peer_connections": True,
        "proxy_tracker_connections": True,
        "proxy_hostnames": True,
        "force_proxy": True,
        "anonymous_mode": True,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "listen_interfaces": "127.0.0.1:0",
    }


def disk_io_name(cfg: Config) -> str:
    """The binding's name for the configured disk backend."""
    return {
        "default": "default_disk_io_constructor",
        "pread": "pread_disk_io_constructor",
        "posix": "posix_disk_io_constructor",
        "mmap": "mmap_disk_io_constructor",
    }[cfg.storage.disk_io]


def make_session(cfg: Config) -> lt.session:
    """Create a session for this config and check the safety settings took."""
    params = lt.session_params()
    params.settings = settings_for(cfg)  # type: ignore[assignment]  # binding takes dicts
    params.disk_io_constructor = disk_io_name(cfg)
    try:
        ses = lt.session(params)
    except (RuntimeError, KeyError) as exc:
        raise EngineError(f"libtorrent refused the session settings: {exc}") from None
    # session_params already carries the default plugins (ut_metadata, ut_pex,
    # smart_ban); adding them again would run each twice per peer. PEX is switched
    # per torrent (disable_pex) so it can change live.
    apply_peer_classes(ses, cfg)
    assert_safety(ses)
    return ses


_LOCAL_RANGES = [
    ("10.0.0.0", "10.255.255.255"), ("172.16.0.0", "172.31.255.255"),
    ("192.168.0.0", "192.168.255.255"), ("169.254.0.0", "169.254.255.255"),
    ("127.0.0.0", "127.255.255.255"), ("::1", "::1"),
    ("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
]


def apply_peer_classes(ses: lt.session, cfg: Config) -> None:
    """Put every peer in the global (rate-limited) class; LAN peers stay exempt
    unless ``rates.limit_local_peers``."""
    f = lt.ip_filter()
    global_class = 1 << ses.global_peer_class_id
    f.add_rule("0.0.0.0", "255.255.255.255", global_class)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", global_class)
    if not cfg.rates.limit_local_peers:
        for start, end in _LOCAL_RANGES:
            f.add_rule(start, end, 1 << ses.local_peer_class_id)
    ses.set_peer_class_filter(f)


def assert_safety(ses: lt.session) -> None:
    """Fail loudly if a safety setting is not what we require."""
    current = ses.get_settings()
    for key, wanted in SAFETY.items():
        if current.get(key) != wanted:
            raise EngineError(f"libtorrent setting {key} is {current.get(key)!r}, need {wanted!r}")
