"""Live links between the nodes holding a site: a new head pushed to all of them at once.

A part of the sites thread (:class:`engine.sites.service.SitesService`), beside the
Blockchain Handler. Every node holding a site (its owner, or a follower whose chain is
verified) announces the site's link topic (:func:`.link_messages.topic`) in the DHT with
its link port, and looks the topic up to find the others; a node that links to another
says so (:class:`~.link_messages.Hello`) and is linked back. When the owner publishes, the
head goes to every linked node as a BEP 44 item the owner signs for the push
(:meth:`Links.push_owned`); each node verifies it as a DHT head is verified (the site key's
signature, the head's strict encoding, :meth:`BlockchainHandler.judge`: a rollback or
equivocation refused), then fetches the chain (the sender added as a peer of the chain
torrent, so no DHT peer lookup is waited for) and forwards the same item to its other
links at once. Nothing is forwarded twice, nor what failed verification or is not newer
than what is held. A refused push becomes the site's error and a ``SiteRefused`` and is
kept as evidence (:mod:`.evidence`). Pushes for sites not held here are ignored: a push
never makes a node follow a site.
"""

from __future__ import annotations

import collections
import hashlib
import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from ..chain import ChainRejected, address_of
from ..chain.bep44 import SignedItem, bencode_string
from ..chain.judge import Judgement
from ..errors import TidegateError
from ..events import Event, Log
from ..state import Phase
from . import evidence
from .head import SALT, Head, decode_head
from .link_messages import Hello, LinkMessageError, Push, decode, encode, topic
from .link_net import Endpoint, LinkNet, Peer
from .registry import Registry, SiteRecord

if TYPE_CHECKING:
    from ..services import TorrentService

ANNOUNCE_EVERY = 900.0
"""Seconds between DHT announces of a held site's link topic (peers expire in ~30 min)."""
ANNOUNCE_FIRST = (10.0, 60.0)
"""Seconds to the second and third announce: the first ones (at start, or with the DHT
back) meet a routing table that is still filling."""
LOOKUP_EVERY = 900.0
"""Seconds between lookups of a site's link topic once it has ``max_links`` links."""
LOOKUP_SOON = 60.0
"""... while it has fewer."""
LOOKUP_ALONE = 10.0
"""... while it has none: after this many seconds, doubling at each lookup that finds
nobody (up to ``LOOKUP_EVERY``): every lookup is DHT traffic, which libtorrent rate-limits
for the whole session."""
LOOKUP_TIMEOUT = 10.0
RATE = 50.0
"""Messages a second one sender IP may send, on average..."""
BURST = 200.0
"""... and at once."""
MAX_SEEN = 4096
MAX_SENDERS = 4096
SHARE_EVERY = 2.0
"""Seconds between hand-outs of linked nodes as peers of unfinished site torrents."""
IGNORE_FOR = 600.0
"""Seconds a peer that pushed a forged item is not linked again."""


