"""Comment servers find each other through the DHT and pull from each other what they lack.

:class:`CommentNet` runs on the comment service's asyncio loop (it is one of the service's
tasks and adds the service's two ``/sync`` routes). Each round (every second at most):

* **discovery**: once the DHT has nodes (and again whenever it comes back, and every
  ``comments.announce_interval``), announce our comment endpoint's port as a BitTorrent peer
  of the network's topic (:func:`engine.comments.sync_messages.topic`); every
  ``comments.sync_interval`` ask the DHT for the topic's peers. ``comments.peers`` are
  always pulled from too. Our own endpoint is skipped (by address, and by the node id a
  server tells in its digest).
* **pull**: for every peer that is due (at most :data:`PARALLEL` at once, each sync bounded
  by :data:`SYNC_BOUND` s and :data:`MAX_PAGES` pages) compare digests; when they differ,
  pull ``/sync/since`` pages from the peer's cursor to its head. Every record goes through
  ``store.add``, exactly as a POST does: one already held is normal, any other refusal is
  counted against that peer and logged once per kind. A peer that fails (unreachable, slow,
  garbage, too big) is backed off, doubling; the others go on.

Why it converges: every server pulls every record of every server it reaches, and a record
added by a pull gets a new local seq in the puller's store, so it is served onward to whoever
pulls from the puller. With the reachability graph connected, every record reaches every
server; the set of records only grows (nothing is deleted), and the digests (sha256 over the
sorted ids) are equal exactly when the sets are.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import msgspec
from aiohttp import web

from ..errors import TidegateError
from ..events import Event, Log
from .event import CommentError, ReplayedComment
from .net_state import CommentPeerState, CommentsNetState
from .peers import DhtTiming, Peer, PeerTable
from .sync_messages import (
    MAX_DIGEST_BYTES,
    MAX_PAGE_BYTES,
    PAGE_LIMIT,
    Digest,
    SyncProtocolError,
    decode_digest,
    decode_page,
    encode_digest,
    encode_page,
    endpoint,
    network_id,
    parse_endpoint,
    parse_query,
    topic,
)

if TYPE_CHECKING:
    from .service import CommentService

PARALLEL = 8
"""Peers synced at once at most."""
SYNC_BOUND = 60.0
"""Seconds one peer's sync may take at most (then it is that peer's error)."""
MAX_PAGES = 200
"""Pages pulled from one peer per sync at most (100,000 records); the rest next round."""
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30.0, sock_connect=5.0, sock_read=10.0)
LOOKUP_TIMEOUT = 10.0
ROUND = 1.0
"""Seconds between rounds at most."""
PORT_HEADER = "Tidegate-Comments-Port"
"""A puller's own comment port, told to whom it pulls from (who then pulls back)."""


class SyncStore(Protocol):
    """The part of :class:`engine.comments.store.CommentStore` the sync uses."""

    def add(self, raw: bytes) -> object: ...
    def since(self, seq: int, limit: int) -> list[tuple[int, bytes]]: ...
    def head(self) -> int: ...
    def count(self) -> int: ...
    def digest(self) -> str: ...


class DhtPort(Protocol):
    """The part of the torrent engine the discovery uses (``engine.services.TorrentService``)."""

    @property
    def snapshot(self) -> Any: ...
    def dht_announce(self, topic: bytes, port: int) -> Any: ...
    def dht_get_peers(self, topic: bytes, timeout: float = 10.0) -> Any: ...
    def post_event(self, event: Event) -> None: ...


class PeerError(Exception):
    """A peer's answer we cannot use (its status, its size)."""


class _Id(msgspec.Struct):
    event: _EventId


class _EventId(msgspec.Struct):
    id: str


_id_decoder = msgspec.json.Decoder(_Id)


