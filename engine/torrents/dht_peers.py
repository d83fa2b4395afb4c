"""DHT peer announces and lookups of arbitrary 20-byte topics, as futures.

Sites find each other's link endpoints through the DHT (docs/sites.md "How an update
travels"): every node that holds a site announces the site's link topic with its link
port (``session.dht_announce``), and asks for the topic's peers
(``session.dht_get_peers``, answered by ``dht_get_peers_reply_alert``).

libtorrent posts a ``dht_get_peers_reply_alert`` for each batch of peers a lookup meets and
no alert when the lookup ends, so a lookup here resolves :data:`SETTLE` seconds after its
first non-empty batch, or at its deadline with whatever was found (maybe nothing).

Runs on the engine thread only, like every other use of the session.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import libtorrent as lt

from ..errors import InputError
from ..requests import check_timeout, is_int

SETTLE = 1.0
"""Seconds a lookup keeps collecting after its first peers arrived."""
MAX_PEERS = 200
"""Peers kept per lookup."""


def check_topic(topic: bytes, port: int = 1, timeout: float = 1.0) -> None:
    """Refuses a topic that is not 20 bytes, a port outside 1..65535, a bad timeout."""
    if not isinstance(topic, bytes) or len(topic) != 20:
        raise InputError(repr(topic)[:60], "a DHT topic is 20 bytes")
    if not is_int(port) or not 1 <= port <= 65535:
        raise InputError(repr(port), "port must be 1 to 65535")
    check_timeout(timeout)


class DhtPeers:
    """Pending ``get_peers`` lookups, resolved by their alerts or a deadline."""

    def __init__(self, ses: Any):
        self.ses = ses
        self._gets: dict[bytes, list[tuple[Future[list[tuple[str, int]]], float]]] = {}
        self._found: dict[bytes, list[tuple[str, int]]] = {}
        self._settle: dict[bytes, float] = {}

    def handlers(self) -> dict[type, Callable[[Any], None]]:
        return {lt.dht_get_peers_reply_alert: self._on_peers}

    def announce(self, topic: bytes, port: int) -> None:
        """Announce this node as a peer of ``topic`` at ``port`` (not the listen port)."""
        self.ses.dht_announce(lt.sha1_hash(topic), port, 0)

    def get(self, topic: bytes, timeout: float, fut: Future[list[tuple[str, int]]]) -> None:
        """The peers the DHT knows for ``topic``, as ``(ip, port)``."""
        key = bytes(topic)
        first = key not in self._gets
        self._gets.setdefault(key, []).append((fut, time.monotonic() + timeout))
        if first:
            self._found[key] = []
            self.ses.dht_get_peers(lt.sha1_hash(key))

    @property
    def waiting(self) -> bool:
        """Something waits on a deadline that :meth:`expire` must meet."""
        return bool(self._gets)

    def expire(self, now: float) -> None:
        """Resolve the lookups that settled or waited past their deadline."""
        for key, waiting in list(self._gets.items()):
            found = list(self._found.get(key, []))
            settled = now >= self._settle.get(key, float("inf"))
            keep = [(f, d) for f, d in waiting if d > now and not settled]
            for f, d in waiting:
                if (f, d) not in keep and not f.done():
                    f.set_result(found)
            if keep:
                self._gets[key] = keep
            else:
                del self._gets[key]
                self._found.pop(key, None)
                self._settle.pop(key, None)

    def _on_peers(self, a: Any) -> None:
        key = a.info_hash.to_bytes()
        found = self._found.get(key)
        if found is None:
            return
        for peer in a.peers():
            ip, port = str(peer[0]), int(peer[1])
            if (ip, port) not in found and len(found) < MAX_PEERS:
                found.append((ip, port))
        if found and key not in self._settle:
            self._settle[key] = time.monotonic() + SETTLE
