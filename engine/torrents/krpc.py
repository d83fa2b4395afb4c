"""A small DHT client of our own (BEP 5 KRPC, BEP 44 ``get``/``put``) for pre-signed items.

libtorrent 2.1's Python binding can only put an item it signs itself, with a seq it picks
and ``v`` as a bencoded string: it cannot hand on an item somebody else signed (a follower
re-putting the owner's head) nor put a dict (BEP 46's ``{"ih": ...}``). BEP 44 needs neither
the key nor libtorrent for that: a ``put`` carries ``k``, ``salt``, ``seq``, ``sig`` and
``v`` as signed, and any node that handed out a write token takes it. So this module sends
those queries itself:

* each operation opens its own UDP socket on the engine's listen address (an ephemeral
  port) and sends only **read-only** queries (``"ro": 1``, BEP 43): nobody adds it to a
  routing table, so it never has to answer queries;
* :func:`lookup` walks toward ``target = SHA-1(k + salt)`` from the given nodes (the
  engine's routing table, configured nodes), keeping the :data:`K` closest nodes that
  answered, with their write tokens, and every item they returned whose signature verifies
  (:class:`~engine.chain.bep44.SignedItem`; an item that does not is dropped, counted);
* :func:`put` sends the item as it is to each of those nodes with its token; its result is
  the number of nodes that answered without an error.

Everything is bounded: per-query timeout, a deadline per operation, at most
:data:`MAX_QUERIES` queries, :data:`MAX_PACKET` bytes per datagram. :class:`Krpc` runs the
operations on two worker threads and returns ``concurrent.futures``.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import fastbencode

from ..chain.bep44 import SignedItem
from ..chain.bep44 import target as item_target

K = 8
"""Nodes an item is stored on (BEP 5's bucket size)."""
ALPHA = 4
"""Queries in flight at once during a lookup."""
MAX_QUERIES = 64
MAX_PACKET = 1500
MAX_BATCH = 256
"""Datagrams read per wake-up at most."""
QUERY_TIMEOUT = 1.5
Node = tuple[str, int]


@dataclass
class Lookup:
    """What a walk toward an item's target found."""

    target: bytes
    closest: list[tuple[bytes, Node, bytes]] = field(default_factory=list)
    """``(node id, address, write token)`` of the closest nodes that answered, nearest
    first."""
    items: list[SignedItem] = field(default_factory=list)
    """Every distinct item returned whose signature verified, highest seq first."""
    queried: int = 0
    answered: int = 0
    bad: int = 0
    """Items returned whose signature (or shape) did not verify: dropped."""

    @property
    def newest(self) -> SignedItem | None:
        return self.items[0] if self.items else None


def _distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def _compact_nodes(data: object) -> list[tuple[bytes, Node]]:
    """BEP 5 compact node info: 20-byte id, 4-byte IPv4, 2-byte port, repeated."""
    out: list[tuple[bytes, Node]] = []
    if not isinstance(data, bytes):
        return out
    for i in range(0, len(data) - len(data) % 26, 26):
        chunk = data[i:i + 26]
        ip = socket.inet_ntoa(chunk[20:24])
        port = int.from_bytes(chunk[24:26], "big")
        if port:
            out.append((chunk[:20], (ip, port)))
    return out


class _Socket:
    """One operation's UDP socket: queries out, answers matched by transaction id."""

    def __init__(self, bind_ip: str, node_id: bytes):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind_ip, 0))
        self.sock.setblocking(False)
        self.node_id = node_id
        self._next = int.from_bytes(os.urandom(2), "big")
        self.pending: dict[bytes, tuple[Node, float]] = {}

    def close(self) -> None:
        self.sock.close()

    def query(self, to: Node, q: bytes, args: dict[bytes, object],
              node_id: bytes | None = None) -> None:
        self._next = (self._next + 1) & 0xFFFF
        tid = self._next.to_bytes(2, "big")
        msg = {b"t": tid, b"y": b"q", b"q": q, b"ro": 1,
               b"a": {b"id": node_id or self.node_id, **args}}
        try:
            self.sock.sendto(bytes(fastbencode.bencode(msg)), to)
        except OSError:
            return  # unreachable address: counts as no answer
        self.pending[tid] = (to, time.monotonic() + QUERY_TIMEOUT)

    def answers(self, until: float) -> list[tuple[Node, dict[bytes, object] | None]]:
        """Answers (``r`` dict, or None for an error reply) and timed-out queries (None),
        waiting at most till ``until`` for the first."""
        out: list[tuple[Node, dict[bytes, object] | None]] = []
        wait = max(0.0, min(until, min((d for _, d in self.pending.values()),
                                       default=until)) - time.monotonic())
        ready, _, _ = select.select([self.sock], [], [], wait)
        for _ in range(MAX_BATCH if ready else 0):
            try:
                data, addr = self.sock.recvfrom(MAX_PACKET + 1)
            except BlockingIOError:
                break
            except OSError:
                continue  # an ICMP error on a previous send
            if len(data) > MAX_PACKET:
                continue
            try:
                msg = fastbencode.bdecode(data)
            except Exception:
                continue
            if not isinstance(msg, dict):
                continue
            tid = msg.get(b"t")
            entry = self.pending.get(tid) if isinstance(tid, bytes) else None
            if entry is None or entry[0] != (addr[0], addr[1]):
                continue
            del self.pending[tid]  # type: ignore[arg-type]
            r = msg.get(b"r")
            out.append((entry[0], r if msg.get(b"y") == b"r" and isinstance(r, dict)
                        else None))
        now = time.monotonic()
        for tid, (node, deadline) in list(self.pending.items()):
            if deadline <= now:
                del self.pending[tid]
                out.append((node, None))
        return out


