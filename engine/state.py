"""Immutable values that leave the engine: snapshots and details.

A :class:`Snapshot` is replaced whole on every publication; torrents that did
not change are the very same :class:`TorrentState` objects as in the previous
snapshot. Nothing here holds a libtorrent object, a lock or a socket, so a
snapshot can be read from any thread and serialised as it is.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import msgspec


class Phase(enum.StrEnum):
    """What a torrent is doing, from the user's point of view."""

    CHECKING = "checking"
    METADATA = "metadata"
    """Fetching metadata from peers (magnet)."""
    CHOOSE_FILES = "choose-files"
    """Metadata arrived for a metadata-first add; no payload is requested until the user
    picks files (``set_file_priorities``) and starts it (``resume``)."""
    DOWNLOADING = "downloading"
    SEEDING = "seeding"
    FINISHED = "finished"
    """All wanted files are complete, not seeding (some files deselected)."""
    PAUSED = "paused"
    QUEUED = "queued"
    MOVING = "moving"
    ERROR = "error"


class TorrentState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One torrent as of one snapshot."""

    id: str
    """Stable id: the v1 info-hash in hex, or the v2 one when there is no v1."""
    number: int = 0
    """A small number for people (``tidegate rm 3``): given at add or restore, in order,
    from 1, kept while the engine runs and never given to another torrent in that time
    (a restart numbers the torrents again, in the order they were added). 0 unknown."""
    name: str
    info_hash_v1: str | None
    info_hash_v2: str | None
    phase: Phase
    progress: float
    """Fraction of wanted bytes done, 0..1."""
    total_size: int
    """Bytes in the torrent (0 until metadata)."""
    wanted: int
    """Bytes selected for download."""
    wanted_done: int
    download_rate: int
    """Payload bytes/s."""
    upload_rate: int
    num_peers: int
    num_seeds: int
    swarm_seeds: int
    """Seeds in the swarm according to trackers (-1 unknown)."""
    swarm_peers: int
    all_time_download: int
    all_time_upload: int
    ratio: float
    eta: int
    """Seconds to completion, -1 when unknown or not downloading."""
    save_path: str
    added_time: int
    completed_time: int
    seeding_time: int
    has_metadata: bool
    paused: bool
    """Stopped by the user (or a share limit); not merely queued."""
    sequential: bool
    queue_position: int
    download_limit: int
    upload_limit: int
    ratio_limit: float
    """This torrent's ratio limit; -1 means the global default."""
    seed_time_limit: int
    """Seconds; -1 means the global default."""
    complete_on_disk: bool
    """Finished and flushed: every wanted byte is on disk."""
    error: str
    num_pieces: int
    pieces_done: int
    site: str = ""
    """The address of the site whose snapshot or chain this is ("" a user's torrent):
    frontends hide these by default and ``remove`` refuses them unless forced."""
    site_role: str = ""
    """What it is to its site: ``snapshot <seq>`` or ``chain``."""
    category: str = ""
    """Its category ("" none; ``Snapshot.categories`` has each one's save path)."""
    tags: tuple[str, ...] = ()
    """Its tags, sorted, each once."""
    complete_dir: str = ""
    """Where its data moves once complete (downloading in ``completion.incomplete_dir``;
    "" none, docs/automation.md)."""

    @property
    def finished(self) -> bool:
        """Every wanted byte is there (seeding, finished, or such a torrent paused)."""
        return self.phase in (Phase.SEEDING, Phase.FINISHED) or self.complete_on_disk


class AltSpeedState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Turtle mode: whether the alternative global limits are in force, and why."""

    on: bool = False
    """The limits in force (``SessionStats.download_limit``/``upload_limit``) are
    ``schedule.alt_download``/``alt_upload``."""
    by: str = ""
    """``manual`` (``set_alt_speed``), ``schedule`` (``schedule.windows``) or "" (off,
    no schedule)."""
    until: float = 0.0
    """Unix time this lasts until: the schedule's next change (0: until switched)."""


