"""The proxy's fast path: plain GETs of verified, cached small files, below aiohttp.

Each connection starts here (an ``asyncio.Protocol`` parsed by httptools, llhttp's
strict parser). A request is answered here only when every one of these holds:

* HTTP/1.1, ``GET``, an origin-form target (``/path`` with an optional query) with no
  percent-escapes, no body;
* only header names from :data:`PLAIN_HEADERS`, one ``Host``, and ``Connection`` (if
  present) exactly ``keep-alive``: no Range, no conditionals, no ``Expect``, no upgrade;
* the Host routes to a site (the same :func:`.hosts.route_host` allow-list as
  everywhere) that is served here, the path names one of its files, and
  :meth:`.verify.Verifier.cached_small` has that file's verified bytes (one ``lstat``
  shows the file on disk is still the one they were read from).

The reply is the same bytes aiohttp would send for it (headers from
:meth:`.app.ProxyApp.file_headers`, serialised once per file and snapshot). Anything
else, including any parse error, a bare line feed before the head is complete and any
request that does not end within its first :data:`MAX_HEAD` bytes, hands the
connection, with every byte not yet answered, to aiohttp's own handler for good; answers
already written come first, so pipelined requests keep their order.

A request that asks to leave HTTP/1.1 (``CONNECT``, or ``Upgrade:`` for WebSocket or
h2c, which llhttp reports as an upgrade instead of a request) is answered here with
:data:`CONNECT_REFUSED` or :data:`UPGRADE_REFUSED` and the connection is closed: the
proxy tunnels nothing and speaks no other protocol. Any other exception out of a
connection's callbacks is reported once per kind (``report``) and ends that connection;
nothing reaches stderr.

Every connection of a proxy's listeners counts against one :class:`.limits.Gate`: past
its cap a new connection gets :data:`BUSY` and is closed at once (counted in ``busy``),
so idle connections cannot take the descriptors the engine API needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httptools

from .app import ProxyApp
from .hosts import route_host
from .limits import Gate

MAX_HEAD = 8190
"""aiohttp's own limit on a request line or header."""
KEEPALIVE = 75.0
"""Idle keep-alive connections are closed after this long (aiohttp's default)."""
PLAIN_HEADERS = frozenset({
    b"host", b"user-agent", b"accept", b"accept-encoding", b"accept-language",
    b"connection", b"cache-control", b"pragma", b"referer", b"cookie", b"dnt",
    b"upgrade-insecure-requests", b"priority", b"sec-fetch-dest", b"sec-fetch-mode",
    b"sec-fetch-site", b"sec-fetch-user", b"sec-ch-ua", b"sec-ch-ua-mobile",
    b"sec-ch-ua-platform", b"sec-gpc"})
"""Headers that do not change what a GET of a held site's file returns."""
_URL_OK = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
           b"-._~/!$&'()*+,;=:@")
"""Path bytes the fast path takes as they are (no percent-escapes to decode)."""
HEADER_BYTES_CACHE = 4096
UPGRADE_REFUSED = (b"HTTP/1.1 501 Not Implemented\r\nServer: tidegate\r\n"
                   b"Connection: close\r\nContent-Length: 0\r\n\r\n")
"""The answer to ``Upgrade:`` (WebSocket, h2c): no protocol but HTTP/1.1 is spoken here."""
CONNECT_REFUSED = (b"HTTP/1.1 405 Method Not Allowed\r\nServer: tidegate\r\n"
                   b"Allow: GET, HEAD\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
"""The answer to ``CONNECT``: the proxy tunnels nothing."""
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nServer: tidegate\r\nRetry-After: 5\r\n"
        b"Connection: close\r\nContent-Length: 0\r\n\r\n")
"""The answer on a connection beyond the cap (sent before reading anything)."""


