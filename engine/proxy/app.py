"""The Smart Proxy's HTTP handler (aiohttp's low-level server; nothing hand-parsed).

Every request is first routed by its Host header (:mod:`.hosts`); anything not on the
allow-list gets 421 with no body. Then:

* a site (``<address>.localhost:<port>`` or ``<address>.onion`` through the proxy): a file
  of the newest verified snapshot, read through :class:`.verify.Verifier`, with the chain
  height in ``Tidegate-Height``; a site not held yet is looked up (:mod:`.visit`), and a
  visit to a followed site makes its head be looked up when the last look-up is older
  than ``sites.visit_check_interval`` (:meth:`.visit.Visitor.held`; the page is not held
  back for it);
* a site's ``/.tidegate/head`` (its verified chain) and ``/.tidegate/snapshot/<seq>.torrent``
  and ``/.tidegate/snapshot/<seq>/site/<path>`` (the served snapshot's metainfo and a BEP 19
  web seed of its files, verified like any other read): how a follower in ``tor-all`` mode
  gets a site from its onion service with no DHT and no peer address (docs/tor.md);
* the loopback names: ``/`` (the sites served here), ``/proxy.pac``,
  ``/torrent/<token>/<id>/<path>`` streaming (:mod:`.stream`) and
  ``/visit/<token>/<address>[/<path>]``, which lets the next requests for a site not
  followed yet make the node follow it, and redirects there.

Other local users reach 127.0.0.1 too: streaming and following a site need the user's
token (:mod:`.token`) in the URL; without it, 403 and nothing is read or followed.

A site-only handler (``site_only``) serves one site whatever the Host header says and
nothing else: the target of that site's onion service, where every request looks local.
"""

from __future__ import annotations

import asyncio
import html
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from ..sites.onion_http import HEAD_PATH, SNAPSHOT_PREFIX
from ..sites.served import ServedFile, ServedSite
from ..sites.snapshot import NAME
from .forward import forward
from .hosts import HostRoute, may_visit, route_host, target_authority
from .ranges import apply_span, http_date, not_modified, parse_range, range_applies
from .responses import (
    LOCAL_HEADERS,
    SITE_HEADERS,
    VERIFIED,
    head_response,
    page,
    refuse,
)
from .token import matches
from .verify import Mismatch, Verifier

if TYPE_CHECKING:
    from ..sites.app_handlers import HandlerTable
    from .stream import Streamer
    from .visit import Visitor

INLINE_LIMIT = 256 << 10
"""Files up to this size are read and verified on the event loop; larger reads run in the
thread pool piece by piece, so one big file never stalls other requests."""
RESERVED_PREFIXES = (HEAD_PATH, SNAPSHOT_PREFIX)
"""Paths no site file can have (a snapshot's own ``.tidegate`` folder holds only ``chain``)."""
BAD_REPORT_WINDOW = 30.0
HEADER_CACHE = 4096
MAX_CONSENTED = 1024


@dataclass
class Counters:
    served: int = 0
    refused: int = 0
    bad: int = 0
    busy: int = 0
    """Connections refused at the connection cap (:mod:`.limits`)."""
    changed: bool = False

    def bump(self, name: str) -> None:
        setattr(self, name, getattr(self, name) + 1)
        self.changed = True