class Links:
    """Discovery, pushes, verification, forwarding and evidence (see the module).

    Args:
        engine: DHT announces and lookups of link topics, ``add_peers`` for chain fetches,
            the BitTorrent listen port and DHT node count (the snapshot).
        registry: the sites.
        net: the link endpoint's sockets.
        max_links: ``sites.max_links``.
        judge: judges verified heads (:meth:`BlockchainHandler.judge`).
        refuse: makes a refusal the site's error and event.
        post: runs a closure on the sites thread.
        emit: events.
    """

    def __init__(self, engine: TorrentService, registry: Registry, net: LinkNet,
                 max_links: int,
                 judge: Callable[[SiteRecord, list[Head], str], Judgement[Head]],
                 refuse: Callable[[SiteRecord, ChainRejected, str], None],
                 post: Callable[[Callable[[], None]], None], emit: Callable[[Event], None]):
        self.engine = engine
        self.registry = registry
        self.net = net
        self.max_links = max_links
        self._judge = judge
        self._refuse = refuse
        self._post = post
        self._emit = emit
        self.node = os.urandom(8)
        """This run's node id: a hello or push carrying it reached this node itself."""
        self._seen: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = \
            collections.OrderedDict()
        self._announce_at: dict[str, float] = {}
        self._announces: dict[str, int] = {}
        """Announces of each site since start or since the DHT came back."""
        self._lookup_at: dict[str, float] = {}
        self._looking: set[str] = set()
        self._alone: dict[str, int] = {}
        """Lookups in a row that found no node to link, per site."""
        self._items: dict[str, tuple[Head, SignedItem]] = {}
        """Owned sites: the head last pushed, as signed for pushes."""
        self._ignored: dict[Endpoint, float] = {}
        """Endpoints never linked (this node's own, or forgers') until a time."""
        self._dht_nodes = 0
        self._given: set[tuple[str, str]] = set()
        """(torrent id, BitTorrent endpoint) already handed to ``add_peers``."""
        self._shared_at = 0.0
        self.counts = collections.Counter[str]()
        """``received``, ``pushed``, ``forwarded``, ``refused``, ``malformed``, ``limited``."""
        self._malformed_logged = 0.0

    # ------------------------------------------------------------------ state

    def count(self, address: str) -> int:
        """Connected links of a site."""
        return sum(1 for p in self.net.peers.values() if p.connected and address in p.sites)

    def ignore(self, endpoint: Endpoint, seconds: float = IGNORE_FOR) -> None:
        """Never link ``endpoint`` for ``seconds`` (dropped now if linked)."""
        if len(self._ignored) >= MAX_SENDERS:
            self._ignored.pop(next(iter(self._ignored)))
        self._ignored[endpoint] = time.monotonic() + seconds
        peer = self.net.peers.get(endpoint)
        if peer is not None:
            self.net.drop(peer)

    def close(self) -> None:
        self.net.close()

    # ------------------------------------------------------------------ discovery

    def tick(self, mono: float) -> None:
        """Drop dead peers; announce held sites' topics and look them up when due."""
        self.net.watch(mono)
        self._forget(mono)
        if mono - self._shared_at >= SHARE_EVERY:
            self._shared_at = mono
            self.share_peers()
        nodes = self.engine.snapshot.stats.dht_nodes
        back, self._dht_nodes = nodes > 0 and self._dht_nodes == 0, nodes
        if nodes == 0:
            return
        for rec in list(self.registry.sites.values()):
            a = rec.address
            if back:
                self._announce_at[a] = self._lookup_at[a] = 0.0
                self._announces[a] = self._alone[a] = 0
            public = rec.store.chain.key
            if rec.store.chain.height >= 0 and mono >= self._announce_at.get(a, 0.0):
                n = self._announces[a] = self._announces.get(a, 0) + 1
                self._announce_at[a] = mono + (ANNOUNCE_FIRST[n - 1]
                                               if n <= len(ANNOUNCE_FIRST) else ANNOUNCE_EVERY)
                self.engine.dht_announce(topic(public), self.net.port)
            if mono >= self._lookup_at.get(a, 0.0) and a not in self._looking:
                self._lookup(a, public)

    def _forget(self, mono: float) -> None:
        """What is kept of sites no longer held, and ignores that ran out."""
        held = self.registry.sites
        for gone in [a for a in {*self._announce_at, *self._lookup_at} if a not in held]:
            self._announce_at.pop(gone, None)
            self._lookup_at.pop(gone, None)
            self._items.pop(gone, None)
            self._announces.pop(gone, None)
            self._alone.pop(gone, None)
        for peer in list(self.net.peers.values()):
            peer.sites &= held.keys()
            if not peer.sites:
                self.net.drop(peer)
        for endpoint in [e for e, until in self._ignored.items() if until <= mono]:
            del self._ignored[endpoint]

    def _lookup(self, address: str, public: bytes) -> None:
        self._looking.add(address)
        fut = self.engine.dht_get_peers(topic(public), LOOKUP_TIMEOUT)

        def done(f: Future[list[tuple[str, int]]]) -> None:
            peers = f.result() if f.exception() is None else []
            self._post(lambda: self._on_peers(address, peers))
        fut.add_done_callback(done)

    def _on_peers(self, address: str, peers: list[tuple[str, int]]) -> None:
        self._looking.discard(address)
        if address not in self.registry.sites:
            return
        for endpoint in peers:
            self._link(address, endpoint)
        linked = self._linked(address)
        alone = self._alone[address] = 0 if linked else self._alone.get(address, 0) + 1
        self._lookup_at[address] = time.monotonic() + (
            min(LOOKUP_ALONE * 2 ** min(alone - 1, 10), LOOKUP_EVERY) if not linked
            else LOOKUP_SOON if linked < self.max_links else LOOKUP_EVERY)

    def _linked(self, address: str) -> int:
        return sum(1 for p in self.net.peers.values() if address in p.sites)

    def _link(self, address: str, endpoint: Endpoint) -> Peer | None:
        """Link ``endpoint`` for ``address`` (up to ``max_links``); a new link says hello."""
        if self._is_self(endpoint) or self._ignored.get(endpoint, 0.0) > time.monotonic():
            return None
        peer = self.net.peers.get(endpoint)
        if peer is not None and address in peer.sites:
            return peer
        if self._linked(address) >= self.max_links:
            return peer
        peer, _new = self.net.connect(endpoint)
        if peer is None:
            return None
        peer.sites.add(address)
        rec = self.registry.sites[address]
        self.net.send(peer, encode(Hello(node=self.node, link_port=self.net.port,
                                         bt_port=self._bt_port(),
                                         sites=[rec.store.chain.key])))
        item = self._owned_item(rec)
        if item is not None:  # the owner's head is the newest: a new link gets it at once
            self.net.send(peer, self._push_bytes(item))
        return peer

    @staticmethod
    def _learn_bt(peer: Peer | None, ip: str, bt_port: int) -> None:
        if peer is not None and bt_port:
            peer.bt = _peer_text(ip, bt_port)

    def share_peers(self) -> None:
        """Every linked node holding a site is a peer of that site's unfinished torrents
        (its chain and snapshot downloads), given once per torrent: a follower starting
        over while the owner is away gets the chain from the other followers without a DHT
        peer lookup, which on a small DHT can miss them (a node never answers a lookup
        with what it stores itself)."""
        if not self._given and not any(p.bt and p.connected for p in self.net.peers.values()):
            return  # nobody to hand out (and nothing handed out to forget): no scan
        wanting: dict[str, list[str]] = {}
        for tid, t in self.engine.snapshot.torrents.items():
            if t.site and t.phase in (Phase.METADATA, Phase.DOWNLOADING):
                wanting.setdefault(t.site, []).append(tid)
        live = {tid for tids in wanting.values() for tid in tids}
        self._given = {(tid, bt) for tid, bt in self._given if tid in live}
        for address, tids in wanting.items():
            bts = [p.bt for p in self.net.peers.values()
                   if p.bt and p.connected and address in p.sites]
            for tid in tids:
                new = [bt for bt in bts if (tid, bt) not in self._given]
                if new:
                    self._given.update((tid, bt) for bt in new)
                    self.engine.add_peers(tid, new)

    def _is_self(self, endpoint: Endpoint) -> bool:
        ip, port = endpoint
        return port == self.net.port and ip in ("127.0.0.1", "::1", "0.0.0.0", "::")

    def _bt_port(self) -> int:
        return self.engine.snapshot.stats.listen_port

    # ------------------------------------------------------------------ receiving

    def receive(self) -> None:
        """Handle what the link endpoint received."""
        for ip, data in self.net.receive():
            try:
                self._on_message(ip, data)
            except TidegateError as exc:  # a site's own fault (its folder): shown there
                self._emit(Log(level="error", message=f"links: {exc}"))

    def _on_message(self, ip: str, data: bytes) -> None:
        self.counts["received"] += 1
        if not ip or not data:
            self._malformed(ip, "not one frame")
            return
        if not self._allow(ip):
            self.counts["limited"] += 1
            return
        try:
            msg = decode(data)
        except LinkMessageError as exc:
            self._malformed(ip, str(exc))
            return
        if msg.node == self.node:  # this node reached itself: never link that endpoint
            self.ignore((ip, msg.link_port), float("inf"))
            return
        if isinstance(msg, Hello):
            for public in msg.sites:
                address = address_of(public)
                if address in self.registry.sites:
                    self._learn_bt(self._link(address, (ip, msg.link_port)), ip, msg.bt_port)
            return
        self._on_push(ip, msg, data)

    def _on_push(self, ip: str, msg: Push, raw: bytes) -> None:
        address = address_of(msg.k)
        rec = self.registry.sites.get(address)
        if rec is None:
            return  # not held here: a push never makes a node follow a site
        item = SignedItem(msg.k, msg.salt, msg.seq, msg.v, msg.sig)
        if not self._first(_mark(item)):
            return  # this item came already (by another link): judged once, forwarded once
        sender = _peer_text(ip, msg.link_port)
        where = f"push from {sender}"
        if rec.owner and rec.store.chain.height >= 0:
            return  # the owner publishes; a head echoed back to it is nothing new
        try:
            head = _verified_head(item)
        except ChainRejected as exc:
            self._refused(rec, raw, exc, where, sender)
            if exc.reason == "bad_signature":  # honest nodes verify before forwarding
                self.ignore((ip, msg.link_port))
            return
        self._learn_bt(self._link(address, (ip, msg.link_port)), ip, msg.bt_port)
        verdict = self._judge(rec, [head], where)
        refusal = verdict.refusal()
        if refusal is not None:
            self._refused(rec, raw, refusal, where, sender, judged=True)
            return
        fetch = rec.fetch
        if verdict.follow is None or fetch is None or fetch.head != head:
            return  # held already, the site equivocating, or a newer head being fetched
        if msg.bt_port:
            self.engine.add_peers(fetch.torrent_id, [_peer_text(ip, msg.bt_port)])
        self.counts["forwarded"] += self._send_item(address, item, exclude=(ip, msg.link_port))

    def _refused(self, rec: SiteRecord, raw: bytes, exc: ChainRejected, where: str,
                 sender: str, judged: bool = False) -> None:
        self.counts["refused"] += 1
        if not judged:
            self._refuse(rec, exc, where)
        try:
            evidence.keep(rec.folder, raw, exc.reason, str(exc), sender)
        except OSError as err:
            self._emit(Log(level="error", message=f"site {rec.address}: cannot keep the "
                                                  f"refused push as evidence: {err}"))

    def _malformed(self, ip: str, why: str) -> None:
        """Bytes that name no site: counted, and logged at most once a minute."""
        self.counts["malformed"] += 1
        now = time.monotonic()
        if now - self._malformed_logged >= 60.0:
            self._malformed_logged = now
            self._emit(Log(level="warning", message=f"links: a malformed message from "
                                                    f"{ip or 'an unknown address'} was "
                                                    f"dropped ({why[:200]})"))

    def _allow(self, ip: str) -> bool:
        """A token bucket per sender IP (:data:`RATE`, :data:`BURST`)."""
        now = time.monotonic()
        tokens, at = self._buckets.pop(ip, (BURST, now))
        tokens = min(BURST, tokens + (now - at) * RATE)
        self._buckets[ip] = (tokens - 1, now) if tokens >= 1 else (tokens, now)
        while len(self._buckets) > MAX_SENDERS:
            self._buckets.popitem(last=False)
        return tokens >= 1

    def _first(self, mark: bytes) -> bool:
        if mark in self._seen:
            return False
        self._seen[mark] = None
        while len(self._seen) > MAX_SEEN:
            self._seen.popitem(last=False)
        return True

    # ------------------------------------------------------------------ sending

    def push_owned(self, address: str) -> int:
        """The owner's head (just announced) to every link of the site; returns how many."""
        rec = self.registry.sites.get(address)
        item = self._owned_item(rec) if rec is not None else None
        if item is None:
            return 0
        sent = self._send_item(address, item, exclude=None)
        self.counts["pushed"] += sent
        return sent

    def _owned_item(self, rec: SiteRecord) -> SignedItem | None:
        """The owner's current head as an item signed for pushes (signed again only when
        the head changes, so a push repeated is recognised as the same item)."""
        if not rec.owner or rec.put_head is None:
            return None
        kept = self._items.get(rec.address)
        if kept is not None and kept[0] == rec.put_head:
            return kept[1]
        # BEP 44's seq only has to grow; libtorrent's puts pick theirs from a lookup
        seq = max(int(time.time() * 1000), kept[1].seq + 1 if kept else 0)
        item = SignedItem.sign(rec.key(), SALT, seq, bencode_string(rec.put_head.encode()))
        self._items[rec.address] = (rec.put_head, item)
        return item

    def _push_bytes(self, item: SignedItem) -> bytes:
        self._first(_mark(item))
        return encode(Push(node=self.node, link_port=self.net.port, bt_port=self._bt_port(),
                           k=item.public, salt=item.salt, seq=item.seq, v=item.value,
                           sig=item.sig))

    def _send_item(self, address: str, item: SignedItem, exclude: Endpoint | None) -> int:
        data = self._push_bytes(item)
        sent = 0
        for peer in list(self.net.peers.values()):
            if address in peer.sites and peer.endpoint != exclude:
                sent += self.net.send(peer, data)
        return sent


def _verified_head(item: SignedItem) -> Head:
    """The head a pushed item carries, once its signature and encoding hold."""
    if item.salt != SALT:
        raise ChainRejected("bad_field", "the pushed item's salt is not the head's")
    if not item.valid():
        raise ChainRejected("bad_signature", "the pushed head is not signed by the site's key")
    value = item.decoded()
    if not isinstance(value, bytes):
        raise ChainRejected("bad_field", "the pushed item's value is not a string")
    return decode_head(value, "push")


def _mark(item: SignedItem) -> bytes:
    """An item's identity, whoever sent it."""
    return hashlib.sha256(b"%s%d:%s%d:%d:%s%d:%s" % (
        item.public, len(item.salt), item.salt, item.seq, len(item.value), item.value,
        len(item.sig), item.sig)).digest()


def _peer_text(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
