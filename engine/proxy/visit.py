"""Visits: a request for a site this node does not serve yet, and a visit to a followed
site that makes its head be looked up.

For a site not served yet the proxy sends ``{"hostname": ...}`` to the Blockchain Handler
over the bus (repeats within ``bus.hostname_dedup_seconds`` are suppressed), which
follows the site, and the request waits up to ``web.visit_timeout`` for a verified chain
and a complete snapshot. When none comes in time it is fetched through Tor's SOCKS port
if ``web.tor_socks`` is set (and marked ``Tidegate-Verified: no``: tidegate has no chain
to check it against), else the visitor gets a page saying what happened.

For a site served here and followed (not owned here), :meth:`Visitor.held` sends the
same message when the head was last looked up more than ``sites.visit_check_interval``
seconds ago (at most once per that interval, or per ``bus.hostname_dedup_seconds`` if
longer, per site), and the handler looks the head up at once. The page is served at once
from what is held: nothing waits for the look-up.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from ..api.bus_messages import Deduper
from ..state import SiteState
from .hosts import HostRoute
from .responses import SITE_HEADERS, page

if TYPE_CHECKING:
    from ..sites.served import ServedSite


class SiteServer(Protocol):
    """What a visit needs of the proxy app (:class:`engine.proxy.app.ProxyApp`): the sites
    served here, and serving one of them."""

    @property
    def sites(self) -> Callable[[], Mapping[str, ServedSite]]: ...

    async def serve_site(self, request: web.BaseRequest, site: ServedSite,
                         path: str | None = None) -> web.StreamResponse: ...

POLL = 0.1
_FORWARD_REQUEST = ("Accept", "Accept-Language", "Range", "If-None-Match",
                    "If-Modified-Since", "If-Range")
_FORWARD_RESPONSE = ("Content-Type", "Content-Length", "Content-Range", "ETag",
                     "Last-Modified", "Accept-Ranges", "Location")
_SOCKS = re.compile(r"^(?:socks5h?://)?([0-9a-zA-Z.\-\[\]:]+):(\d{1,5})$")


class Visitor:
    def __init__(self, request_hostname: Callable[[str], None],
                 site_state: Callable[[str], SiteState | None], timeout: float,
                 tor_socks: str = "", *, check_hostname: Callable[[str], object] | None = None,
                 check_interval: float = 10.0, dedup: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time):
        self.request_hostname = request_hostname
        self.site_state = site_state
        self.timeout = timeout
        self.tor_socks = tor_socks
        self.check_hostname = check_hostname
        """Sends ``{"hostname"}`` for a followed site (never waits); None: visits to held
        sites look nothing up."""
        self.check_interval = check_interval
        self.wall = wall
        self._checks = Deduper(max(dedup, check_interval), clock)
        """One ask per site per interval: the look-up asked for has time to finish and
        show in ``checked`` before the next one is considered."""
        self.requested = 0
        """Hostname requests handed to the bus (for tests and the status page)."""
        self.checks = 0
        """Look-ups of followed sites asked for by visits (:meth:`held`)."""

    def held(self, address: str) -> None:
        """A page of ``address``, served here, was asked for. If the site is followed (not
        owned here) and its head was last looked up ``check_interval`` seconds ago or more,
        ask the Blockchain Handler to look it up now, at most once per ``check_interval``
        (or per ``dedup`` window, if longer). Called on the event loop for every such
        request: a dict look-up and a clock read when nothing is due, and never a wait."""
        if self.check_hostname is None:
            return
        state = self.site_state(address)
        if state is None or state.owner or self.wall() - state.checked < self.check_interval:
            return
        if self._checks.should_send(address):
            self.checks += 1
            self.check_hostname(address)

    async def visit(self, request: web.BaseRequest, route: HostRoute, app: SiteServer
                    ) -> web.StreamResponse:
        self.requested += 1
        self.request_hostname(route.address)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            site = app.sites().get(route.address)
            if site is not None:
                return await app.serve_site(request, site)
            if loop.time() >= deadline:
                break
            await asyncio.sleep(POLL)
        if self.tor_socks:
            return await self._through_tor(request, route)
        return page(504, "Not here yet", self._explain(route.address), SITE_HEADERS)

    def _explain(self, address: str) -> str:
        waited = f"tidegate looked this site up for {self.timeout:g} s"
        state = self.site_state(address)
        if state is None or state.height < 0:
            reason = "and found no chain for it in the DHT yet: no node it can reach "\
                     "announces this address"
            if state is not None and state.error:
                reason += f" ({state.error})"
        elif state.hosting.seq < 0:
            progress = f"{state.hosting.progress:.0%}"
            reason = (f"and verified its chain to height {state.height}, but its snapshot "
                      f"is still downloading ({progress}, {state.hosting.peers} peers)")
            if state.hosting.error:
                reason += f": {state.hosting.error}"
        else:
            reason = "but it is not being served"
        return (f"{waited} {reason}. It keeps following the site; reload later. Without a "
                "verified chain nothing is shown, and no Tor SOCKS port is configured "
                "(web.tor_socks) to fetch it from its onion service instead.")

    async def _through_tor(self, request: web.BaseRequest, route: HostRoute
                           ) -> web.StreamResponse:
        from aiohttp_socks import ProxyConnector

        m = _SOCKS.match(self.tor_socks)
        if m is None:
            return page(502, "Bad Tor SOCKS setting",
                        f"web.tor_socks = {self.tor_socks!r} is not host:port.", SITE_HEADERS)
        connector = ProxyConnector.from_url(f"socks5://{m.group(1)}:{m.group(2)}", rdns=True)
        url = f"http://{route.address}{request.rel_url}"
        headers = {k: v for k in _FORWARD_REQUEST if (v := request.headers.get(k)) is not None}
        resp: web.StreamResponse | None = None
        try:
            async with ClientSession(connector=connector, timeout=ClientTimeout(
                    total=None, sock_connect=60, sock_read=60)) as session:
                async with session.request(request.method, url, headers=headers,
                                           allow_redirects=False) as upstream:
                    out = {k: v for k in _FORWARD_RESPONSE
                           if (v := upstream.headers.get(k)) is not None}
                    resp = web.StreamResponse(status=upstream.status, headers={
                        **SITE_HEADERS, **out, "Tidegate-Verified": "no"})
                    await resp.prepare(request)
                    async for chunk in upstream.content.iter_chunked(1 << 16):
                        await resp.write(chunk)
                    await resp.write_eof()
                    return resp
        except (TimeoutError, ClientError, OSError) as exc:
            if resp is not None and resp.prepared:  # cut mid-body: end it, as a short read
                if request.transport is not None:
                    request.transport.abort()
                return resp
            return page(502, "Not reachable through Tor",
                        f"No verified copy here, and {route.address} could not be fetched "
                        f"through Tor at {self.tor_socks}: {exc}", SITE_HEADERS)