@dataclass
class ProxyApp:
    sites: Callable[[], Mapping[str, ServedSite]]
    verifier: Verifier
    port: Callable[[], int]
    on_bad: Callable[[str, int, str, str], None]
    """``(address, snapshot seq, path, message)``: a file failed verification."""
    streamer: Streamer | None = None
    visitor: Visitor | None = None
    site_only: str = ""
    counters: Counters = field(default_factory=Counters)
    token: str = ""
    """The user's token (:mod:`.token`); empty: nothing needs it is served."""
    handlers: HandlerTable | None = None
    """Programs' leases of owned sites' paths (:mod:`.forward`); None: none here."""
    consented: dict[str, None] = field(default_factory=dict)
    """Sites not held here that the user asked for with the token (oldest first)."""
    _reported: dict[tuple[str, int, str], float] = field(default_factory=dict)
    _header_cache: dict[tuple[str, int, int, str], dict[str, str]] = field(
        default_factory=dict)

    # ------------------------------------------------------------------ routing

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method == "CONNECT" or "Upgrade" in request.headers:
            # nothing is tunnelled and no protocol but HTTP/1.1 is spoken (the fast path
            # answers these itself; this is for a connection aiohttp already holds)
            self.counters.bump("refused")
            if request.method == "CONNECT":
                resp = refuse(405)
                resp.headers["Allow"] = "GET, HEAD"
                return resp
            return refuse(501)
        authority = target_authority(request.raw_path)
        if self.site_only:
            route: HostRoute | None = HostRoute("site", self.site_only) if authority != "" \
                else None
        else:
            route = route_host(request.headers.get("Host"), self.port(), authority)
        if route is None:
            self.counters.bump("refused")
            return refuse()
        if route.kind == "site" and self.handlers is not None and \
                (lease := self.handlers.find(route.address, request.path,
                                             time.monotonic())) is not None:
            self.counters.bump("served")
            return await forward(request, lease, route.address)
        if request.method not in ("GET", "HEAD"):
            self.counters.bump("refused")
            resp = refuse(405)
            resp.headers["Allow"] = "GET, HEAD"
            return resp
        if route.kind == "loopback":
            return await self._local(request)
        site = self.sites().get(route.address)
        if site is None:
            if self.site_only or self.visitor is None:
                return page(404, "Not found", "This site is not served here.", SITE_HEADERS)
            if route.address not in self.consented:
                self.counters.bump("refused")
                return page(403, "Not followed here", "This node does not follow this site. "
                            "Opening it here would make it download and seed it, so that "
                            "takes your own link: `tidegate site url <address>` prints it "
                            "(or run `tidegate site follow <address>`).", SITE_HEADERS)
            if not may_visit(request.headers):
                return page(404, "Not found", "This site is not served here yet.",
                            SITE_HEADERS)
            return await self.visitor.visit(request, route, self)
        if self.visitor is not None:
            self.visitor.held(route.address)  # a followed site may look its head up (never waits)
        if request.path.startswith(RESERVED_PREFIXES):
            return await self._reserved(request, site)
        return await self.serve_site(request, site)

    async def _reserved(self, request: web.BaseRequest, site: ServedSite
                        ) -> web.StreamResponse:
        """The chain, the metainfo and the web seed of the served snapshot."""
        path = request.path
        if path == HEAD_PATH:
            return self._bytes(request, site.chain, site)
        if path == f"{SNAPSHOT_PREFIX}{site.seq}.torrent" and site.torrent is not None:
            return self._bytes(request, site.torrent, site)
        seed_root = f"{SNAPSHOT_PREFIX}{site.seq}/{NAME}/"
        if path.startswith(seed_root):
            return await self.serve_site(request, site, "/" + path[len(seed_root):])
        return page(404, "Not found", "This site has no file at this path.", SITE_HEADERS)

    def _bytes(self, request: web.BaseRequest, body: bytes, site: ServedSite) -> web.Response:
        self.counters.bump("served")
        headers = {**SITE_HEADERS, **VERIFIED, "Content-Type": "application/octet-stream",
                   "Cache-Control": "no-store", "Tidegate-Height": str(site.height),
                   "Tidegate-Snapshot": str(site.seq)}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return web.Response(headers=headers)
        return web.Response(body=body, headers=headers)

    async def _local(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if path == "/":
            return self._index()
        if path == "/proxy.pac":
            return web.Response(text=pac(self.port()),
                                content_type="application/x-ns-proxy-autoconfig",
                                headers=LOCAL_HEADERS)
        if path.startswith("/torrent/") and self.streamer is not None:
            given, _, rest = path[len("/torrent/"):].partition("/")
            if not matches(given, self.token):
                return self._forbidden("A stream URL carries your token: "
                                       "`tidegate stream` prints it.")
            return await self.streamer.serve(request, rest)
        if path.startswith("/visit/") and self.visitor is not None:
            return self._visit_link(request)
        return page(404, "Not found", "Nothing is served at this path.")

    def _forbidden(self, text: str) -> web.Response:
        self.counters.bump("refused")
        return page(403, "Forbidden", text)

    def _visit_link(self, request: web.BaseRequest) -> web.Response:
        """``/visit/<token>/<address>[/<path>]``: the user's consent to follow a site not
        followed yet; a redirect to it (the site's page never sees the token)."""
        target = request.raw_path[len("/visit/"):]
        given, _, rest = target.partition("/")
        if not matches(given, self.token):
            return self._forbidden("A visit URL carries your token: `tidegate site url "
                                   "<address>` prints it.")
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        name, tail = rest[:cut].lower().removesuffix(".onion"), rest[cut:]
        port = self.port()
        route = route_host(f"{name}.localhost:{port}", port)
        if route is None or route.kind != "site":
            return page(404, "Not found", "That is not a site address.")
        self.consented.pop(route.address, None)
        self.consented[route.address] = None
        while len(self.consented) > MAX_CONSENTED:
            del self.consented[next(iter(self.consented))]
        location = f"http://{name}.localhost:{port}{tail if tail.startswith('/') else '/' + tail}"
        return web.Response(status=303, headers={**LOCAL_HEADERS, "Location": location,
                                                 "Cache-Control": "no-store"})

    def _index(self) -> web.Response:
        port = self.port()
        rows = "".join(
            f'<li><a href="http://{html.escape(a.removesuffix(".onion"))}.localhost:{port}/">'
            f"{html.escape(s.name or a)}</a> height {s.height}</li>"
            for a, s in sorted(self.sites().items()))
        body = (f"<!doctype html><meta charset=utf-8><title>tidegate</title><h1>Sites served "
                f"here</h1><ul>{rows or '<li>none yet</li>'}</ul><p>Onion addresses through "
                f'this proxy: <a href="/proxy.pac">proxy.pac</a>.</p>')
        return web.Response(body=body.encode(), content_type="text/html", charset="utf-8",
                            headers=LOCAL_HEADERS)

    # ------------------------------------------------------------------ sites

    def lookup(self, site: ServedSite, path: str) -> tuple[ServedFile | None, str | None]:
        """The file for a decoded URL path, or a redirect target for a folder."""
        rel = path.lstrip("/")
        parts = rel.split("/")
        if any(p in (".", "..") or "\\" in p or "\x00" in p for p in parts):
            return None, None
        if rel == "" or rel.endswith("/"):
            return site.files.get(rel + "index.html"), None
        f = site.files.get(rel)
        if f is None and rel in site.folders and (rel + "/index.html") in site.files:
            return None, "/" + quote(rel) + "/"
        return f, None

    async def serve_site(self, request: web.BaseRequest, site: ServedSite,
                         path: str | None = None) -> web.StreamResponse:
        f, redirect = self.lookup(site, request.path if path is None else path)
        if redirect is not None:
            return web.Response(status=301, headers={**SITE_HEADERS, "Location": redirect})
        if f is None:
            return page(404, "Not found", "This site has no file at this path.", SITE_HEADERS)
        headers = self.file_headers(site, f)
        req_headers = request.headers
        if ("If-None-Match" in req_headers or "If-Modified-Since" in req_headers) and \
                not_modified(req_headers, f.etag, f.modified):
            return web.Response(status=304, headers=headers)
        span = None
        if "Range" in req_headers and range_applies(req_headers.get("If-Range"), f.etag,
                                                    f.modified):
            span = parse_range(req_headers.get("Range"), f.size)
        if span is None and request.method == "GET" and f.size <= INLINE_LIMIT:
            cached = self.verifier.cached_small(site, f)
            if cached is not None:  # verified before, and the file is unchanged on disk
                self.counters.bump("served")
                return web.Response(body=cached, headers=headers)
        applied = apply_span(span, f.size, headers)
        if applied is None:
            return web.Response(status=416, headers=headers)
        start, end, status = applied
        try:
            fd, ident = self.verifier.open(site, f)
        except Mismatch as exc:
            return self._bad(site, exc)
        try:
            if request.method == "HEAD":
                self.counters.bump("served")
                return await head_response(request, status, headers, end - start)
            if f.size <= INLINE_LIMIT:
                try:
                    body = b"".join(
                        self.verifier.read_piece(site, f, fd, ident, i)[off:off + n]
                        for i, off, n in self.verifier.pieces(site, f, start, end))
                except Mismatch as exc:
                    return self._bad(site, exc)
                self.counters.bump("served")
                return web.Response(status=status, body=body, headers=headers)
            return await self._stream_file(request, site, f, fd, ident, start, end, status,
                                           headers)
        finally:
            _close(fd)

    async def _stream_file(self, request: web.BaseRequest, site: ServedSite, f: ServedFile,
                           fd: int, ident: tuple[int, ...], start: int, end: int, status: int,
                           headers: dict[str, str]) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        read = self.verifier.read_piece
        resp: web.StreamResponse | None = None
        for index, off, n in list(self.verifier.pieces(site, f, start, end)):
            try:
                chunk = await loop.run_in_executor(None, read, site, f, fd, ident, index)
            except Mismatch as exc:
                if resp is None:
                    return self._bad(site, exc)
                self._report(site, exc)
                if request.transport is not None:
                    request.transport.abort()  # ends the stream: no unverified byte
                return resp
            try:
                if resp is None:
                    resp = web.StreamResponse(status=status, headers=headers)
                    resp.content_length = end - start
                    await resp.prepare(request)
                await resp.write(chunk[off:off + n])
            except ConnectionError:  # the client went away (aiohttp: "Connection lost")
                return resp or web.Response(status=499)
        assert resp is not None
        try:
            await resp.write_eof()
        except ConnectionError:
            return resp
        self.counters.bump("served")
        return resp

    def file_headers(self, site: ServedSite, f: ServedFile) -> dict[str, str]:
        """A file's response headers, built once per (site, snapshot, height, file)."""
        key = (site.address, site.seq, site.height, f.path)
        base = self._header_cache.get(key)
        if base is None:
            if len(self._header_cache) >= HEADER_CACHE:
                self._header_cache.clear()
            base = self._header_cache[key] = {
                **SITE_HEADERS, **VERIFIED, "Content-Type": f.content_type, "ETag": f.etag,
                "Last-Modified": http_date(f.modified), "Accept-Ranges": "bytes",
                "Cache-Control": "no-cache", "Tidegate-Height": str(site.height),
                "Tidegate-Snapshot": str(site.seq)}
        return dict(base)

    def _report(self, site: ServedSite, exc: Mismatch) -> None:
        self.counters.bump("bad")
        key = (site.address, site.seq, exc.path)
        now = time.monotonic()
        if now - self._reported.get(key, -BAD_REPORT_WINDOW) >= BAD_REPORT_WINDOW:
            self._reported[key] = now
            self.verifier.forget()
            self.on_bad(site.address, site.seq, exc.path, str(exc))

    def _bad(self, site: ServedSite, exc: Mismatch) -> web.Response:
        self._report(site, exc)
        return page(502, "Refused: not the site's content",
                    f"A file of this site on this computer does not match the site's signed "
                    f"chain (height {site.height}), so none of it was sent. The snapshot is "
                    "being checked again; try later.", SITE_HEADERS)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def pac(port: int) -> str:
    """A proxy auto-config file that sends only ``.onion`` hosts to this proxy."""
    return ("function FindProxyForURL(url, host) {\n"
            f'  if (dnsDomainIs(host, ".onion")) return "PROXY 127.0.0.1:{port}";\n'
            '  return "DIRECT";\n}\n')