class SessionStats(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Whole-session numbers."""

    download_rate: int = 0
    upload_rate: int = 0
    payload_download_rate: int = 0
    payload_upload_rate: int = 0
    total_download: int = 0
    total_upload: int = 0
    dht_nodes: int = 0
    num_peers: int = 0
    listen_port: int = 0
    download_limit: int = 0
    upload_limit: int = 0
    free_disk: int = -1
    """Bytes free on the default download folder's file system (-1 unknown)."""
    alt_speed: AltSpeedState = AltSpeedState()
    """Turtle mode (docs/automation.md); the limits above are the ones in force."""
    loading: int = 0
    """Torrents of the resume folder not in the list yet: the engine is still loading them
    after its start (0 once every one is in; engine/torrents/restoring.py)."""


class SiteHosting(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What the Hosting Component does for one site."""

    seq: int = -1
    """The newest snapshot verified and seeded (its UPDATE's seq), -1 none yet."""
    fetching: int = -1
    """The snapshot being downloaded or verified, -1 none."""
    progress: float = 0.0
    """Fraction of the fetched snapshot done, 0..1 (1 once seeded)."""
    peers: int = 0
    """Peers connected to this site's snapshot torrents."""
    kept: int = 0
    """Snapshots kept on disk (the retention policy prunes the rest)."""
    checked: float = 0.0
    """When the files last verified against the manifest (unix time, 0 never)."""
    error: str = ""


class SiteState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One published or followed site."""

    address: str
    """``<56 base32>.onion``: the site's key, and its identity."""
    name: str
    """From the site's GENESIS (or the name given to ``site new``)."""
    owner: bool
    """This data folder holds the site's key: it publishes."""
    height: int
    """The verified chain's head seq (-1 nothing verified yet)."""
    head: str
    """Hex SHA-256 of the head entry ("" none)."""
    head_time: int
    """The head entry's time (unix seconds, 0 none): its age shows a stale site."""
    announced: int = -1
    """The highest head seen announced (DHT or bus), -1 none."""
    checked: float = 0.0
    """When the DHT was last asked for the head (unix time, 0 never)."""
    equivocating: bool = False
    """The key signed two entries with one seq: nothing more is accepted."""
    error: str = ""
    """The last refusal or failure, with its reason ("" none)."""
    source: str = ""
    """The folder an owned site publishes from."""
    hosting: SiteHosting = SiteHosting()
    onion: bool = False
    """An owned site switched on as an onion service (``Snapshot.tor.onions`` has its
    state)."""
    onion_clients: tuple[str, ...] = ()
    """Names of the clients allowed to reach the onion service (empty: anyone)."""
    stored_nodes: int = 0
    """Owned sites: the DHT nodes the last finished put of the head stored it on (0: the
    last put landed nowhere, or none finished yet)."""
    stored_at: float = 0.0
    """Owned sites: when a put of the head last stored it on at least one DHT node (unix
    time, 0 never). BEP 44 items expire after about 2 h without a new put."""
    links: int = 0
    """Live links to other nodes holding the site: a new head is pushed over them
    (docs/sites.md "How an update travels")."""
    lookup: str = ""
    """Followed sites: how the last DHT lookup ended: ``found``, ``not_found`` (nodes
    answered without the item), ``timed_out`` (nodes asked, none answered),
    ``unreachable`` (no DHT node), ``""`` not asked yet."""
    reput_at: float = 0.0
    """Followed sites: when this node last put the owner's signed head back into the DHT
    and a node stored it (unix time, 0 never)."""
    reput_nodes: int = 0
    """Followed sites: the DHT nodes the last re-put of the head was stored on."""
    magnet: str = ""
    """The BEP 46 link (``magnet:?xs=urn:btpk:<key hex>``): any BEP 46 client resolves it
    to the newest snapshot."""
    handlers: tuple[str, ...] = ()
    """Owned sites: the programs' HTTP handlers whose leases are live, each
    ``"<prefix> -> <target>"`` (docs/program-api.md)."""


class ChainEntryInfo(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One verified chain entry, as ``site log`` shows it."""

    seq: int
    kind: str
    """``genesis`` or ``update``."""
    time: int
    hash: str
    prev: str = ""
    name: str = ""
    magnet: str = ""
    files: int = 0
    size: int = 0
    """Bytes in the snapshot's files."""


class SiteReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """``site verify``: the chain from genesis and the snapshot's files on disk."""

    address: str
    height: int
    snapshot: int
    """The snapshot whose files were checked (-1 none on disk)."""
    files: int
    """Files hashed and compared with the manifest."""
    bytes: int
    problems: list[str]
    """Every file that is missing or differs, and any chain fault; empty when all is well."""
    rebuilt: bool = False
    """A source folder was rebuilt and compared (``--rebuild``)."""

    @property
    def ok(self) -> bool:
        return not self.problems


class WebState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The Smart Proxy: where it listens and what it has done."""

    url: str = ""
    """``http://127.0.0.1:<port>/``; empty when the proxy is not running."""
    port: int = 0
    error: str = ""
    """Why the proxy is not running (a port in use, ...)."""
    served: int = 0
    """Responses sent with verified content."""
    refused: int = 0
    """Requests refused for their Host header or method."""
    bad: int = 0
    """Files that failed verification while being served."""
    busy: int = 0
    """Connections refused because the proxy held ``max_connections`` already."""
    max_connections: int = 0
    """The proxy's connection cap, from the file-descriptor limit (engine/proxy/limits.py)."""
    token: str = ""
    """The user's proxy token (engine/proxy/token.py), which stream URLs and visits to
    sites not followed yet carry: ``<url>torrent/<token>/...``, ``<url>visit/<token>/...``."""


class OnionState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One site's onion service."""

    state: str
    """``publishing`` (wanted, not on tor yet), ``published`` (tor runs it),
    ``uploaded`` (a directory took its descriptor), ``error`` or ``removed``."""
    descriptors: int = 0
    """Descriptor uploads accepted since the service was last added to tor."""
    clients: int = 0
    """Client keys allowed (v3 client authorisation); 0: anyone with the address."""
    error: str = ""

    def describe(self) -> str:
        """One line for people (untrusted text is the caller's to clean)."""
        text = {"publishing": "publishing (waiting for tor)",
                "published": "published (tor runs it; descriptor not uploaded yet)",
                "uploaded": f"reachable (descriptor uploaded {self.descriptors}x)",
                "removed": "removed", "error": "error"}.get(self.state, self.state)
        if self.clients:
            text += f", {self.clients} client key(s) only"
        return text + (f": {self.error}" if self.error else "")


class OnionReply(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Reply to ``site_onion``."""

    site: SiteState
    auth_line: str = ""
    """For a client key made here: the line that client puts in a file in its tor's
    ``ClientOnionAuthDir`` (``<addr>:descriptor:x25519:<private key>``). Shown once."""


class TorState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Tor: the network mode, the control connection and each site's onion service."""

    mode: str = "clearnet"
    """``clearnet``, ``tor-hosting`` or ``tor-all`` (the ``tor.mode`` setting)."""
    connected: bool = False
    """A control connection to tor is up."""
    control: str = ""
    """``managed`` (tidegate's own tor) or the endpoint of the user's tor."""
    pid: int = 0
    """A managed tor's process id (0 otherwise)."""
    version: str = ""
    socks: str = ""
    """``host:port`` of tor's SOCKS port when the swarm goes through it (tor-all)."""
    error: str = ""
    onions: Mapping[str, OnionState] = MappingProxyType({})
    """Site address -> its onion service."""


class CategoryState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A category torrents can be put in (``category_add``)."""

    name: str
    save_path: str = ""
    """Where a torrent put in it is moved (and one added to it is saved); "" none."""


class PartState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One supervised part of a node (engine/supervisor.py, docs/watcher.md)."""

    name: str
    """``engine``, ``sites``, ``proxy``, ``tor``, ``qbt`` (and any part handed in)."""
    status: str = "running"
    """``running``; ``restarting`` (it died, a restart is due at ``retry_at``); ``failed``
    (it keeps dying: retried at the back-off ceiling)."""
    restarts: int = 0
    """Restarts made since the node started."""
    failure: str = ""
    """Why it died last (kept after a restart); empty if it never did."""
    retry_at: float = 0.0
    """Wall-clock time of the next restart while not running; 0 otherwise."""


class Snapshot(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The whole session at one moment. Replaced, never mutated."""

    seq: int
    """Increases by one with every snapshot."""
    time: float
    torrents: Mapping[str, TorrentState]
    stats: SessionStats
    running: bool = True
    sites: Mapping[str, SiteState] = MappingProxyType({})
    """Published and followed sites by address (a new mapping only when one changed)."""
    web: WebState = WebState()
    """The Smart Proxy (docs/proxy.md)."""
    tor: TorState = TorState()
    """Tor and the sites' onion services (docs/tor.md)."""
    categories: Mapping[str, CategoryState] = MappingProxyType({})
    """Every category by name (a new mapping only when one changed)."""
    parts: Mapping[str, PartState] = MappingProxyType({})
    """The supervised parts by name (empty for a bare engine; docs/watcher.md)."""


def enc_hook(obj: object) -> object:
    """msgspec encode hook for engine values (read-only mappings become dicts)."""
    if isinstance(obj, MappingProxyType):
        return dict(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


EMPTY_SNAPSHOT = Snapshot(seq=0, time=0.0, torrents={}, stats=SessionStats(), running=False)


class FileState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    index: int
    path: str
    size: int
    done: int
    priority: int
    """0 skip, 1 low, 4 normal, 7 high."""


class PeerState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    address: str
    port: int
    client: str
    flags: str
    """Short letters: S seed, E encrypted, I incoming, C choked us, c we choke."""
    download_rate: int
    upload_rate: int
    progress: float


class TrackerState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    url: str
    tier: int
    status: str
    """``working`` (an announce succeeded), ``announcing``, ``error`` or ``not contacted``."""
    seeds: int
    """Seeds the tracker reported (its announce or scrape reply), -1 unknown."""
    leechers: int
    next_announce: int
    """Seconds until the next announce (or retry), -1 unknown."""
    last_error: str
    """Why the last announce failed ("" none); for a hybrid torrent prefixed ``v1:``/``v2:``
    by the info-hash it was for."""
    fails: int = 0
    """Announces failed in a row; libtorrent waits longer before each retry."""


class TorrentDetails(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Per-torrent details fetched on demand (not in every snapshot)."""

    torrent: TorrentState
    files: tuple[FileState, ...]
    peers: tuple[PeerState, ...]
    trackers: tuple[TrackerState, ...]
    pieces: bytes
    """One byte per piece: 0 missing, 1 have, 2 downloading (some blocks requested or in)."""
    piece_length: int
    comment: str
    creator: str
    private: bool
    magnet: str
