"""HTTP(S) GETs for feeds and the .torrent files they name, the way the config lets
traffic leave this machine.

* ``tor.mode = "tor-all"``: through tor's SOCKS port (:func:`engine.config.tor_socks`),
  host names resolved by tor;
* else with ``proxy.type`` set: through that SOCKS5 or HTTP (CONNECT) proxy, host names
  resolved by the proxy when ``proxy.hostnames``;
* else straight to the host (``http_proxy`` and the like in the environment are not used).

Never direct when a proxy or tor-all is configured: a proxy that is set but unusable is
an error (:class:`RouteError`), not a reason to go around it. Every GET has one deadline
for the whole request, a size cap (a larger ``Content-Length`` is refused before reading,
a body that grows past it is cut off), no compression asked for, and at most
:data:`MAX_REDIRECTS` redirects, to http or https only.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import tor_socks
from ..errors import InputError

if TYPE_CHECKING:
    from ..config import Config

MAX_REDIRECTS = 5
USER_AGENT = "tidegate"


class FetchError(InputError):
    """A GET that failed: names the URL and why."""


class RouteError(FetchError):
    """The configured proxy cannot be used, so nothing is fetched."""


@dataclass(frozen=True)
class Route:
    """How a GET leaves: ``kind`` ``direct``, ``socks5``, ``http`` or ``tor``."""

    kind: str
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    remote_dns: bool = True

    def describe(self) -> str:
        if self.kind == "direct":
            return "direct"
        return f"{'tor' if self.kind == 'tor' else self.kind + ' proxy'} {self.host}:{self.port}"


def route(cfg: Config) -> Route:
    """Where GETs go under ``cfg``.

    Raises:
        RouteError: a proxy is set without a host or port.
    """
    if cfg.tor.mode == "tor-all":
        host, port = tor_socks(cfg)
        return Route("tor", host, port)
    p = cfg.proxy
    if p.type != "none":
        if not p.host or not 0 < p.port < 65536:
            raise RouteError("proxy", f"proxy.type is {p.type} but proxy.host or proxy.port "
                                      "is not set: feeds are not fetched around the proxy")
        return Route(p.type, p.host, p.port, p.username, p.password, p.hostnames)
    return Route("direct")


def _connect(r: Route, host: str, port: int, timeout: float) -> socket.socket:
    if r.kind == "direct":
        return socket.create_connection((host, port), timeout=timeout)
    from python_socks import ProxyType
    from python_socks.sync import Proxy

    kind = ProxyType.HTTP if r.kind == "http" else ProxyType.SOCKS5
    proxy = Proxy(kind, r.host, r.port, username=r.username or None,
                  password=r.password or None, rdns=r.remote_dns)
    return proxy.connect(dest_host=host, dest_port=port, timeout=timeout)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _get_once(r: Route, url: str, cap: int, deadline: float, accept: str
              ) -> tuple[int, str, bytes]:
    """(status, location, body) of one GET (the body only for a 200)."""
    parts = urllib.parse.urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        raise FetchError(url, "only http:// and https:// URLs are fetched")
    port = parts.port or (443 if scheme == "https" else 80)
    sock = _connect(r, host, port, _left(deadline))
    if scheme == "https":
        sock.settimeout(_left(deadline))
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    conn = http.client.HTTPConnection(host, port)
    conn.sock = sock
    try:
        sock.settimeout(_left(deadline))
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Accept", accept)
        conn.putheader("Accept-Encoding", "identity")
        conn.endheaders()
        resp = conn.getresponse()
        if resp.status in (301, 302, 303, 307, 308):
            return resp.status, resp.getheader("Location") or "", b""
        if resp.status != 200:
            raise FetchError(url, f"the server answered HTTP {resp.status} {resp.reason}"[:300])
        length = resp.getheader("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > cap:
            raise FetchError(url, f"{int(length)} bytes is larger than the limit of {cap}")
        data = bytearray()
        while len(data) <= cap:
            sock.settimeout(_left(deadline))
            chunk = resp.read1(min(65536, cap + 1 - len(data)))
            if not chunk:
                break
            data += chunk
        if len(data) > cap:
            raise FetchError(url, f"larger than the limit of {cap} bytes")
        return 200, "", bytes(data)
    finally:
        conn.close()


def get(cfg: Config, url: str, cap: int, timeout: float,
        accept: str = "*/*") -> bytes:
    """The body at ``url`` (at most ``cap`` bytes, within ``timeout`` seconds), fetched
    along :func:`route`.

    Raises:
        FetchError: naming the URL: the route, the connection, the status, the size or
            the time.
    """
    r = route(cfg)
    deadline = time.monotonic() + timeout
    current = url
    try:
        for _ in range(MAX_REDIRECTS + 1):
            status, location, body = _get_once(r, current, cap, deadline, accept)
            if status == 200:
                if not body:
                    raise FetchError(url, "the server sent an empty body")
                return body
            nxt = urllib.parse.urljoin(current, location)
            if not location or not nxt.lower().startswith(("http://", "https://")):
                raise FetchError(url, f"redirected to a URL that is not http or https: "
                                      f"{location[:200]!r}")
            current = nxt
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError(url, f"no answer within {timeout:g} s") from None
    except (OSError, ssl.SSLError, ValueError, http.client.HTTPException) as exc:
        where = "" if r.kind == "direct" else f" (through {r.describe()})"
        raise FetchError(url, f"cannot fetch{where}: {type(exc).__name__}: {exc}"[:400]
                         ) from None
    except Exception as exc:  # python_socks' own errors (ProxyError, ProxyConnectionError)
        if type(exc).__module__.startswith("python_socks"):
            raise FetchError(url, f"cannot fetch through {r.describe()}: {exc}"[:400]
                             ) from None
        raise
