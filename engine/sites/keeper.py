"""Followers keep heads alive: the owner's signed items put again, unchanged, by every follower.

A part of the Blockchain Handler (:class:`engine.sites.handler.BlockchainHandler`), on the
sites thread. BEP 44 items expire about 2 h after their last put; an owner away longer
would leave its site unresolvable though every follower seeds it. So each follower holds
the newest signed items of a site it has seen (the head under :data:`~.head.SALT`, and the
BEP 46 item under the empty salt), each checked against the site's key when it arrives
and again before every put, and puts them back into the DHT every ``sites.reput_interval``
(with jitter; at most :data:`MAX_REPUT_INTERVAL`) and at once when the DHT has nodes again
after having none. It never signs: it cannot (no key) and must not (a follower's "newer"
head would be a forgery). What it puts is the owner's item as received, byte for byte
(tidegate's own DHT client, :mod:`engine.torrents.krpc`: libtorrent's binding cannot put
an item it did not sign). A newer item the put's walk meets is taken only when its
signature verifies; a newer head is judged by the chain first (the next poll is made due).

The items are kept in ``site.json`` (:attr:`~.registry.SiteRecord.held`), so a restarted
follower keeps re-putting; ``site ls`` shows when it last did and on how many nodes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any

import fastbencode

from ..chain.bep44 import SignedItem
from ..config import SitesConfig
from ..events import Event, Log
from .head import SALT
from .registry import BEP46_SALT, Registry, SiteRecord

if TYPE_CHECKING:
    from ..services import TorrentService
    from ..torrents.krpc import Lookup, PutResult

MAX_REPUT_INTERVAL = 3600.0  # BEP 44 items expire 2 h after their last put
JITTER = 0.2  # each re-put comes 0-20 % early, so followers do not all put at once
REPUT_TIMEOUT = 20.0
SLOTS = (SALT, BEP46_SALT)


def bep46_value(info_hash_v1: bytes) -> bytes:
    """BEP 46's ``v``: ``{"ih": <20-byte info-hash>}`` bencoded."""
    return bytes(fastbencode.bencode({b"ih": info_hash_v1}))


def bep46_info_hash(item: SignedItem) -> bytes | None:
    """The ``ih`` of a BEP 46 item, or None when ``v`` is not BEP 46's dict."""
    try:
        v = item.decoded()
    except Exception:
        return None
    ih = v.get(b"ih") if isinstance(v, dict) else None
    return ih if isinstance(ih, bytes) and len(ih) == 20 else None


class Keeper:
    """Holds and re-puts followed sites' signed items (see the module's docstring).

    Args:
        engine: the torrent engine (``dht_put_signed``, ``dht_lookup``).
        registry: the sites.
        cfg: the ``[sites]`` config (``reput_interval``).
        use_dht: False in ``tor.mode = "tor-all"``.
        post: runs a closure on the sites thread.
        emit: hands an event to the engine.
    """

    def __init__(self, engine: TorrentService, registry: Registry, cfg: SitesConfig,
                 use_dht: bool, post: Callable[[Callable[[], None]], None],
                 emit: Callable[[Event], None]):
        self.engine = engine
        self.registry = registry
        self.every = min(cfg.reput_interval, MAX_REPUT_INTERVAL) if use_dht else 0.0
        """Seconds between re-puts (0: off)."""
        self._post = post
        self._emit = emit

    def hold(self, rec: SiteRecord, item: SignedItem) -> bool:
        """Keep ``item`` for re-puts when it is the site's, verifies, and is newer than the
        one held in its slot; True when it was taken (and saved)."""
        if item.public != rec.store.chain.key or item.salt not in SLOTS or not item.valid():
            return False
        held = rec.held.get(item.salt)
        if held is not None and held.seq >= item.seq:
            return False  # the same, older, or another value for one seq (kept: the first)
        rec.held[item.salt] = item
        if rec.next_reput == 0.0:
            rec.next_reput = time.monotonic() + self._interval()
        rec.save()
        return True

    def tick(self, rec: SiteRecord, mono: float) -> None:
        """A followed site's turn: re-put what it holds when due."""
        if not self.every or rec.reputting or mono < rec.next_reput or SALT not in rec.held:
            return
        if self.engine.snapshot.stats.dht_nodes == 0:
            return  # nowhere to put it (start-up): the DHT coming back makes it due
        self.reput(rec)

    def reput(self, rec: SiteRecord) -> None:
        """Put every held item back as it is (the BEP 46 one is looked for when none is
        held yet), then count the nodes that took them."""
        rec.reputting = True
        rec.next_reput = time.monotonic() + self._interval()
        address = rec.address
        results: dict[bytes, PutResult | Lookup | None] = {}
        slots = [s for s in SLOTS if s in rec.held or s == BEP46_SALT]

        def done(salt: bytes, f: Future[Any]) -> None:
            value = f.result() if f.exception() is None else None
            self._post(lambda: self._on_result(address, salt, value, results, len(slots)))

        for salt in slots:
            item = rec.held.get(salt)
            fut: Future[Any]
            if item is not None and item.valid():  # checked again: never pass on a bad one
                fut = self.engine.dht_put_signed(item, REPUT_TIMEOUT)
            else:
                fut = self.engine.dht_lookup(rec.store.chain.key, salt, REPUT_TIMEOUT)
            fut.add_done_callback(partial(done, salt))

    def _on_result(self, address: str, salt: bytes, value: PutResult | Lookup | None,
                   results: dict[bytes, PutResult | Lookup | None], wanted: int) -> None:
        results[salt] = value
        rec = self.registry.sites.get(address)
        if rec is None:
            return
        found = _items(value)
        newest = found[0] if found else None
        held = rec.held.get(salt)
        if newest is not None and (held is None or newest.seq > held.seq):
            if salt == SALT:
                rec.next_poll = 0.0  # a newer head: the chain judges it first
            elif self.hold(rec, newest) and held is None:
                rec.next_reput = 0.0  # found the BEP 46 item: put it back at the next tick
        if len(results) < wanted:
            return
        rec.reputting = False
        head = results.get(SALT)
        stored = getattr(head, "stored", 0)
        if not stored and (rec.reput_nodes or not rec.reput_at):  # once per change
            self._emit(Log(level="warning", message=f"site {address}: re-putting its head "
                                                    "stored it on no DHT node"))
        rec.reput_nodes = stored
        if stored:
            rec.reput_at = time.time()
        rec.save()

    def _interval(self) -> float:
        return self.every * (1 - JITTER * random.random()) if self.every else 0.0


def _items(value: PutResult | Lookup | None) -> list[SignedItem]:
    """The verified items a re-put's walk (or a lookup) met, newest first."""
    if value is None:
        return []
    lookup = getattr(value, "lookup", value)
    return list(getattr(lookup, "items", []))
