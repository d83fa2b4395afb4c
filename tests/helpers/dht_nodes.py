"""DHT nodes that forget: BEP 5 + BEP 44 storage nodes on 127.0.0.1 whose items expire.

libtorrent 2.1 keeps a BEP 44 item for at least 2 h whatever ``dht_item_lifetime`` says
(it raises anything lower to 7200 s; its default, 0, keeps items for ever), so a test of
"the owner is gone for several expiry periods" cannot shorten libtorrent's expiry. These
nodes stand for the rest of the DHT instead: they answer ``ping``, ``find_node``,
``get_peers``, ``announce_peer``, ``get`` and ``put`` (verifying signatures and seq as BEP 44
says) and drop every item ``lifetime`` seconds after its last put. Engines join them with
``network.dht_read_only`` on, so nothing is stored anywhere else.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import threading
import time
from typing import Any

import fastbencode

from tidegate.engine.chain.bep44 import SignedItem


class ExpiringDht:
    """``count`` storage nodes on one thread; ``lifetime`` seconds per item."""

    def __init__(self, count: int, lifetime: float):
        self.lifetime = lifetime
        self.socks = []
        self.ids: dict[int, bytes] = {}
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            self.socks.append(s)
            self.ids[s.getsockname()[1]] = os.urandom(20)
        self.items: dict[int, dict[bytes, tuple[SignedItem, float]]] = {p: {} for p in self.ids}
        self.peers: dict[int, dict[bytes, set[bytes]]] = {p: {} for p in self.ids}
        self.puts = 0
        """Puts taken (all nodes)."""
        self._secret = os.urandom(16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-dht")
        self._thread.start()

    @property
    def ports(self) -> list[int]:
        return list(self.ids)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            s.close()

    def held(self, target: bytes) -> int:
        """Nodes holding an unexpired item under ``target`` now."""
        now = time.monotonic()
        return sum(1 for p in self.ids
                   if target in self.items[p] and self.items[p][target][1] + self.lifetime > now)

    def _token(self, ip: str) -> bytes:
        return hashlib.sha1(self._secret + ip.encode()).digest()[:8]

    def _nodes(self, target: bytes) -> bytes:
        ranked = sorted(self.ids, key=lambda p: int.from_bytes(self.ids[p], "big")
                        ^ int.from_bytes(target, "big"))[:8]
        return b"".join(self.ids[p] + socket.inet_aton("127.0.0.1") + p.to_bytes(2, "big")
                        for p in ranked)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select(self.socks, [], [], 0.2)
            now = time.monotonic()
            for port in self.ids:  # expire
                for t, (_item, seen) in list(self.items[port].items()):
                    if seen + self.lifetime <= now:
                        del self.items[port][t]
            for s in ready:
                try:
                    data, addr = s.recvfrom(2048)
                    msg = fastbencode.bdecode(data)
                except Exception:
                    continue
                if not isinstance(msg, dict) or msg.get(b"y") != b"q":
                    continue
                port = s.getsockname()[1]
                try:
                    reply = self._answer(port, msg, addr)
                except Exception as exc:  # a malformed query
                    reply = {b"y": b"e", b"e": [203, repr(exc).encode()[:100]]}
                reply[b"t"] = msg.get(b"t", b"")
                s.sendto(bytes(fastbencode.bencode(reply)), addr)

    def _answer(self, port: int, msg: dict[bytes, Any], addr: tuple[str, int]) -> dict[bytes, Any]:
        q, a = msg[b"q"], msg[b"a"]
        r: dict[bytes, Any] = {b"id": self.ids[port]}
        if q in (b"find_node", b"get", b"get_peers"):
            target = a.get(b"target") or a.get(b"info_hash")
            r[b"nodes"] = self._nodes(target)
            r[b"token"] = self._token(addr[0])
        if q == b"get_peers":
            values = self.peers[port].get(a[b"info_hash"])
            if values:
                r[b"values"] = sorted(values)
        elif q == b"announce_peer":
            if a.get(b"token") != self._token(addr[0]):
                return {b"y": b"e", b"e": [203, b"bad token"]}
            p = addr[1] if a.get(b"implied_port") else a[b"port"]
            self.peers[port].setdefault(a[b"info_hash"], set()).add(
                socket.inet_aton(addr[0]) + int(p).to_bytes(2, "big"))
        elif q == b"get":
            held = self.items[port].get(a[b"target"])
            if held is not None:
                item = held[0]
                r.update({b"k": item.public, b"seq": item.seq, b"sig": item.sig,
                          b"v": fastbencode.bdecode(item.value)})
        elif q == b"put":
            if a.get(b"token") != self._token(addr[0]):
                return {b"y": b"e", b"e": [203, b"bad token"]}
            item = SignedItem(a[b"k"], a.get(b"salt", b""), a[b"seq"],
                              bytes(fastbencode.bencode(a[b"v"])), a[b"sig"])
            if not item.valid():
                return {b"y": b"e", b"e": [206, b"invalid signature"]}
            old = self.items[port].get(item.target)
            if old is not None and old[0].seq > item.seq:
                return {b"y": b"e", b"e": [302, b"sequence number less than current"]}
            self.items[port][item.target] = (item, time.monotonic())
            self.puts += 1
        return {b"y": b"r", b"r": r}
