"""The checks every request passes before it is answered, as qBittorrent makes them.

* A banned address (too many failed logins, :class:`.auth.Bans`) gets 403 for anything.
* Host header validation (qBittorrent's ``validateHostHeader``): a port in the Host header
  must be the one listened on, and the host must be the listen address, a loopback
  address, ``localhost`` or one of ``qbt.server_domains`` (``*`` wildcards). qBittorrent's
  default domain list is ``*``; tidegate's default list is empty, which stops DNS
  rebinding (a web page whose name resolves to 127.0.0.1) from reaching the API.
* CSRF (qBittorrent's ``isCrossSiteRequest``): a request with an ``Origin`` header, or
  else a ``Referer``, whose host and port are not the Host header's is refused with 401.
  Requests with neither pass, as in qBittorrent (programs send neither).
* Every endpoint but ``auth/login`` needs a live session (the ``SID`` cookie), else 403.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from urllib.parse import urlsplit

SECURITY_HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",
    "X-XSS-Protection": "1; mode=block",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'self'; "
                               "object-src 'none'; form-action 'self';",
}
"""Sent with every response, as qBittorrent sends them."""


def split_host(value: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 in brackets) -> (host lowercased, port or None); ("", None)
    when it does not parse."""
    try:
        parts = urlsplit(f"//{value.strip()}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(header: str, listen: str, port: int, domains: list[str]) -> bool:
    """Whether a request's Host header names this server."""
    host, hport = split_host(header)
    if not host or (hport is not None and hport != port):
        return False
    if host == listen.lower() or host == "localhost" or _is_loopback(host):
        return True
    return any(fnmatch.fnmatchcase(host, d.lower()) for d in domains if d)


def cross_site(host_header: str, origin: str, referer: str) -> bool:
    """qBittorrent's ``isCrossSiteRequest``: the Origin (else the Referer) is not the
    Host's host and port."""
    value = origin or referer
    if not value:
        return False
    target = split_host(host_header)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return True
    if port is None and parts.scheme in ("http", "https"):
        port = None if target[1] is None else {"http": 80, "https": 443}[parts.scheme]
    return ((parts.hostname or "").lower(), port) != target
