"""Which Host headers the Smart Proxy answers, and what each one means (sans-IO).

Exactly these, compared as exact lowercase strings, and nothing else (421, no body):

* the loopback names ``127.0.0.1``, ``localhost`` and ``[::1]`` with the proxy's port:
  the proxy's own pages and ``/torrent/`` streaming;
* ``<address>.localhost`` with the proxy's port, where ``<address>`` is a valid v3 onion
  address: that site, one browser origin per site;
* ``<address>.onion`` on port 80 (with or without ``:80``): that site, for a browser
  that uses the proxy as its HTTP proxy.

A name that resolves somewhere else (DNS rebinding), a numeric variant of an address
(``127.1``, ``0x7f.0.0.1``), another port, a sub-domain, a trailing dot, upper case or a
stray character is refused. For an absolute-form request (``GET http://host/path``)
the request's authority must equal the Host header; its scheme is compared without
regard to case (``HTTP://`` is ``http://``), and any scheme but ``http`` (``https``,
``ftp``, ``file``, ...) or a target that is neither origin- nor absolute-form is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from ..chain.address import key_of_address
from ..chain.errors import ChainRejected

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-:[]")
_ONION_LABEL = 56
MAX_HOST = 255


@dataclass(frozen=True, slots=True)
class HostRoute:
    kind: Literal["loopback", "site"]
    address: str = ""
    """The site's ``<56 chars>.onion`` address (kind ``site``)."""
    onion: bool = False
    """Reached as ``<address>.onion`` through the proxy (else as ``.localhost``)."""


def _split(host: str) -> tuple[str, str | None]:
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return host, None
        name, rest = host[:end + 1], host[end + 1:]
    else:
        name, sep, port = host.partition(":")
        return name, port if sep else None
    if not rest:
        return name, None
    if not rest.startswith(":"):
        return "", None
    return name, rest[1:]


@lru_cache(maxsize=4096)
def _valid_onion_label(label: str) -> bool:
    if len(label) != _ONION_LABEL:
        return False
    try:
        key_of_address(label)
    except ChainRejected:
        return False
    return True


def target_authority(target: str) -> str | None:
    """The authority an absolute-form request target names (``http://host:port/path``,
    scheme in any case): ``host:port`` as written; ``""``, which equals no Host, for any
    other scheme or a target that is not origin-form either; None for origin-form
    (``/path``)."""
    if target.startswith("/"):
        return None
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() != "http":
        return ""
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0),
              default=len(rest))
    return rest[:end]


@lru_cache(maxsize=1024)
def route_host(host: str | None, port: int, authority: str | None = None) -> HostRoute | None:
    """What ``host`` (the Host header) names on a proxy listening on ``port``; None when
    the request must be refused. ``authority`` is the absolute-form request target's
    ``host[:port]``, if the request had one."""
    if host is None or not host or len(host) > MAX_HOST or not set(host) <= _ALLOWED:
        return None
    if authority is not None and authority != host:
        return None
    name, given = _split(host)
    if given is not None and (not given.isdigit() or given != str(int(given))):
        return None
    given_port = int(given) if given is not None else 80
    if name in LOOPBACK_NAMES:
        return HostRoute("loopback") if given_port == port else None
    label, dot, tld = name.rpartition(".")
    if not dot or "." in label or not _valid_onion_label(label):
        return None
    if tld == "localhost" and given_port == port:
        return HostRoute("site", label + ".onion")
    if tld == "onion" and given_port == 80:
        return HostRoute("site", label + ".onion", onion=True)
    return None


def may_visit(headers: Mapping[str, str]) -> bool:
    """Whether a request for a site not held here may make this node follow it: only a
    top-level navigation the user started from outside any page (typed, bookmarked,
    pasted: ``Sec-Fetch-Site: none``), never an image, script, fetch or frame that any
    page could embed, and never a navigation from another site's page. A link clicked
    and a script that moves the page during a click look the same to the server
    (``Sec-Fetch-User: ?1`` both), so a page could turn any click of the user's into a
    follow of a site of its choosing. A request without Fetch Metadata headers (a
    command-line client, or a browser that sends them only to secure origins) is taken
    as the user's own (docs/proxy.md)."""
    dest = headers.get("Sec-Fetch-Dest")
    mode = headers.get("Sec-Fetch-Mode")
    site = headers.get("Sec-Fetch-Site")
    if dest is None and mode is None and site is None:
        return True
    if dest != "document" or mode != "navigate":
        return False
    return site in ("none", "same-origin")
