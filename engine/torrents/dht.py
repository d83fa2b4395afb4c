"""BEP 44 mutable items through libtorrent's DHT: puts and gets as futures.

Known traps of the 2.1 Python binding (../shared/FACTS.md): ``dht_put_mutable_item``
signs inside libtorrent with a 64-byte secret key in its own format (the clamped
SHA-512 of the 32-byte seed: :func:`libtorrent_secret`), picks the item's ``seq``
itself, and stores the value as a bencoded *string*. So callers put their own
height and hash inside the value and never trust the DHT's seq. A get reports
every version it meets (``authoritative`` only on the last); all are returned,
and the caller decides which to believe.

Runs on the engine thread only, like every other use of the session. Items signed
elsewhere (a follower re-putting the owner's head, BEP 46's dict) go through tidegate's own
KRPC client (:mod:`.krpc`), started here from the routing table's nodes: :meth:`lookup`
tells "no node answered" (timed out) from "nodes answered without the item" (not found).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import fastbencode
import libtorrent as lt

from ..chain.bep44 import SignedItem, bencode_string, target
from ..errors import EngineStoppedError
from .krpc import Krpc, Lookup, Node, PutResult

MAX_VALUE = 1000
"""BEP 44: a value is at most 1000 bytes (bencoded)."""


def libtorrent_secret(seed: bytes) -> bytes:
    """The 64-byte ed25519 secret libtorrent signs with, from an RFC 8032 seed."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


