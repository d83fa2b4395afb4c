"""Programs' HTTP handlers for paths of owned sites: leases the Smart Proxy forwards to.

A program registers ``(site, prefix, target)`` over the API (``handler_register``);
requests to the site whose path starts with ``prefix`` are forwarded by the proxy to
``target`` (``http://127.0.0.1:PORT``, :mod:`engine.proxy.forward`). A registration is a
lease: it lapses ``ttl`` seconds after it was last renewed, so the paths of a program that
died stop being forwarded (they are served as the site's static files again).

The table is written under a lock on the sites thread (commands, expiry at each tick) and
swapped whole; the proxy thread reads :attr:`HandlerTable.current` without a lock and
checks each lease's expiry itself, so a lapsed lease is never used between two ticks.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from ..errors import InputError

MAX_HANDLERS = 16
"""Handlers per site."""
MAX_PREFIX = 200
DEFAULT_TTL = 30.0
"""Seconds a lease lasts unless renewed (the client renews every third of it)."""
MIN_TTL, MAX_TTL = 2.0, 600.0


@dataclass(frozen=True, slots=True)
class Lease:
    prefix: str
    target: str
    """``http://127.0.0.1:PORT`` (no path)."""
    expires: float
    """``time.monotonic()`` after which the lease is not used."""


def check_prefix(prefix: str) -> str:
    """A path prefix: starts and ends with ``/``, printable ASCII, no ``.``/``..``
    segment, not ``/`` alone (a program may not take a whole site) nor ``/.tidegate/``."""
    where = "handler_register: prefix"
    if not (1 < len(prefix) <= MAX_PREFIX) or not prefix.startswith("/") or \
            not prefix.endswith("/"):
        raise InputError(where, f"{prefix!r} must start and end with '/' and be 2 to "
                                f"{MAX_PREFIX} characters (a folder of the site, not '/')")
    if any(not (0x21 <= ord(c) < 0x7f) or c in "\\?#%" for c in prefix):
        raise InputError(where, f"{prefix!r}: only printable ASCII without '\\', '?', '#', "
                                "'%' or spaces")
    parts = prefix.strip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InputError(where, f"{prefix!r} has an empty, '.' or '..' segment")
    if parts[0] == ".tidegate":
        raise InputError(where, f"{prefix!r}: /.tidegate/ is the proxy's own")
    return prefix


def check_target(target: str) -> str:
    """``http://127.0.0.1:PORT`` (any 127.0.0.0/8 address, or ``[::1]``): the proxy only
    ever dials this machine's loopback, so a registration cannot make it reach (and
    leak the visitor's requests to) another host, nor make it a gateway into a LAN."""
    where = "handler_register: target"
    try:
        url = urlsplit(target)
        port = url.port
        host = ipaddress.ip_address(url.hostname or "")
    except ValueError:
        raise InputError(where, f"{target!r} is not http://127.0.0.1:PORT") from None
    if url.scheme != "http" or port is None or not host.is_loopback or \
            url.path not in ("", "/") or url.query or url.fragment or url.username or \
            url.password:
        raise InputError(where, f"{target!r}: only http://127.0.0.1:PORT (a loopback "
                                "address, a port, no path) is forwarded to")
    host_text = f"[{host}]" if host.version == 6 else str(host)
    return f"http://{host_text}:{port}"


class HandlerTable:
    def __init__(self) -> None:
        self.current: Mapping[str, tuple[Lease, ...]] = MappingProxyType({})
        self._lock = threading.Lock()

    def register(self, address: str, prefix: str, target: str, ttl: float,
                 now: float) -> Lease:
        lease = Lease(check_prefix(prefix), check_target(target), now + ttl)
        with self._lock:
            have = [x for x in self.current.get(address, ()) if x.prefix != lease.prefix]
            if len(have) >= MAX_HANDLERS:
                raise InputError("handler_register", f"{address} has {MAX_HANDLERS} "
                                 "handlers already (unregister one)")
            self._swap(address, (*have, lease))
        return lease

    def unregister(self, address: str, prefix: str) -> bool:
        with self._lock:
            have = self.current.get(address, ())
            keep = tuple(x for x in have if x.prefix != prefix)
            self._swap(address, keep)
        return len(keep) != len(have)

    def forget(self, address: str) -> None:
        with self._lock:
            self._swap(address, ())

    def expire(self, now: float) -> bool:
        """Drop lapsed leases; True when any was."""
        with self._lock:
            gone = False
            for address, leases in list(self.current.items()):
                keep = tuple(x for x in leases if x.expires > now)
                if len(keep) != len(leases):
                    gone = True
                    self._swap(address, keep)
            return gone

    def find(self, address: str, path: str, now: float) -> Lease | None:
        """The live lease with the longest prefix ``path`` starts with (any thread)."""
        best: Lease | None = None
        for lease in self.current.get(address, ()):
            if lease.expires > now and path.startswith(lease.prefix) and \
                    (best is None or len(lease.prefix) > len(best.prefix)):
                best = lease
        return best

    def prefixes(self, address: str) -> tuple[str, ...]:
        return tuple(sorted(f"{x.prefix} -> {x.target}"
                            for x in self.current.get(address, ())))

    def _swap(self, address: str, leases: tuple[Lease, ...]) -> None:
        new = dict(self.current)
        if leases:
            new[address] = leases
        else:
            new.pop(address, None)
        self.current = MappingProxyType(new)
