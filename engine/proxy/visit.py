"""A request for a site this node does not serve yet.

The proxy sends ``{"hostname": ...}`` to the Blockchain Handler over the bus (repeats
within ``bus.hostname_dedup_seconds`` are suppressed), which follows the site, and the
request waits up to ``web.visit_timeout`` for a verified chain and a complete snapshot.
When none comes in time it is fetched through Tor's SOCKS port if ``web.tor_socks`` is
set (and marked ``Tidegate-Verified: no``: tidegate has no chain to check it against),
else the visitor gets a page saying what happened.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from aiohttp import ClientError, ClientSession, ClientTimeout, web

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
                 tor_socks: str = ""):
        self.request_hostname = request_hostname
        self.site_state = site_state
        self.timeout = timeout
        self.tor_socks = tor_socks
        self.requested = 0
        """Hostname requests handed to the bus (for tests and the status page)."""

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