class _Date:
    """The Date header line, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self._line


class FastPath:
    """What the connections of one listener share: the app, aiohttp's server (for
    handing off), the serialised headers and the connections (for idle timeouts)."""

    def __init__(self, app: ProxyApp, handoff: Callable[[], Any],
                 report: Callable[[str, str], None] | None = None,
                 gate: Gate | None = None) -> None:
        self.app = app
        self.handoff = handoff
        self.gate = gate or Gate()
        """Shared by every listener of one proxy."""
        self.report = report or (lambda kind, text: None)
        """``(kind, text)``: an exception of ours that ended a connection (logged once per
        kind, counted)."""
        self.date = _Date()
        self.conns: set[FastProtocol] = set()
        self.answered = 0
        """Requests answered here (not by aiohttp)."""
        self._heads: dict[tuple[str, int, int, str], bytes] = {}

    def protocol(self) -> FastProtocol:
        return FastProtocol(self)

    def close_idle(self, now: float | None = None) -> None:
        """Close connections idle for :data:`KEEPALIVE` seconds (called every second)."""
        now = time.monotonic() if now is None else now
        for conn in [c for c in self.conns if now - c.last > KEEPALIVE]:
            conn.close()

    def answer(self, host: str, target: bytes) -> bytes | None:
        """The whole reply to a plain GET, or None when aiohttp must answer it."""
        app = self.app
        if app.site_only:
            address = app.site_only
        else:
            route = route_host(host, app.port(), None)
            if route is None or route.kind != "site":
                return None
            address = route.address
        site = app.sites().get(address)
        if site is None or (app.handlers is not None and address in app.handlers.current):
            return None  # a site with programs' handlers: aiohttp forwards or serves it
        path = target.split(b"?", 1)[0]
        if path.translate(None, _URL_OK):  # any byte left over is not plain
            return None
        f, redirect = app.lookup(site, path.decode("ascii"))
        if f is None or redirect is not None:
            return None
        body = app.verifier.cached_small(site, f)
        if body is None:
            return None
        key = (site.address, site.seq, site.height, f.path)
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) >= HEADER_BYTES_CACHE:
                self._heads.clear()
            headers = app.file_headers(site, f)
            head = self._heads[key] = b"".join(
                f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
        if app.visitor is not None:  # as in ProxyApp.handle: a visit may check the head
            app.visitor.held(address)
        app.counters.bump("served")
        self.answered += 1
        return b"".join((b"HTTP/1.1 200 OK\r\n", self.date.line(), head,
                         b"Content-Length: %d\r\n\r\n" % len(body), body))


class FastProtocol(asyncio.Protocol):
    def __init__(self, shared: FastPath) -> None:
        self.shared = shared
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.last = time.monotonic()
        self._handed = False
        self._parser = httptools.HttpRequestParser(self)
        self._reset()

    # -------------------------------------------------------------- httptools callbacks

    def _reset(self) -> None:
        self._plain = True
        self._host: bytes | None = None
        self._url = b""
        self._complete = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname not in PLAIN_HEADERS:
            self._plain = False
        elif lname == b"host":
            if self._host is not None:
                self._plain = False
            self._host = value
        elif lname == b"connection" and value.lower() != b"keep-alive":
            self._plain = False

    def on_message_complete(self) -> None:
        self._complete = True

    # -------------------------------------------------------------- asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        shared = self.shared
        if not shared.gate.admit():  # at the cap: refused before it can hold anything
            self._handed = True  # never counted, never read
            shared.app.counters.bump("busy")
            shared.report("busy", f"a connection was refused: {shared.gate.open} are open, "
                                  f"the cap is {shared.gate.cap} (file descriptors)")
            transport.write(BUSY)  # type: ignore[attr-defined]
            transport.close()
            return
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        shared.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None or self in self.shared.conns:
            self.shared.gate.release()
        self.shared.conns.discard(self)
        self.transport = None

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self._handed:
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            self._received(data)
        except Exception as exc:  # ours: reported once per kind, never a traceback
            self.shared.report(f"fastpath {type(exc).__name__}",
                               f"a connection failed: {type(exc).__name__}: {exc}")
            if self.transport is not None:
                self.transport.abort()

    def _received(self, data: bytes) -> None:
        self.last = time.monotonic()
        buf = self.buffer
        buf += data
        while buf:
            end = buf.find(b"\r\n\r\n")
            if end < 0:  # incomplete, unless too long or ended by bare line feeds
                if len(buf) > MAX_HEAD or buf.count(b"\n") != buf.count(b"\r\n"):
                    self._hand_off()
                return
            reply = self._plain_get(bytes(buf[:end + 4]))
            if reply is None:
                self._hand_off()
                return
            del buf[:end + 4]
            assert self.transport is not None
            self.transport.write(reply)
            if reply is UPGRADE_REFUSED or reply is CONNECT_REFUSED:
                buf.clear()
                self.transport.close()  # after the refusal is written
                return

    def _plain_get(self, head: bytes) -> bytes | None:
        if len(head) > MAX_HEAD:
            return None
        self._reset()
        try:
            self._parser.feed_data(head)
        except httptools.HttpParserUpgrade:  # CONNECT, or Upgrade: (WebSocket, h2c)
            self.shared.app.counters.bump("refused")
            if self._parser.get_method() == b"CONNECT":
                return CONNECT_REFUSED
            return UPGRADE_REFUSED
        except httptools.HttpParserError:
            return None
        parser = self._parser
        if not (self._complete and self._plain and self._host is not None
                and parser.get_method() == b"GET" and parser.get_http_version() == "1.1"
                and parser.should_keep_alive() and self._url.startswith(b"/")):
            return None
        try:
            host = self._host.decode("ascii")
        except UnicodeDecodeError:
            return None
        return self.shared.answer(host, self._url)

    def _hand_off(self) -> None:
        """From now on aiohttp serves this connection, starting with the unanswered
        bytes."""
        transport = self.transport
        if transport is None or self._handed:
            return
        self._handed = True
        self.shared.conns.discard(self)
        self.transport = None  # the gate is released by _Handed from now on
        handler = self.shared.handoff()
        handler.connection_made(transport)
        transport.set_protocol(_Handed(handler, self.shared.gate))
        data, self.buffer = bytes(self.buffer), bytearray()
        if data:
            handler.data_received(data)


class _Handed(asyncio.Protocol):
    """aiohttp's handler for a connection handed off, which releases the connection's
    place in the gate when it ends."""

    def __init__(self, handler: Any, gate: Gate) -> None:
        self.handler = handler
        self.gate = gate
        self.data_received = handler.data_received  # type: ignore[method-assign]
        self.eof_received = handler.eof_received  # type: ignore[method-assign]
        self.pause_writing = handler.pause_writing  # type: ignore[method-assign]
        self.resume_writing = handler.resume_writing  # type: ignore[method-assign]

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.release()
        self.handler.connection_lost(exc)
