"""The one normalisation of a URL that comments are kept under, and its hash.

``normalise``: only http and https; scheme and host lower-cased; an IDNA host to its
ASCII (punycode) form; the default port (80, 443) dropped; the fragment dropped; an empty
path becomes ``/``. Path, query and user-info are kept as given (percent-escapes
untouched): two URLs that differ there may be two pages. ``url_hash`` is the hex SHA-256
of the normalised URL's UTF-8 bytes (what the endpoint's path names).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

MAX_URL = 2048
"""Longest URL accepted (characters, before and after normalisation)."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class BadUrl(ValueError):
    """A URL comments cannot be kept under; the message says what is wrong."""


def _host(host: str) -> str:
    host = host.rstrip(".") if host.endswith(".") and host != "." else host
    if not host:
        raise BadUrl("the URL has no host")
    if ":" in host:  # an IPv6 literal (urlsplit took its brackets off)
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise BadUrl(f"the host {host!r} is not an IPv6 address") from None
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError) as exc:
        raise BadUrl(f"the host {host!r} is not a valid domain name ({exc})") from None
    labels = ascii_host.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise BadUrl(f"the host {host!r} is not a valid domain name")
    return ascii_host


def normalise(url: str) -> str:
    """The normalised form of ``url`` (see the module's docstring); raises :class:`BadUrl`
    naming what is wrong."""
    if not isinstance(url, str):
        raise BadUrl("a URL is text")
    if len(url) > MAX_URL:
        raise BadUrl(f"the URL is {len(url)} characters, over {MAX_URL}")
    if _CONTROL.search(url):
        raise BadUrl("the URL holds a space or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadUrl(f"the URL does not parse ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadUrl(f"only http and https URLs take comments, not {scheme or 'no scheme'!r}")
    host = _host(parts.hostname or "")
    netloc = host
    if parts.username is not None or parts.password is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{host}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    out = urlunsplit(SplitResult(scheme, netloc, path, parts.query, ""))
    if len(out) > MAX_URL:
        raise BadUrl(f"the normalised URL is over {MAX_URL} characters")
    return out


def url_hash(url: str) -> str:
    """Hex SHA-256 of ``normalise(url)``'s UTF-8 bytes."""
    return hashlib.sha256(normalise(url).encode("utf-8")).hexdigest()