def _item_of(r: dict[bytes, object], public: bytes, salt: bytes) -> SignedItem | None:
    """The item in a ``get`` answer (None when it holds none); raises ValueError when it
    holds one that does not verify."""
    if b"v" not in r:
        return None
    k, seq, sig = r.get(b"k"), r.get(b"seq"), r.get(b"sig")
    if k != public or not isinstance(seq, int) or not isinstance(sig, bytes):
        raise ValueError("an item with a missing or foreign k, seq or sig")
    item = SignedItem(public, salt, seq, bytes(fastbencode.bencode(r[b"v"])), sig)
    if not item.valid():
        raise ValueError("an item whose signature does not verify")
    return item


def lookup(bind_ip: str, seeds: list[Node], public: bytes, salt: bytes,
           deadline: float, stop: threading.Event | None = None) -> Lookup:
    """Walk toward the item's target from ``seeds``; see :class:`Lookup`. Ends early
    when ``stop`` is set."""
    stop = stop or threading.Event()
    found = Lookup(target=item_target(public, salt))
    target = found.target
    node_id = os.urandom(20)
    s = _Socket(bind_ip, node_id)
    # address -> node id (b"" until it answers); asked addresses
    known: dict[Node, bytes] = {n: b"" for n in dict.fromkeys(seeds)}
    asked: set[Node] = set()
    answered: dict[Node, tuple[bytes, bytes]] = {}  # address -> (id, token)
    try:
        while time.monotonic() < deadline and not stop.is_set():
            def rank(n: Node) -> int:
                nid = known[n]
                return _distance(nid, target) if nid else 1 << 160  # seeds: unknown ids
            closest_answered = sorted(answered, key=lambda n: _distance(answered[n][0],
                                                                        target))[:K]
            bound = (_distance(answered[closest_answered[-1]][0], target)
                     if len(closest_answered) >= K else 1 << 161)
            # the seeds (ids unknown) only until K nodes answered: then by distance alone
            todo = sorted((n for n in known if n not in asked and (
                rank(n) < bound if known[n] else len(answered) < K)), key=rank)
            while todo and len(s.pending) < ALPHA and found.queried < MAX_QUERIES:
                n = todo.pop(0)
                asked.add(n)
                found.queried += 1
                s.query(n, b"get", {b"target": target})
            if not s.pending:
                break
            for node, r in s.answers(deadline):
                if r is None:
                    continue
                nid, token = r.get(b"id"), r.get(b"token")
                if not isinstance(nid, bytes) or len(nid) != 20:
                    continue
                found.answered += 1
                known[node] = nid
                if isinstance(token, bytes):
                    answered[node] = (nid, token)
                for cid, addr in _compact_nodes(r.get(b"nodes")):
                    if addr not in known:
                        known[addr] = cid
                try:
                    item = _item_of(r, public, salt)
                except ValueError:
                    found.bad += 1
                    continue
                if item is not None and item not in found.items:
                    found.items.append(item)
    finally:
        s.close()
    found.items.sort(key=lambda i: -i.seq)
    ranked = sorted(answered, key=lambda n: _distance(answered[n][0], target))[:K]
    found.closest = [(answered[n][0], n, answered[n][1]) for n in ranked]
    return found


def put(bind_ip: str, item: SignedItem, nodes: list[tuple[bytes, Node, bytes]],
        deadline: float, stop: threading.Event | None = None) -> int:
    """Put ``item`` unchanged on each ``(id, address, token)``; how many took it."""
    stop = stop or threading.Event()
    s = _Socket(bind_ip, os.urandom(20))
    stored = 0
    try:
        v = fastbencode.bdecode(item.value)
        for nid, addr, token in nodes:
            args: dict[bytes, object] = {b"k": item.public, b"seq": item.seq,
                                         b"sig": item.sig, b"token": token, b"v": v}
            if item.salt:
                args[b"salt"] = item.salt
            # libtorrent adds the sender of a put to its routing table despite "ro" (our
            # socket is gone a moment later: a dead entry). Not under the node's own id:
            # a routing table never holds its own id.
            s.query(addr, b"put", args, node_id=nid)
        while s.pending and time.monotonic() < deadline and not stop.is_set():
            for _node, r in s.answers(deadline):
                if r is not None:
                    stored += 1
    finally:
        s.close()
    return stored


@dataclass
class PutResult:
    stored: int
    """Nodes that answered the put without an error."""
    lookup: Lookup
    """The walk that found them (and any newer item they held)."""


class Krpc:
    """Runs lookups and puts on two worker threads (they block in ``select``)."""

    def __init__(self, bind_ip: str = "0.0.0.0"):
        self.bind_ip = bind_ip
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tidegate-krpc")
        self._stop = threading.Event()

    def close(self) -> None:
        """Cancel what waits; what runs ends within a query's timeout."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def get(self, seeds: list[Node], public: bytes, salt: bytes,
            timeout: float) -> Future[Lookup]:
        return self._pool.submit(lambda: lookup(self.bind_ip, seeds, public, salt,
                                                time.monotonic() + timeout, self._stop))

    def put(self, seeds: list[Node], item: SignedItem, timeout: float) -> Future[PutResult]:
        """Look the item's target up, then put ``item`` as it is on the closest nodes.
        Refuses (ValueError) an item whose signature does not verify: nothing is forged
        or passed on unverified."""
        if not item.valid():
            raise ValueError("refusing to put an item whose signature does not verify")

        def run() -> PutResult:
            deadline = time.monotonic() + timeout
            found = lookup(self.bind_ip, seeds, item.public, item.salt,
                           deadline - min(3.0, timeout / 3), self._stop)
            return PutResult(put(self.bind_ip, item, found.closest, deadline, self._stop),
                             found)
        return self._pool.submit(run)
