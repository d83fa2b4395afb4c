"""The Engine's site commands, and what the sites, proxy and tor threads call back.

A mixin of :class:`engine.engine.Engine`, kept apart from the torrent commands: site
commands run on the sites thread (:class:`engine.sites.service.SitesService`) and resolve
their futures there; the ``set_*`` and ``post_event`` hooks are how the component threads
hand their state and events to the engine thread, which publishes them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import EngineError
from .events import Event
from .state import ChainEntryInfo, OnionReply, SiteReport, SiteState, TorState, WebState

if TYPE_CHECKING:
    from .board import StateBoard
    from .sites.service import SitesService
    from .torrents.manager import TorrentManager


class SiteCommands:
    if TYPE_CHECKING:
        _sites: SitesService | None
        _board: StateBoard
        _sites_state: MappingProxyType[str, SiteState]
        _web_state: WebState
        _tor_state: TorState
        _no_sites: str

        def _call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]: ...
        def _emit(self, event: Event) -> None: ...
        def _m(self) -> TorrentManager: ...
        def _publish(self, m: TorrentManager) -> None: ...

    def _site_service(self) -> SitesService:
        if self._sites is None:
            raise EngineError(self._no_sites)
        return self._sites

    def site_new(self, name: str, folder: str | None = None) -> Future[SiteState]:
        """Create a site: a new key and its GENESIS; ``folder`` is what it publishes."""
        return self._site_service().submit("new", name, folder)

    def site_import(self, name: str, key: str, folder: str | None = None) -> Future[SiteState]:
        """Own a site again from the text of its key file; its chain is recovered from the
        DHT before anything can be published."""
        return self._site_service().submit("import", name, key, folder)

    def site_publish(self, site: str, folder: str | None = None) -> Future[SiteState]:
        """Snapshot the site's folder, append an UPDATE, seed it and announce it."""
        return self._site_service().submit("publish", site, folder)

    def site_follow(self, address: str) -> Future[SiteState]:
        """Follow a site by address: fetch, verify and seed each new snapshot."""
        return self._site_service().submit("follow", address)

    def site_onion(self, site: str, enabled: bool | None = None, add_client: str = "",
                   client_key: str = "", remove_client: str = "") -> Future[OnionReply]:
        """Switch an owned site's onion service on or off (kept across restarts), and
        allow or remove a client (v3 client authorisation). Needs ``tor.mode``
        ``tor-hosting`` or ``tor-all``; ``Snapshot.tor.onions`` shows the service."""
        return self._site_service().submit("onion", site, enabled, add_client, client_key,
                                           remove_client)

    def site_unfollow(self, site: str, delete_data: bool = False) -> Future[None]:
        return self._site_service().submit("unfollow", site, delete_data)

    def site_check(self, site: str) -> Future[None]:
        """Look the site's head up in the DHT now instead of at the next poll."""
        return self._site_service().submit("check", site)

    def site_list(self) -> Future[list[SiteState]]:
        fut: Future[list[SiteState]] = Future()
        fut.set_result(list(self._board.snapshot.sites.values()))
        return fut

    def site_log(self, site: str) -> Future[list[ChainEntryInfo]]:
        return self._site_service().submit("log", site)

    def site_verify(self, site: str, rebuild: str | None = None) -> Future[SiteReport]:
        """Verify the chain from genesis and the newest snapshot's files on disk (and,
        with ``rebuild``, rebuild the snapshot from a source folder and compare)."""
        return self._site_service().submit("verify", site, rebuild)

    def post_event(self, event: Event) -> None:
        """Emit an event from another thread (the sites thread): it is stamped and delivered
        on the engine thread, in order with the engine's own."""
        self._call(lambda: self._emit(event))

    def set_sites(self, sites: dict[str, SiteState]) -> Future[None]:
        """Publish the sites' states in a new snapshot (from the sites thread); resolves
        once that snapshot is out."""
        def apply() -> None:
            self._sites_state = MappingProxyType(dict(sites))
            self._publish(self._m())
        return self._call(apply)

    def set_web(self, state: WebState) -> Future[None]:
        """The Smart Proxy's state, published in the next snapshot."""
        def apply() -> None:
            self._web_state = state
            self._m().dirty = True
        return self._call(apply)

    def set_tor(self, state: TorState) -> Future[None]:
        """Tor's state (from the tor thread), published in the next snapshot."""
        def apply() -> None:
            self._tor_state = state
            self._m().dirty = True
        return self._call(apply)
