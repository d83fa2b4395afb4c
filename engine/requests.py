"""Arguments of engine commands that are richer than a few scalars.

These are plain serialisable values (no paths opened, no libtorrent objects),
so the same request can be made in-process or sent to a daemon.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

import msgspec

from .errors import InputError
from .labels import MAX_NAMES, Name
from .units import port_number

MAX_URLS = 10_000
"""Most trackers, peers or web seeds one request may name (decoding stops at the count)."""
MAX_FILES = 1_000_000
"""Most file priorities one request may carry."""


MAX_RATE = 2**31 - 1
"""Largest rate limit libtorrent accepts, bytes/s (its limits are 32-bit ints)."""
MAX_RATIO = 1_000_000.0
"""Largest share-ratio limit (a finite number the resume file's JSON can hold)."""
MAX_SEED_TIME = 2**31 - 1
"""Largest seed-time limit, seconds (about 68 years)."""
MAX_SITE_TEXT = 200
"""Longest site address or role an add request may name."""
MAX_PRIORITY = 7
MAX_FILE_INDEX = 2**31 - 1
"""libtorrent's file and piece indexes are 32-bit ints."""

Rate = Annotated[int, msgspec.Meta(ge=0, le=MAX_RATE)]
"""Bytes/s; 0 is unlimited."""
Ratio = Annotated[float, msgspec.Meta(ge=-1, le=MAX_RATIO)]
"""-1 follows the config, 0 disables, else the ratio."""
SeedTime = Annotated[int, msgspec.Meta(ge=-1, le=MAX_SEED_TIME)]
"""Seconds; -1 follows the config, 0 disables."""
Priority = Annotated[int, msgspec.Meta(ge=0, le=MAX_PRIORITY)]
FileIndex = Annotated[int, msgspec.Meta(ge=0, le=MAX_FILE_INDEX)]
"""The wire types of every number a command takes: a decoder refuses anything else (NaN
and infinities included), naming the argument; the ``check_*`` functions below say the
same for in-process callers, and the engine thread checks again."""


class AddRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What to add and how."""

    torrent: bytes | None = None
    """The bytes of a .torrent file (read by the caller)."""
    uri: str | None = None
    """A magnet URI or a bare info-hash, when ``torrent`` is None."""
    source: str = ""
    """How the user named it (a path or the URI), for error messages."""
    save_path: str | None = None
    """Download folder; the configured default when None."""
    paused: bool = False
    sequential: bool = False
    file_priorities: Annotated[tuple[Priority, ...], msgspec.Meta(max_length=MAX_FILES)] | None \
        = None
    """One priority (0-7) per file, in the torrent's file order."""
    metadata_first: bool = False
    """Fetch metadata but no payload until files are chosen and ``resume`` is called."""
    seed_mode: bool = False
    """Trust that the data is complete (just created here): no full recheck."""
    trackers: Annotated[tuple[str, ...], msgspec.Meta(max_length=MAX_URLS)] = ()
    peers: Annotated[tuple[str, ...], msgspec.Meta(max_length=MAX_URLS)] = ()
    """``ip:port`` or ``[ipv6]:port`` peers to connect to right away."""
    web_seeds: Annotated[tuple[str, ...], msgspec.Meta(max_length=MAX_URLS)] = ()
    """BEP 19 web seeds (``http://`` or ``https://`` URLs) to download from as well."""
    download_limit: Rate = 0
    upload_limit: Rate = 0
    ratio_limit: Ratio = -1.0
    seed_time_limit: SeedTime = -1
    site: Annotated[str, msgspec.Meta(max_length=MAX_SITE_TEXT)] = ""
    """The address of the site this torrent belongs to (added by the sites thread only):
    kept in its resume file, shown as ``TorrentState.site``, and a ``remove`` of it is
    refused unless forced."""
    site_role: Annotated[str, msgspec.Meta(max_length=MAX_SITE_TEXT)] = ""
    """What it is to the site: ``snapshot <seq>`` or ``chain``."""
    category: Name = ""
    """A category added before (``category_add``; "" none). When it has a save path and
    ``save_path`` is None, the torrent is saved there."""
    tags: Annotated[tuple[Name, ...], msgspec.Meta(max_length=MAX_NAMES)] = ()
    """Tags to give it (trimmed; qBittorrent's rules, engine/labels.py)."""


def parse_peer(text: str) -> tuple[str, int]:
    """Parse ``ip:port`` or ``[ipv6]:port`` into an address and port."""
    t = text.strip()
    if t.startswith("["):
        host, sep, port = t[1:].partition("]:")
    else:
        host, sep, port = t.rpartition(":")
    number = port_number(port)
    if not sep or number is None:
        raise InputError(text, "not a peer address (expected IP:PORT or [IPv6]:PORT)")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise InputError(text, "peer host must be an IP address (names are resolved by the "
                               "frontend)") from None
    return str(ip), number


QUEUE_MOVES = ("up", "down", "top", "bottom")
"""Where ``queue_move`` can move a torrent in the download queue."""


def check_queue_move(where: str) -> str:
    if where not in QUEUE_MOVES:
        raise InputError(str(where)[:40], "a queue move is up, down, top or bottom")
    return where


def check_tracker_url(url: str) -> str:
    u = url.strip()
    if not u.lower().startswith(("http://", "https://", "udp://")):
        raise InputError(url, "tracker URL must start with http://, https:// or udp://")
    if len(u) > 2048 or any(ord(c) < 0x21 for c in u):
        raise InputError(url, "tracker URL is too long or contains spaces/control characters")
    return u


def check_web_seed(url: str) -> str:
    u = url.strip()
    if not u.lower().startswith(("http://", "https://")):
        raise InputError(url, "web seed URL must start with http:// or https://")
    if len(u) > 2048 or any(ord(c) < 0x21 for c in u):
        raise InputError(url, "web seed URL is too long or contains spaces/control characters")
    return u


RANGES: dict[str, str] = {
    "rate": f"0 (unlimited) to {MAX_RATE} bytes/s",
    "ratio": f"-1 (global default), 0 (none) or a ratio up to {MAX_RATIO:.0f}",
    "seed_time": f"-1 (global default), 0 (none) or seconds up to {MAX_SEED_TIME}",
    "priority": f"0 (skip) to {MAX_PRIORITY} (highest)",
}


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_rate(value: int, what: str) -> int:
    """A rate limit in bytes/s: 0 (unlimited) up to :data:`MAX_RATE`."""
    if not is_int(value) or not 0 <= value <= MAX_RATE:
        raise InputError(_shown(value), f"{what} must be {RANGES['rate']}")
    return value


def check_ratio(value: float, what: str = "ratio limit") -> float:
    """A share-ratio limit: a finite number from -1 up to :data:`MAX_RATIO`."""
    if not (is_int(value) or isinstance(value, float)) or not -1 <= value <= MAX_RATIO:
        raise InputError(_shown(value), f"{what} must be {RANGES['ratio']}")
    return float(value)


def check_seed_time(value: int, what: str = "seed time limit") -> int:
    """A seed-time limit in whole seconds: -1 up to :data:`MAX_SEED_TIME`."""
    if not is_int(value) or not -1 <= value <= MAX_SEED_TIME:
        raise InputError(_shown(value), f"{what} must be {RANGES['seed_time']}")
    return value


def check_priority(value: int, where: str) -> int:
    if not is_int(value) or not 0 <= value <= MAX_PRIORITY:
        raise InputError(where, f"priority {_shown(value)} must be {RANGES['priority']}")
    return value


def check_index(value: int, what: str) -> int:
    """A file or piece index: 0 up to :data:`MAX_FILE_INDEX` (the torrent's own count is
    checked where the torrent is known)."""
    if not is_int(value) or not 0 <= value <= MAX_FILE_INDEX:
        raise InputError(_shown(value), f"{what} must be an index from 0 to {MAX_FILE_INDEX}")
    return value


def check_add_numbers(req: AddRequest) -> None:
    """Every number of an :class:`AddRequest`, before anything else is done with it."""
    check_rate(req.download_limit, "download_limit")
    check_rate(req.upload_limit, "upload_limit")
    check_ratio(req.ratio_limit, "ratio_limit")
    check_seed_time(req.seed_time_limit, "seed_time_limit")
    for i, prio in enumerate(req.file_priorities or ()):
        check_priority(prio, f"file_priorities[{i}]")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


MAX_DEADLINE_MS = 3_600_000
"""Longest piece deadline a read may ask for (an hour)."""
MAX_TIMEOUT = 3600.0


def check_read(piece: int, ahead: list[int], deadline_ms: int) -> None:
    """The numbers of a piece read (``Engine.read_piece``)."""
    check_index(piece, "piece")
    for p in ahead:
        check_index(p, "prefetch piece")
    if not is_int(deadline_ms) or not 0 <= deadline_ms <= MAX_DEADLINE_MS:
        raise InputError(repr(deadline_ms), f"deadline_ms must be 0 to {MAX_DEADLINE_MS}")


def check_port(port: int) -> None:
    if not is_int(port) or not 1 <= port <= 65535:
        raise InputError(repr(port), "port must be 1 to 65535")


def check_rates(down: int | None, up: int | None, down_name: str, up_name: str) -> None:
    for value, what in ((down, down_name), (up, up_name)):
        if value is not None:
            check_rate(value, what)


def check_timeout(value: float) -> float:
    """A finite timeout in seconds, more than 0 and at most :data:`MAX_TIMEOUT`."""
    if not (is_int(value) or isinstance(value, float)) or not 0 < value <= MAX_TIMEOUT:
        raise InputError(repr(value), f"timeout must be more than 0 and at most "
                                      f"{MAX_TIMEOUT:g} seconds")
    return value
