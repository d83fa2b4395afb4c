"""The engine's DHT calls, a part of :class:`engine.engine.Engine`'s interface.

BEP 44 items (libtorrent's signed puts and gets, and tidegate's own client for items signed
elsewhere: :mod:`engine.torrents.krpc`), pinned nodes, and peers of a topic (the sites'
links). Each call posts to the engine thread like every other command; the session is
touched only there.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from .channel import DEFERRED
from .requests import check_port, check_timeout
from .torrents.dht_peers import check_topic

if TYPE_CHECKING:
    from .chain.bep44 import SignedItem
    from .session_loop import SessionLoop
    from .torrents.krpc import Lookup, PutResult
    from .torrents.manager import TorrentManager


class DhtCalls:
    """Mixed into :class:`~engine.engine.Engine`, whose ``_checked``, ``_m`` and ``_loop``
    these use."""

    if TYPE_CHECKING:
        _loop: SessionLoop

        def _checked(self, check: Callable[[], object], fn: Callable[..., Any],
                     *args: Any) -> Future[Any]: ...

        def _m(self) -> TorrentManager: ...

    def dht_put(self, seed: bytes, public: bytes, salt: bytes, value: bytes,
                timeout: float = 30.0) -> Future[int]:
        """A BEP 44 item signed by libtorrent with ``seed``: how many nodes stored it."""
        return self._checked(lambda: check_timeout(timeout), lambda fut: self._m().dht.put(
            seed, public, salt, value, timeout, fut), DEFERRED)

    def dht_get(self, public: bytes, salt: bytes, timeout: float = 30.0) -> Future[list[bytes]]:
        """The values of a BEP 44 mutable item found in the DHT (maybe none)."""
        return self._checked(lambda: check_timeout(timeout),
                             lambda fut: self._m().dht.get(public, salt, timeout, fut), DEFERRED)

    def dht_lookup(self, public: bytes, salt: bytes, timeout: float = 30.0) -> Future[Lookup]:
        """Verified items under ``public`` + ``salt`` from tidegate's own DHT client, with
        how many nodes were asked and answered ("not found" is not "timed out")."""
        return self._checked(lambda: check_timeout(timeout), lambda fut: self._m().dht.lookup(
            public, salt, timeout, list(self._loop.dht_pinned), fut), DEFERRED)

    def dht_put_signed(self, item: SignedItem, timeout: float = 30.0) -> Future[PutResult]:
        """Put a BEP 44 item exactly as signed (by anyone) on the nodes closest to it."""
        return self._checked(lambda: check_timeout(timeout), lambda fut: self._m().dht.put_signed(
            item, timeout, list(self._loop.dht_pinned), fut), DEFERRED)

    def add_dht_node(self, host: str, port: int) -> Future[None]:
        """Add a node to the DHT routing table (a private DHT's bootstrap). Like the
        config's ``network.dht_nodes`` it is pinned: pinged again whenever the routing
        table holds fewer nodes than are pinned (libtorrent rebuilds its table when its
        external address changes, and a private DHT has no bootstrap to rejoin by)."""
        def add() -> None:
            self._loop.dht_pinned.append((host, port))
            self._m().ses.add_dht_node((host, port))
        return self._checked(lambda: check_port(port), add)

    def dht_announce(self, topic: bytes, port: int) -> Future[None]:
        """Announce this node in the DHT as a peer of the 20-byte ``topic`` at ``port``."""
        return self._checked(lambda: check_topic(topic, port=port),
                             lambda: self._m().dht_peers.announce(topic, port))

    def dht_get_peers(self, topic: bytes, timeout: float = 10.0) -> Future[list[tuple[str, int]]]:
        """The ``(ip, port)`` peers the DHT knows for the 20-byte ``topic`` (maybe none)."""
        return self._checked(lambda: check_topic(topic, timeout=timeout),
                             lambda fut: self._m().dht_peers.get(topic, timeout, fut), DEFERRED)
