"""What the component threads (sites, hosting, proxy, tor) need of the engine: one narrow
interface instead of the concrete :class:`engine.engine.Engine`.

:class:`TorrentService` lists exactly the members those threads use, with the signatures of
the Engine's own methods, so the Engine conforms structurally (mypy proves it wherever an
Engine is handed to ``SitesService``, ``ProxyService`` or ``TorService``) and a component can
be built, typed and tested against anything else that does. The components never import the
Engine's module, not even for typing; the services they reach among themselves (the tor
thread, the proxy) are given to them explicitly, not found through the engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .chain.bep44 import SignedItem
    from .config import Config, LoadedConfig
    from .events import Event, EventStream
    from .requests import AddRequest
    from .state import SiteState, Snapshot, TorState, WebState
    from .torrents.krpc import Lookup, PutResult
    from .torrents.pieces import StreamInfo


class TorrentService(Protocol):
    """The engine as the sites, hosting, proxy, tor and RSS threads see it: torrent commands,
    BEP 44 items, piece reads, the newest snapshot, the configuration, and the hooks that
    hand their state and events to the engine thread. Every method may be called from any
    thread; commands return futures the engine resolves."""

    @property
    def config(self) -> Config:
        """The configuration the engine runs with."""
        ...

    @property
    def loaded(self) -> LoadedConfig:
        """The configuration with its paths (the proxy keeps its token in the data folder)."""
        ...

    @property
    def snapshot(self) -> Snapshot:
        """The newest snapshot (an immutable value)."""
        ...

    # torrents
    def add(self, request: AddRequest) -> Future[str]: ...

    def remove(self, torrent_id: str, delete_data: bool = False,
               force: bool = False) -> Future[None]: ...

    def recheck(self, torrent_id: str) -> Future[None]: ...

    def category_add(self, name: str, save_path: str = "") -> Future[None]: ...

    def reannounce(self, torrent_id: str) -> Future[list[str]]: ...

    # streaming (the proxy)
    def stream_info(self, torrent_id: str) -> Future[StreamInfo]: ...

    def read_piece(self, torrent_id: str, piece: int, deadline_ms: int = 0,
                   prefetch: Iterable[int] = ()) -> Future[bytes]: ...

    # BEP 44 (the Blockchain Handler)
    def dht_put(self, seed: bytes, public: bytes, salt: bytes, value: bytes,
                timeout: float = 30.0) -> Future[int]: ...

    def dht_get(self, public: bytes, salt: bytes,
                timeout: float = 30.0) -> Future[list[bytes]]: ...

    # the sites' links: DHT peers of a topic, and peers for a chain fetch
    def dht_announce(self, topic: bytes, port: int) -> Future[None]: ...

    def dht_get_peers(self, topic: bytes,
                      timeout: float = 10.0) -> Future[list[tuple[str, int]]]: ...

    def add_peers(self, torrent_id: str, peers: Iterable[str]) -> Future[None]: ...

    def dht_lookup(self, public: bytes, salt: bytes,
                   timeout: float = 30.0) -> Future[Lookup]: ...

    def dht_put_signed(self, item: SignedItem, timeout: float = 30.0) -> Future[PutResult]: ...

    # events in (the hooks)
    def subscribe(self, maxsize: int = 10_000) -> EventStream: ...

    def unsubscribe(self, stream: EventStream) -> None: ...

    # state and events out, published by the engine thread
    def post_event(self, event: Event) -> None: ...

    def set_sites(self, sites: dict[str, SiteState]) -> Future[None]: ...

    def set_web(self, state: WebState) -> Future[None]: ...

    def set_tor(self, state: TorState) -> Future[None]: ...