class CommentNet:
    """Discovery and pull sync for one comment service.

    Args:
        store: the service's store.
        engine: the torrent engine (DHT announce and lookup, events).
        network: ``comments.network_id`` ("" = the public network).
        sync_interval: ``comments.sync_interval`` (s between lookups and between a peer's syncs).
        announce_interval: ``comments.announce_interval``.
        peers: ``comments.peers`` (``host:port`` each, always pulled from).
        folder: where the cursors are kept (``<data_dir>/comments``).
        port: our endpoint's bound port (read once the service listens).
        use_dht: False when the node runs without a DHT (only ``comments.peers`` then).
    """

    def __init__(self, store: SyncStore, engine: DhtPort, *, network: str, sync_interval: float,
                 announce_interval: float, peers: list[str], folder: Path,
                 port: Callable[[], int], use_dht: bool = True):
        self.store = store
        self.engine = engine
        self.network = network_id(network)
        self.topic = topic(self.network)
        self.interval = sync_interval
        self.node_id = os.urandom(16).hex()
        """Told in our digest: a lookup that finds our own endpoint knows it by this."""
        good, bad = [], []
        for ep in peers:  # the config checked them loosely; a bad one is shown, not fatal
            try:
                parse_endpoint(ep)
                good.append(ep)
            except SyncProtocolError as exc:
                bad.append(str(exc))
        self.config_error = "; ".join(bad)[:500]
        self.table = PeerTable(folder / "sync_cursors.json", good, time.monotonic())
        self.timing = DhtTiming(announce_interval, sync_interval)
        self.use_dht = use_dht
        self._port = port
        self._announced_at = 0.0
        self._looked_up_at = 0.0
        self._announce_error = ""
        self._lookup: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._syncing: dict[str, asyncio.Task[None]] = {}
        self._dirty = False
        self._digest_at: tuple[int, str] | None = None
        self.state = CommentsNetState(network=self.network.hex(), topic=self.topic.hex(),
                                      cursor_error=self.table.load_error,
                                      config_error=self.config_error)
        """The newest state, replaced whole after each round (read from any thread)."""

    @classmethod
    def attach(cls, service: CommentService, engine: DhtPort, *, use_dht: bool) -> CommentNet:
        """A CommentNet over ``service`` (not started yet): its routes and its task added."""
        cfg = service.config
        net = cls(service.store, engine, network=cfg.network_id,
                  sync_interval=cfg.sync_interval, announce_interval=cfg.announce_interval,
                  peers=list(cfg.peers), folder=service.folder, port=lambda: service.port,
                  use_dht=use_dht)
        service.add_routes(net.routes())
        service.add_task(net.run)
        return net

    # -- the routes we serve --------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """``GET /sync/digest`` and ``GET /sync/since``, for the service to add."""
        return [web.get("/sync/digest", self._serve_digest),
                web.get("/sync/since", self._serve_since)]

    def digest(self) -> Digest:
        """Our digest now (blocking: SQLite)."""
        head = self.store.head()  # before the digest: a puller may take it as covered
        first = self.store.since(0, 1)
        first_id = _id_decoder.decode(first[0][1]).event.id if first else ""
        return Digest(network=self.network.hex(), node=self.node_id, count=self.store.count(),
                      head=head, first=first_id, digest=self.our_digest())

    def our_digest(self) -> str:
        """The store's digest, computed again only when its head moved (blocking)."""
        head = self.store.head()
        cached = self._digest_at
        if cached is not None and cached[0] == head:
            return cached[1]
        digest = self.store.digest()
        self._digest_at = (head, digest)
        return digest

    async def _serve_digest(self, request: web.Request) -> web.Response:
        told = request.headers.get(PORT_HEADER, "")
        if told.isdigit() and 1 <= int(told) <= 65535 and request.remote:
            self.table.learned(endpoint(request.remote, int(told)), time.monotonic())
        body = encode_digest(await asyncio.to_thread(self.digest))
        return web.Response(body=body, content_type="application/json")

    async def _serve_since(self, request: web.Request) -> web.Response:
        try:
            after, limit = parse_query(request.query.get("seq"), request.query.get("limit"))
        except SyncProtocolError as exc:
            return web.Response(status=400, text=str(exc))

        def page() -> bytes:
            return encode_page(self.store.head(), self.store.since(after, limit))
        return web.Response(body=await asyncio.to_thread(page), content_type="application/json")

    # -- the rounds -----------------------------------------------------------------------

    async def run(self) -> None:
        """The service's task: rounds until cancelled."""
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT, auto_decompress=False,
                                         connector=aiohttp.TCPConnector(limit=PARALLEL * 2),
                                         headers={"Accept-Encoding": "identity"}) as http:
            self._session = http
            try:
                while True:
                    started = time.monotonic()
                    await self.round()
                    await asyncio.sleep(max(0.05, min(ROUND, self.interval)
                                            - (time.monotonic() - started)))
            finally:
                tasks = [t for t in [self._lookup, *self._syncing.values()] if t is not None]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._lookup, self._session = None, None
                self._syncing.clear()
                with contextlib.suppress(OSError):
                    self.table.save()  # the last cursors (a restart pulls only what is new)

    async def round(self) -> None:
        """Announce and look up when due, sync every due peer, publish the state."""
        now = time.monotonic()
        if self.use_dht:
            nodes = int(self.engine.snapshot.stats.dht_nodes)
            announce, lookup = self.timing.tick(now, nodes)
            if announce:
                await self._announce()
            if lookup and (self._lookup is None or self._lookup.done()):
                self._lookup = asyncio.create_task(self._look_up())
        for peer in self.table.due(now):
            if len(self._syncing) >= PARALLEL:
                break
            if peer.endpoint not in self._syncing:
                self._syncing[peer.endpoint] = asyncio.create_task(self._sync_bounded(peer))
        if self._dirty:
            self._dirty = False
            try:
                await asyncio.to_thread(self.table.save)
            except OSError as exc:
                self._log(f"comments: cursors not saved: {exc}")
        self._publish()

    async def _announce(self) -> None:
        port = self._port()
        try:
            await asyncio.wrap_future(self.engine.dht_announce(self.topic, port))
            self._announced_at, self._announce_error = time.time(), ""
        except TidegateError as exc:
            self._announce_error = f"announce: {exc}"

    async def _look_up(self) -> None:
        try:
            found = await asyncio.wrap_future(
                self.engine.dht_get_peers(self.topic, LOOKUP_TIMEOUT))
        except TidegateError as exc:
            self._announce_error = f"lookup: {exc}"
            return
        self._looked_up_at = time.time()
        own = self._port()
        eps = [endpoint(ip, port) for ip, port in found if not (port == own and _local(ip))]
        self.table.found(eps, time.monotonic())

    async def _sync_bounded(self, peer: Peer) -> None:
        """One peer's sync as its own task (a slow peer holds up no other), bounded."""
        cursor = peer.cursor
        bound = asyncio.timeout(SYNC_BOUND)
        try:
            async with bound:
                await self._sync(peer)
        except TimeoutError as exc:  # ours, or aiohttp's (a subclass)
            peer.failed(time.monotonic(), self.interval,
                        f"sync took over {SYNC_BOUND:.0f} s" if bound.expired()
                        else f"{type(exc).__name__}: {exc or 'no answer in time'}")
        except (aiohttp.ClientError, OSError, PeerError, SyncProtocolError, ValueError,
                sqlite3.Error, TidegateError) as exc:
            peer.failed(time.monotonic(), self.interval,
                        f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        finally:
            self._syncing.pop(peer.endpoint, None)
            if peer.cursor != cursor:
                self._dirty = True
            self._publish()

    async def _sync(self, peer: Peer) -> None:
        host, port = parse_endpoint(peer.endpoint)
        base = f"http://{endpoint(host, port)}"
        theirs = decode_digest(await self._get(base + "/sync/digest", MAX_DIGEST_BYTES))
        if theirs.node == self.node_id:
            peer.is_self = True
            return
        if theirs.network != self.network.hex():
            raise PeerError(f"serves network {theirs.network[:16]}…, not ours")
        if theirs.digest == await asyncio.to_thread(self.our_digest):
            # the same set: all of theirs up to their head is held (they read the head before
            # the digest, so the head is never ahead of what the digest covers)
            peer.cursor, peer.first = theirs.head, theirs.first
        else:
            if theirs.first != peer.first or theirs.head < peer.cursor:
                peer.cursor, peer.first = 0, theirs.first  # a store started anew: all again
            for _ in range(MAX_PAGES):
                if peer.cursor >= theirs.head:
                    break
                body = await self._get(f"{base}/sync/since?seq={peer.cursor}&limit={PAGE_LIMIT}",
                                       MAX_PAGE_BYTES)
                _head, records = decode_page(body, peer.cursor, PAGE_LIMIT)
                if not records:
                    break
                new, refusals = await asyncio.to_thread(self._add_all, records)
                peer.received += len(records)
                peer.pulled += new
                peer.refused += len(refusals)
                for kind, reason in refusals:
                    if kind not in peer.reasons:
                        peer.reasons.add(kind)
                        self._log(f"comments: peer {peer.endpoint} sent a refused record "
                                  f"({kind}): {reason}")
                peer.cursor = records[-1][0]
                if len(refusals) == len(records):  # nothing but refused records: stop here
                    raise PeerError(f"all {len(records)} records of a page were refused "
                                    f"({', '.join(sorted({k for k, _ in refusals}))})")
        peer.succeeded(time.monotonic(), time.time(), self.interval)

    def _add_all(self, records: list[tuple[int, bytes]]) -> tuple[int, list[tuple[str, str]]]:
        """Each record through the store (on a worker thread: SQLite and signatures)."""
        new = 0
        refusals: list[tuple[str, str]] = []
        for _seq, raw in records:
            try:
                self.store.add(raw)
                new += 1
            except ReplayedComment:
                pass  # held already: pulled from another peer first, or our own
            except CommentError as exc:
                refusals.append((type(exc).__name__, str(exc)[:200]))
        return new, refusals

    async def _get(self, url: str, limit: int) -> bytes:
        """A GET's body, at most ``limit`` bytes (more is the peer's error)."""
        port = self._port()
        headers = {PORT_HEADER: str(port)} if port else {}
        async with self._http().get(url, allow_redirects=False, headers=headers) as resp:
            if resp.status != 200:
                raise PeerError(f"HTTP {resp.status} for {url}")
            if resp.content_length is not None and resp.content_length > limit:
                raise PeerError(f"answer of {resp.content_length} bytes (at most {limit})")
            data = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise PeerError(f"answer over {limit} bytes")
            return bytes(data)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise PeerError("not running")
        return self._session

    def _publish(self) -> None:
        peers = tuple(CommentPeerState(
            endpoint=p.endpoint, source=p.source, in_dht=p.in_dht,
            last_sync=p.last_sync, last_error=p.last_error, failures=p.failures,
            received=p.received, pulled=p.pulled, refused=p.refused,
            refusals=tuple(sorted(p.reasons)), cursor=p.cursor)
            for _ep, p in sorted(self.table.peers.items()) if not p.is_self)
        self.state = CommentsNetState(
            network=self.network.hex(), topic=self.topic.hex(), announced_at=self._announced_at,
            announce_error=self._announce_error, looked_up_at=self._looked_up_at, peers=peers,
            cursor_error=self.table.load_error, config_error=self.config_error)

    def _log(self, message: str) -> None:
        with contextlib.suppress(TidegateError):
            self.engine.post_event(Log(level="warning", message=message))


def _local(ip: str) -> bool:
    """An address that may be this host (loopback or unspecified)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_unspecified
