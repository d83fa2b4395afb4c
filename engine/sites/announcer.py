"""The owner's side of the DHT: each owned site's head put where and when it can land.

A part of the Blockchain Handler (:class:`engine.sites.handler.BlockchainHandler`), on the
sites thread. It owns when heads are put: at publish, every ``sites.announce_interval``
(at most :data:`MAX_ANNOUNCE_INTERVAL`: BEP 44 items expire 2 h after their last put),
again after :data:`EARLY_RETRY` s (doubling) when a put stored on no node (sooner when the
DHT gains nodes meanwhile: they may store it), and at once
for every head when the DHT goes from no nodes to some (libtorrent's DHT takes puts only
once it has nodes: a put at start-up lands nowhere). The per-site state it keeps lives on
the :class:`~engine.sites.registry.SiteRecord` (``putting``, ``next_put``, ``put_head``,
``put_failures``, ``next_retry``, ``stored_nodes``, ``stored_at``), so the owner is shown
where its head landed, or why not.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from ..chain import SiteKey
from ..chain.bep44 import SignedItem
from ..chain.entry import Update
from ..config import SitesConfig
from ..errors import TidegateError
from ..events import Event, Log
from .chain_torrent import seed_head
from .head import SALT, Head
from .keeper import bep46_value
from .onion_follow import EARLY_RETRY
from .registry import BEP46_SALT, Registry, SiteRecord

if TYPE_CHECKING:
    from ..services import TorrentService

DHT_TIMEOUT = 20.0
MAX_ANNOUNCE_INTERVAL = 3600.0  # whatever the config says: BEP 44 items expire after 2 h
RETRY_DOUBLINGS = 6  # a put stored nowhere: again after EARLY_RETRY s, doubling this often
NEW_NODES_RETRY = 5.0  # ... or sooner when the DHT gains nodes, but not more often than this
NOT_STORED = "the DHT stored the head on no node; retrying"  # put reached nodes, none stored
NO_NODES = "not announced yet: the DHT has no nodes; retrying"  # start-up, no network


class Announcer:
    """Puts owned sites' heads in the DHT and pushes them on the bus.

    Args:
        engine: the torrent engine (DHT puts, reannounces, the snapshot's DHT node count).
        registry: the sites.
        cfg: the ``[sites]`` config.
        use_dht: False in ``tor.mode = "tor-all"`` (no DHT: followers ask the onion service).
        post: runs a closure on the sites thread (a put's future resolves elsewhere).
        push: tells other nodes' handlers of a new head (``{"hostname"}`` on the bus).
        emit: hands an event to the engine.
        note: sets a site's shown error (``""`` clears it).
    """

    def __init__(self, engine: TorrentService, registry: Registry, cfg: SitesConfig,
                 use_dht: bool, post: Callable[[Callable[[], None]], None],
                 push: Callable[[str], None], emit: Callable[[Event], None],
                 note: Callable[[str, str], None]):
        self.engine = engine
        self.registry = registry
        self.use_dht = use_dht
        self._post = post
        self._push = push
        self._emit = emit
        self._note = note
        self.every = min(cfg.announce_interval, MAX_ANNOUNCE_INTERVAL)
        """Seconds between puts of a head that landed."""
        self._dht_nodes = 0  # at the last tick: a rise from 0 announces every head again
        self._dht_back = -EARLY_RETRY  # when (monotonic) that last happened
        self._grew_at = 0.0  # when (monotonic) the DHT last gained nodes
        self._failed_at: dict[str, float] = {}  # site -> when its last put stored nowhere

    def announce(self, rec: SiteRecord, key: SiteKey) -> None:
        """Seed the head's chain torrent, put the head, push it."""
        head = seed_head(self.engine, rec)
        self.engine.reannounce(rec.head_torrent)
        rec.announced = max(rec.announced, head.height)
        rec.next_announce = time.monotonic() + self.every
        rec.put_head, rec.next_retry = head, 0.0
        self._put(rec, key, head)
        self._put_bep46(rec, key)
        self._push(rec.address)

    def tick(self, rec: SiteRecord, mono: float) -> None:
        """An owned site's turn: announce when due, or put a head that landed nowhere again."""
        if mono >= rec.next_announce:
            try:
                self.announce(rec, rec.key())
            except TidegateError as exc:
                self._note(rec.address, str(exc))
                rec.next_announce = mono + self.every
        elif rec.next_retry and rec.put_head is not None and (
                mono >= rec.next_retry or self._new_nodes_since_failure(rec.address, mono)):
            rec.next_retry = 0.0  # the last put landed nowhere: the same head again
            try:
                self._put(rec, rec.key(), rec.put_head)
            except TidegateError as exc:
                self._note(rec.address, str(exc))

    def dht_back(self, mono: float) -> bool:
        """True when the DHT has nodes again after having none (start-up, the network back):
        every site torrent is announced again now, and the caller makes every head due."""
        nodes = self.engine.snapshot.stats.dht_nodes
        back = nodes > 0 and self._dht_nodes == 0 and mono - self._dht_back >= EARLY_RETRY
        if nodes > self._dht_nodes:
            self._grew_at = mono
        self._dht_nodes = nodes
        if back:  # what failed can land now
            self._dht_back = mono
            for tid, t in self.engine.snapshot.torrents.items():
                if t.site:  # chains and snapshots announced to nobody so far
                    self.engine.reannounce(tid)
        return back and self.use_dht

    def _new_nodes_since_failure(self, address: str, mono: float) -> bool:
        """The DHT gained nodes since this site's last put stored nowhere: they may store
        it, so the retry need not wait out its back-off (at most every
        :data:`NEW_NODES_RETRY` s, however often the node count moves)."""
        failed = self._failed_at.get(address)
        return failed is not None and self._grew_at > failed and \
            mono - failed >= NEW_NODES_RETRY

    def _put(self, rec: SiteRecord, key: SiteKey, head: Head) -> None:
        """One DHT put per site at a time: libtorrent picks the item's seq from a lookup
        at the start of each put, so two overlapping puts get the same seq and the DHT
        keeps whichever came first. A head announced meanwhile is put afterwards."""
        if not self.use_dht:
            return  # tor-all: no DHT; followers ask the onion service
        if rec.putting:
            rec.next_put = (key, head)
            return
        rec.putting = True
        fut = self.engine.dht_put(key.seed, key.public, SALT, head.encode(), DHT_TIMEOUT)
        address = rec.address

        def done(f: Future[int]) -> None:
            stored = f.result() if f.exception() is None else 0
            self._post(lambda: self._on_put(address, stored))
        fut.add_done_callback(done)

    def _put_bep46(self, rec: SiteRecord, key: SiteKey) -> None:
        """BEP 46: ``{"ih": v1 info-hash of the newest snapshot}`` under the site key, no
        salt, signed here (tidegate's DHT client: libtorrent's binding puts strings only),
        seq = the UPDATE's height (never goes back; the same height signs the same item)."""
        update = rec.store.chain.head
        ih = v1_of(update.magnet) if isinstance(update, Update) and self.use_dht else None
        if ih is None:
            return
        assert isinstance(update, Update)
        item = SignedItem.sign(key, BEP46_SALT, update.seq, bep46_value(ih))
        self.engine.dht_put_signed(item, DHT_TIMEOUT)  # its count is the head's to show

    def _on_put(self, address: str, stored: int) -> None:
        rec = self.registry.sites.get(address)
        if rec is None:
            return
        rec.putting = False
        rec.stored_nodes = stored
        if stored:
            if rec.put_failures:  # after a warning
                self._emit(Log(level="info", message=f"site {address}: head stored"))
            rec.stored_at, rec.put_failures, rec.next_retry = time.time(), 0, 0.0
            self._failed_at.pop(address, None)
            if rec.error in (NOT_STORED, NO_NODES):
                self._note(address, "")
            with contextlib.suppress(OSError):  # then shown from memory till the next save
                rec.save()  # stored_at is shown after a restart too
        else:
            # nowhere: again soon, not in announce_interval (nobody finds the site till then)
            message = NOT_STORED if self.engine.snapshot.stats.dht_nodes > 0 else NO_NODES
            if rec.error != message:
                self._emit(Log(level="warning", message=f"site {address}: {message}"))
            self._note(address, message)
            delay = EARLY_RETRY * 2 ** min(rec.put_failures, RETRY_DOUBLINGS)
            rec.put_failures += 1
            self._failed_at[address] = time.monotonic()
            rec.next_retry = time.monotonic() + min(delay, self.every)
        waiting, rec.next_put = rec.next_put, None
        if waiting is not None:
            self._put(rec, *waiting)


def v1_of(magnet: str) -> bytes | None:
    """The v1 info-hash a hybrid snapshot's magnet names (``xt=urn:btih:<hex>``)."""
    for part in magnet.split("?", 1)[-1].split("&"):
        if part.startswith("xt=urn:btih:") and len(part) == 52:
            return bytes.fromhex(part[12:])
    return None
