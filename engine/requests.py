"""Arguments of engine commands that are richer than a few scalars.

These are plain serialisable values (no paths opened, no libtorrent objects),
so the same request can be made in-process or sent to a daemon.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

import msgspec

from .errors import InputError
from .units import port_number

MAX_URLS = 10_000
"""Most trackers, peers or web seeds one request may name (decoding stops at the count)."""
MAX_FILES = 1_000_000
"""Most file priorities one request may carry."""


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
    file_priorities: Annotated[tuple[int, ...], msgspec.Meta(max_length=MAX_FILES)] | None = None
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
    download_limit: int = 0
    upload_limit: int = 0
    ratio_limit: float = -1.0
    seed_time_limit: int = -1


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


MAX_RATE = 2**31 - 1
"""Largest rate limit libtorrent accepts, bytes/s (its limits are 32-bit ints)."""


def check_rate(value: int, what: str) -> int:
    """A rate limit in bytes/s: 0 (unlimited) up to :data:`MAX_RATE`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RATE:
        raise InputError(str(value), f"{what} must be 0 (unlimited) or a bytes/s value up to "
                                     f"{MAX_RATE}")
    return value


def check_share_limit(value: float, what: str) -> float:
    """A ratio or seed-time limit: -1 (the global default), 0 (none) or more."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= -1:
        raise InputError(str(value), f"{what} must be -1 (global default), 0 (none) or more")
    return value


def check_priority(value: int, where: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= 7:
        raise InputError(where, f"priority {value!r} is not between 0 (skip) and 7 (highest)")
    return value