class DhtItems:
    """Pending puts and gets of mutable items, resolved by their alerts or a deadline."""

    def __init__(self, ses: Any, bind_ip: str = "0.0.0.0", direct: bool = True):
        self.ses = ses
        self.krpc = Krpc(bind_ip)
        """Lookups and puts of items signed elsewhere, on its own sockets and threads."""
        self.direct = direct
        """False behind a proxy: our own UDP would bypass it, so lookups go through
        libtorrent and items signed elsewhere are not put."""
        self._signed: dict[tuple[bytes, bytes], list[SignedItem]] = {}
        self._answered: set[tuple[bytes, bytes]] = set()
        self._puts: dict[tuple[bytes, bytes], list[tuple[Future[int], float]]] = {}
        self._gets: dict[tuple[bytes, bytes], list[tuple[Future[list[bytes]], float]]] = {}
        self._found: dict[tuple[bytes, bytes], list[bytes]] = {}

    def handlers(self) -> dict[type, Callable[[Any], None]]:
        return {lt.dht_put_alert: self._on_put, lt.dht_mutable_item_alert: self._on_item}

    def put(self, seed: bytes, public: bytes, salt: bytes, value: bytes, timeout: float,
            fut: Future[int]) -> None:
        """Put ``value`` (raw bytes, at most :data:`MAX_VALUE`) under ``public`` + ``salt``;
        ``fut`` gets the number of nodes that stored it (0 when none answered in time)."""
        if len(value) > MAX_VALUE - 10:
            raise ValueError(f"DHT value of {len(value)} bytes is too large")
        key = (bytes(public), bytes(salt))
        self._puts.setdefault(key, []).append((fut, time.monotonic() + timeout))
        self.ses.dht_put_mutable_item(libtorrent_secret(seed), public, value, salt)

    def get(self, public: bytes, salt: bytes, timeout: float, fut: Future[list[bytes]]) -> None:
        """Every value found under ``public`` + ``salt`` (signatures checked by libtorrent),
        once the lookup ends or ``timeout`` passes."""
        key = (bytes(public), bytes(salt))
        first = key not in self._gets
        self._gets.setdefault(key, []).append((fut, time.monotonic() + timeout))
        if first:
            self._found[key] = []
            self.ses.dht_get_mutable_item(public, salt)

    def routing_nodes(self, pinned: list[tuple[str, int]]) -> list[Node]:
        """Where a lookup of our own starts: the routing table's IPv4 nodes, then the
        pinned ones (a private DHT's)."""
        with warnings.catch_warnings():  # the binding's only synchronous view of the table
            warnings.simplefilter("ignore", DeprecationWarning)
            state = self.ses.dht_state()
        nodes: list[Node] = []
        for c in state.get(b"nodes", []) if isinstance(state, dict) else []:
            if isinstance(c, bytes) and len(c) == 6:
                nodes.append((".".join(str(b) for b in c[:4]), int.from_bytes(c[4:], "big")))
        return list(dict.fromkeys(nodes + [(h, int(p)) for h, p in pinned]))

    def lookup(self, public: bytes, salt: bytes, timeout: float,
               pinned: list[tuple[str, int]], fut: Future[Lookup]) -> None:
        """Every item found under ``public`` + ``salt`` whose signature verifies, and how
        many nodes were asked and answered (:class:`.krpc.Lookup`)."""
        seeds = self.routing_nodes(pinned)
        if self.direct:
            _chain(self.krpc.get(seeds, public, salt, timeout), fut)
            return
        key, inner = (bytes(public), bytes(salt)), Future[list[bytes]]()
        self._signed.setdefault(key, [])

        def done(_: Future[list[bytes]]) -> None:  # on this thread (alert or deadline)
            found = Lookup(target(public, salt), queried=len(seeds))
            found.items = sorted(self._signed.pop(key, []), key=lambda i: -i.seq)
            found.answered = len(seeds) if key in self._answered else 0
            self._answered.discard(key)
            _resolve(fut, found)
        inner.add_done_callback(done)
        self.get(public, salt, timeout, inner)

    def put_signed(self, item: SignedItem, timeout: float, pinned: list[tuple[str, int]],
                   fut: Future[PutResult]) -> None:
        """Put ``item`` as signed (never re-signed) on the nodes closest to its target."""
        if not self.direct:
            raise ValueError("a proxy is set: tidegate's own DHT client would bypass it")
        _chain(self.krpc.put(self.routing_nodes(pinned), item, timeout), fut)

    def close(self) -> None:
        self.krpc.close()

    @property
    def waiting(self) -> bool:
        """Something waits on a deadline that :meth:`expire` must meet."""
        return bool(self._puts or self._gets)

    def expire(self, now: float) -> None:
        """Resolve what waited past its deadline."""
        for key, waiting in list(self._puts.items()):
            keep = [(f, d) for f, d in waiting if d > now or not _resolve(f, 0)]
            if keep:
                self._puts[key] = keep
            else:
                del self._puts[key]
        for key, waiting_gets in list(self._gets.items()):
            found = list(self._found.get(key, []))
            keep_g = [(f, d) for f, d in waiting_gets if d > now or not _resolve(f, found)]
            if keep_g:
                self._gets[key] = keep_g
            else:
                del self._gets[key]
                self._found.pop(key, None)

    def _on_put(self, a: Any) -> None:
        key = (bytes(a.public_key), bytes(a.salt))
        for fut, _ in self._puts.pop(key, []):
            _resolve(fut, int(a.num_success))

    def _on_item(self, a: Any) -> None:
        key = (bytes(a.key), bytes(a.salt))
        if key not in self._gets:
            return
        item = a.item
        if isinstance(item, bytes) and item not in self._found[key]:
            self._found[key].append(item)
        if key in self._signed and item:  # as libtorrent verified it: v, seq, sig
            v = bencode_string(item) if isinstance(item, bytes) else bytes(
                fastbencode.bencode(item))
            signed = SignedItem(key[0], key[1], int(a.seq), v, bytes(a.signature))
            if signed.valid() and signed not in self._signed[key]:
                self._signed[key].append(signed)
        if a.authoritative:
            if key in self._signed:
                self._answered.add(key)
            for fut, _ in self._gets.pop(key, []):
                _resolve(fut, list(self._found[key]))
            self._found.pop(key, None)


def _chain(inner: Future[Any], outer: Future[Any]) -> None:
    def done(f: Future[Any]) -> None:
        if outer.done():
            return
        if f.cancelled():  # the engine stopping
            outer.set_exception(EngineStoppedError("the engine is stopping"))
            return
        exc = f.exception()
        if exc is not None:
            outer.set_exception(exc)
        else:
            outer.set_result(f.result())
    inner.add_done_callback(done)


def bind_ip(listen_interfaces: str) -> str:
    """The IPv4 address of the first listen interface (``0.0.0.0`` for any or a name)."""
    for part in listen_interfaces.split(","):
        host = part.strip().rpartition(":")[0]
        if host.count(".") == 3 and all(x.isdigit() for x in host.split(".")):
            return host
    return "0.0.0.0"


def _resolve(fut: Future[Any], value: Any) -> bool:
    if not fut.done():
        fut.set_result(value)
    return True
