"""The configuration's declaration: every section and key, its type and its default.

Every key is optional and documented here, in one declaration: the defaults live in the
Struct fields and nowhere else. :mod:`.load` checks and reads them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .comments import CommentsConfig
from .completion import CompletionConfig
from .rss import RssConfig
from .schedule import ScheduleConfig
from .watchhooks import HooksConfig, WatchConfig


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class NetworkConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the session meets the network."""

    listen_interfaces: str = "0.0.0.0:6881,[::]:6881"
    """Comma-separated ``host:port`` pairs to listen on (libtorrent syntax); port 0 picks one."""
    enable_dht: bool = True
    """Find peers through the mainline DHT."""
    enable_lsd: bool = True
    """Local service discovery (multicast on the LAN)."""
    enable_pex: bool = True
    """Peer exchange with connected peers (applies to every torrent, live)."""
    enable_upnp: bool = True
    """Ask the router to forward the listen port (UPnP)."""
    enable_natpmp: bool = True
    """Ask the router to forward the listen port (NAT-PMP)."""
    enable_utp: bool = True
    """Use uTP (UDP) besides TCP for peer connections."""
    dht_bootstrap_nodes: list[str] = msgspec.field(
        default_factory=lambda: [
            "dht.libtorrent.org:25401",
            "router.bittorrent.com:6881",
            "router.utorrent.com:6881",
        ]
    )
    """``host:port`` DHT nodes used to join the network."""
    encryption: Literal["enabled", "forced", "disabled"] = "enabled"
    """Peer wire encryption: allow both, require it, or never use it."""
    connections_limit: int = 500
    """Maximum peer connections across all torrents."""
    allow_multiple_connections_per_ip: bool = True
    """Accept several peers from one address: peers on one host (a ``--peer`` swarm on
    loopback) or behind one NAT. libtorrent's own default (off) dropped the second
    downloader of a loopback swarm, which then waited ~60 s; ``connections_limit``
    still bounds what one address can take."""
    dht_nodes: list[str] = msgspec.field(default_factory=list)
    """``host:port`` DHT nodes added to the routing table at start (a private DHT)."""
    dht_private_network: bool = False
    """Let the DHT route through and store from loopback and LAN addresses, several nodes
    per address (libtorrent refuses them by default): only for a DHT of your own nodes."""
    dht_item_lifetime: int = 0
    """Seconds this node keeps a BEP 44 item after its last put (0: libtorrent's default,
    for ever; libtorrent raises anything below 7200 to 7200)."""
    dht_read_only: bool = False
    """Ask the DHT without answering it (BEP 43): this node stores nothing for others."""


class RatesConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Global rate limits in bytes per second; 0 means unlimited."""

    download: int = 0
    """Global download limit, bytes/s."""
    upload: int = 0
    """Global upload limit, bytes/s."""
    limit_local_peers: bool = False
    """Apply the limits to peers on the LAN and loopback too (libtorrent exempts them)."""


class QueueConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How many torrents run at once; the rest wait in the queue. -1 is unlimited."""

    active_downloads: int = 8
    """Torrents downloading at once."""
    active_seeds: int = -1
    """Torrents seeding at once (libtorrent's default of 5 is too few for hosting)."""
    active_limit: int = -1
    """All active torrents together."""
    dont_count_slow_torrents: bool = False
    """Let torrents with no transfer leave their slot to the next in the queue."""


class SeedingConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When a finished torrent stops seeding by itself. 0 disables a limit."""

    ratio_limit: float = 0.0
    """Stop seeding once uploaded/downloaded reaches this ratio."""
    seed_time_limit: int = 0
    """Stop seeding after this many seconds spent seeding."""


class ProxyConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An outgoing proxy for peers and trackers."""

    type: Literal["none", "socks5", "http"] = "none"
    """Proxy protocol."""
    host: str = ""
    """Proxy host name or address."""
    port: int = 0
    """Proxy port."""
    username: str = ""
    """User name, when the proxy needs one."""
    password: str = ""
    """Password, when the proxy needs one."""
    peers: bool = True
    """Send peer connections through the proxy."""
    trackers: bool = True
    """Send tracker requests through the proxy."""
    hostnames: bool = True
    """Let the proxy resolve host names (no local DNS lookups)."""


class StorageConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where data goes and how it is written."""

    download_dir: str = ""
    """Default download folder; empty means the platform's Downloads folder."""
    disk_io: Literal["default", "pread", "posix", "mmap"] = "pread"
    """libtorrent disk backend. pread: throughput equal to or better than mmap with a
    fraction of the memory (mmap shows the data size as RSS); see docs/BENCHMARKS.md."""
    hashing_threads: int = 2
    """Threads hashing pieces (recheck speed nearly doubles with 2 on 2 cores)."""
    resume_save_interval: float = 60.0
    """Seconds between periodic saves of resume data for torrents that changed: pieces,
    settings, state, metadata."""
    counters_save_interval: float = 900.0
    """Seconds between saves of torrents whose only change is their counters (bytes up and
    down, active and seeding time, scrape figures). A seed's counters change every second:
    saving them at every ``resume_save_interval`` rewrote every seed's file each time,
    which stalled an engine holding thousands (docs/BENCHMARKS.md). After a crash these
    figures can be this far behind; nothing else is."""
    disk_retry_interval: float = 30.0
    """Seconds between attempts to write again to a torrent whose download folder failed
    a write (full, read-only): meanwhile it shows the error and only seeds. ``resume``
    tries again at once."""


class LimitsConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Bounds on untrusted input, checked before libtorrent sees it."""

    max_torrent_file_size: int = 32 * 1024 * 1024
    """Largest .torrent file accepted, bytes."""
    max_files: int = 100_000
    """Most files one torrent may list."""
    max_pieces: int = 0x200000
    """Most pieces one torrent may have."""
    max_decode_tokens: int = 3_000_000
    """Most bencode tokens in one .torrent or resume file."""
    max_decode_depth: int = 100
    """Deepest bencode nesting accepted."""


class EngineConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The engine thread itself."""

    snapshot_hz: float = 4.0
    """Status polls (and so snapshots, when something changed) per second while anything
    moves or a frontend watches, plus one on every important change; while nothing moves
    and no one watches the engine polls less often, down to one per 30 s (engine/pacer.py)."""
    stop_timeout: float = 15.0
    """Seconds ``stop`` waits for resume data before giving up."""
    tick_interval_ms: int = 100
    """libtorrent's internal tick; 100 makes connect_peer take effect within 0.1 s."""
    idle_tick_interval_ms: int = 500
    """libtorrent's tick while nothing moves and no one watches (after ~5 s of status polls
    that showed nothing new, engine/pacer.py); ``tick_interval_ms`` again at once on any
    activity. libtorrent alone, 100 idle seeds: 0.077 % of a core at a 100 ms tick, 0.027 %
    at 500. The price: the first transfer after an idle spell waits for the slow tick
    already armed (add to complete of 64 KiB from a loopback seed: median 0.9 s instead of
    0.08 s; docs/BENCHMARKS.md "Idle CPU"). Set it to ``tick_interval_ms`` to keep one
    tick."""


class PerformanceConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Throughput knobs, measured in bench/ (docs/BENCHMARKS.md)."""

    send_buffer_watermark_kib: int = 3072
    """Upper bound of a peer's send buffer; 3 MiB measured ~1.5x seed throughput."""
    send_buffer_low_watermark_kib: int = 1024
    """Refill the send buffer when it drops below this."""
    send_buffer_watermark_factor: int = 150
    """Percent of the upload rate kept buffered per peer."""
    max_queued_disk_kib: int = 16384
    """Received bytes waiting to be written before peers are read no more; libtorrent's
    100 MiB only grew the downloader's memory (16 MiB: ~40% less peak RSS, same speed)."""


class ApiConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The daemon's engine API over ZeroMQ (docs/api.md)."""

    endpoint: str = ""
    """Command socket the daemon binds and clients dial. Empty: ``ipc://<runtime dir>/api.sock``.
    A ``tcp://HOST:PORT`` endpoint always requires CURVE keys."""
    publish_endpoint: str = ""
    """Snapshot and event socket. Empty: next to the command socket (``api.sock`` ->
    ``api-events.sock``), or for tcp the command port + 1 (``*`` when the port is ``*``)."""
    authorized_keys: list[str] = msgspec.field(default_factory=list)
    """CURVE public keys (Z85) of clients allowed on tcp endpoints
    (`tidegate daemon --show-keys` prints a machine's client key)."""
    server_key: str = ""
    """For clients dialling tcp: the daemon's CURVE public key. Empty: this machine's own
    daemon key (from the data folder)."""
    request_timeout: float = 15.0
    """Seconds a client waits for a reply before it reports the daemon unavailable."""
    max_message_size: int = 64 * 1024 * 1024
    """Largest request the daemon reads, bytes. Up to twice this it answers ``too_large``;
    beyond that libzmq drops the sender's connection without a reply."""


class BusConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The component bus between the Smart Proxy, the Blockchain Handler and Hosting."""

    blockchain_endpoint: str = "inproc://tidegate-bus-blockchain"
    """Where the Blockchain Handler receives ``{"hostname"}`` requests."""
    hosting_endpoint: str = "inproc://tidegate-bus-hosting"
    """Where the Hosting Component receives ``{"time", "snapshot", "hosts"}`` messages."""
    hostname_dedup_seconds: float = 5.0
    """A hostname request repeated within this window is sent once."""


class SitesConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Published and followed sites (docs/sites.md)."""

    enabled: bool = True
    """Run the Blockchain Handler and the Hosting Component in the daemon and the TUI."""
    poll_interval: float = 300.0
    """Seconds between DHT lookups of each followed site's head."""
    announce_interval: float = 1800.0
    """Seconds between DHT puts of each owned site's head. BEP 44 items expire about 2 h
    after their last put, so at most 3600 is used. A put that landed on no node is tried
    again within seconds, and every head is put again when the DHT gets nodes."""
    reput_interval: float = 1800.0
    """Followers: seconds between re-puts of each followed site's signed head (and BEP 46
    item), unchanged, so the site resolves while its owner is away (at most 3600 is used:
    BEP 44 items expire after 2 h; 0: off)."""
    fetch_timeout: float = 600.0
    """Seconds a chain or snapshot download may make no progress before it is retried."""
    keep_snapshots: int = 3
    """Snapshots of each site kept on disk and seeded; older ones are removed."""
    push_endpoints: list[str] = msgspec.field(default_factory=list)
    """Other nodes' ``bus.blockchain_endpoint`` s: told at once when a site here publishes."""
    visit_check_interval: float = 10.0
    """A page of a followed site opened in the proxy makes its head be looked up at once
    when the last lookup is older than this many seconds (0: at every visit, at most once
    per ``bus.hostname_dedup_seconds``)."""
    links: bool = True
    """Push new heads over live links to the other nodes holding a site, which verify and
    forward them (docs/sites.md "How an update travels"). Off in ``tor.mode = "tor-all"``
    and behind ``proxy.type``: a link is a direct clear-net TCP connection."""
    link_listen: str = ""
    """Address the link endpoint listens on and links leave from (an IP address; ``::`` for
    IPv6). Empty: the first IPv4 address of ``network.listen_interfaces`` (``0.0.0.0`` when
    that is every interface), so a session bound to one interface keeps its links there."""
    link_port: int = 0
    """TCP port of the link endpoint; 0 picks a free one (announced in the DHT)."""
    max_links: int = 16
    """Nodes each site keeps a link to."""


class WebConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The Smart Proxy: hosted sites for a browser, and streaming (docs/proxy.md)."""

    enabled: bool = True
    """Run the proxy in the daemon and the TUI (with sites)."""
    listen: str = "127.0.0.1"
    """Loopback address to listen on (127.0.0.1, ::1 or another 127.x address)."""
    port: int = 8475
    """TCP port; 0 picks a free one (shown by ``tidegate site url`` and the TUI)."""
    visit_timeout: float = 30.0
    """Seconds a request for a site not held yet waits for its chain and snapshot."""
    tor_socks: str = ""
    """Tor's SOCKS port (``127.0.0.1:9050``): sites not held in time are fetched through
    it, marked unverified. Empty: a page explains instead."""
    follow_visited: bool = True
    """Follow (verify, download, seed) a site the moment it is first visited."""
    cache_mb: int = 64
    """Memory for verified file content, so popular files are not re-read and re-hashed."""
    stream_timeout: float = 60.0
    """Seconds a stream waits for one piece before it ends."""
    readahead_mb: int = 8
    """How far ahead of a stream's position pieces are asked for."""


class TorConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Tor: onion services for sites, and what goes through tor (docs/tor.md)."""

    mode: Literal["clearnet", "tor-hosting", "tor-all"] = "clearnet"
    """``clearnet``: tor is not used. ``tor-hosting``: sites may be published as onion
    services; the swarm stays in the clear. ``tor-all``: also every peer and tracker
    connection through tor's SOCKS port; DHT, uTP, LSD, UPnP and NAT-PMP off."""
    control: str = "managed"
    """``managed``: tidegate runs its own tor (data under TIDEGATE_HOME). Else a tor you
    run: ``127.0.0.1:9051`` (control port) or ``unix:/run/tor/control`` (socket)."""
    password: str = ""
    """Control password of a tor you run; empty: cookie (or no) authentication."""
    socks: str = ""
    """Tor's SOCKS port for ``tor-all`` (``127.0.0.1:9050``). Empty: a managed tor's
    ``127.0.0.1:9066``, or ``127.0.0.1:9050`` for a tor you run."""
    binary: str = ""
    """The tor executable for a managed tor; empty: ``tor`` on PATH."""
    onion_sites: list[str] = msgspec.field(default_factory=list)
    """Owned sites (names or addresses) to publish as onion services, besides those
    switched on with ``tidegate site onion NAME on``."""
    disable_network: bool = False
    """Start a managed tor with DisableNetwork 1 (tests: services are made, not uploaded)."""
    torrc: dict[str, str | list[str]] = msgspec.field(default_factory=dict)
    """Extra options for a managed tor (e.g. to join a private tor network)."""
    timeout: float = 30.0
    """Seconds a start, connection or control call may take."""


class QbtConfig(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A qBittorrent Web API v2 endpoint, for programs that drive qBittorrent (Sonarr,
    Radarr, cross-seed...): docs/qbittorrent-api.md."""

    enabled: bool = False
    """Serve it in the daemon and the TUI's embedded engine."""
    listen: str = "127.0.0.1"
    """Address to listen on: loopback unless ``allow_remote``."""
    port: int = 8080
    """TCP port (qBittorrent's default); 0 picks a free one."""
    allow_remote: bool = False
    """Allow a ``listen`` address that is not loopback (others on the network can then
    try passwords; failures are rate-limited, and there is no TLS)."""
    username: str = "admin"
    """The login name. The password is set with ``tidegate qbt password`` (one is made
    and printed once at the first start when none is set); only its hash is kept."""
    server_domains: list[str] = msgspec.field(default_factory=list)
    """Host header names accepted besides the listen address, ``localhost`` and loopback
    addresses (``*`` wildcards as qBittorrent's ``WebUI\\ServerDomains``)."""
    max_auth_fail_count: int = 5
    """Failed logins from one address before it is banned (qBittorrent's default)."""
    ban_duration: int = 3600
    """Seconds an address stays banned."""
    session_timeout: int = 3600
    """Seconds a login (SID cookie) lasts without a request."""


class Config(_Section, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole configuration file."""

    network: NetworkConfig = msgspec.field(default_factory=NetworkConfig)
    rates: RatesConfig = msgspec.field(default_factory=RatesConfig)
    queue: QueueConfig = msgspec.field(default_factory=QueueConfig)
    seeding: SeedingConfig = msgspec.field(default_factory=SeedingConfig)
    proxy: ProxyConfig = msgspec.field(default_factory=ProxyConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    engine: EngineConfig = msgspec.field(default_factory=EngineConfig)
    performance: PerformanceConfig = msgspec.field(default_factory=PerformanceConfig)
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    bus: BusConfig = msgspec.field(default_factory=BusConfig)
    web: WebConfig = msgspec.field(default_factory=WebConfig)
    sites: SitesConfig = msgspec.field(default_factory=SitesConfig)
    tor: TorConfig = msgspec.field(default_factory=TorConfig)
    qbt: QbtConfig = msgspec.field(default_factory=QbtConfig)
    rss: RssConfig = msgspec.field(default_factory=RssConfig)
    watch: WatchConfig = msgspec.field(default_factory=WatchConfig)
    hooks: HooksConfig = msgspec.field(default_factory=HooksConfig)
    completion: CompletionConfig = msgspec.field(default_factory=CompletionConfig)
    schedule: ScheduleConfig = msgspec.field(default_factory=ScheduleConfig)
    comments: CommentsConfig = msgspec.field(default_factory=CommentsConfig)


