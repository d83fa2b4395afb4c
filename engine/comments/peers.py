"""Which comment servers to pull from, and when: the peer table, its cursors, the DHT timing.

The comments network part (:mod:`engine.comments.sync`) keeps one :class:`Peer` per endpoint
it learned, from the DHT (peers of the network's topic) or from ``comments.peers``. A peer
holds the puller's cursor into that peer's store (the peer's local seq pulled up to, and the
id of its first record, so a store started anew is noticed), when it is due, its back-off and
what it did (pulled, refused, last error). Cursors are persisted in one JSON file so a restart
does not pull everything again.

:class:`DhtTiming` says when to announce and look up. libtorrent's DHT drops an announce made
while its table is empty (docs: FACTS.md), so the first announce waits for nodes, and every
time the DHT comes back (no nodes -> some) it is made again at once.

No sockets or threads here; the clock is passed in.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

MAX_PEERS = 256
"""Endpoints kept at most (the DHT gives at most 200 per lookup; configured peers first)."""
MAX_BACKOFF = 300.0
"""Seconds a failing peer waits at most before it is tried again."""
FORGET_AFTER = 3600.0
"""A DHT-found peer failing this long and no longer announced is dropped."""
EARLY_REANNOUNCE = 5.0
"""After the DHT came back, announce again once it grew, at most this often ..."""
EARLY_REANNOUNCES = 3
"""... and at most this many times (a private or young DHT is still filling its table)."""
EARLY_ANNOUNCES = (3.0, 10.0, 30.0)
"""Seconds after the DHT came back when the announce is made again regardless."""
MAX_CURSOR_FILE = 1024 * 1024


@dataclass
class Peer:
    """One comment server we pull from."""

    endpoint: str
    """``host:port`` of its comment endpoint."""
    configured: bool = False
    """Listed in ``comments.peers`` (kept and tried for ever) rather than found in the DHT."""
    source: str = "dht"
    """How we first heard of it: ``config``, ``dht``, ``incoming`` (it pulled from us and
    told its port) or ``saved`` (a cursor kept from the last run)."""
    in_dht: bool = False
    """A DHT lookup named it (at least once)."""
    cursor: int = 0
    """Its local seq we pulled up to."""
    first: str = ""
    """Its first record's id when the cursor was set ("" = unknown)."""
    due: float = 0.0
    """Monotonic time of its next sync."""
    failures: int = 0
    """Syncs failed in a row (the back-off doubles with each)."""
    last_sync: float = 0.0
    """Wall time of the last sync that succeeded (0 = never)."""
    last_error: str = ""
    """Why the last sync failed ("" after a success)."""
    received: int = 0
    """Records it sent us (held ones included)."""
    pulled: int = 0
    """Records taken from it (new to us)."""
    refused: int = 0
    """Records it sent that our store refused (not counting ones already held)."""
    seen: float = 0.0
    """Monotonic time it was last named by the DHT (or configured)."""
    is_self: bool = False
    """It answered with our own node id: our endpoint, never pulled from."""
    reasons: set[str] = field(default_factory=set)
    """Refusal classes already logged for it (each logged once)."""

    def failed(self, now: float, interval: float, error: str) -> None:
        """A sync that failed: back off (doubling from ``interval``, at most MAX_BACKOFF)."""
        self.failures += 1
        self.last_error = error[:300]
        self.due = now + min(interval * 2 ** min(self.failures - 1, 16), MAX_BACKOFF)

    def succeeded(self, now: float, wall: float, interval: float) -> None:
        self.failures = 0
        self.last_error = ""
        self.last_sync = wall
        self.due = now + interval


class PeerTable:
    """The peers by endpoint, with their cursors persisted in ``path``."""

    def __init__(self, path: Path, configured: list[str], now: float):
        self.path = path
        self.peers: dict[str, Peer] = {}
        self.load_error = ""
        """Why the cursor file could not be read ("" if it was, or there was none)."""
        saved = self._load()
        for ep in configured:
            self.peers[ep] = Peer(ep, configured=True, source="config", seen=now)
        for ep, (cursor, first) in saved.items():
            if ep in self.peers:
                self.peers[ep].cursor, self.peers[ep].first = cursor, first
            elif len(self.peers) < MAX_PEERS:
                self.peers[ep] = Peer(ep, cursor=cursor, first=first, seen=now, due=now,
                                      source="saved")

    def found(self, endpoints: list[str], now: float) -> None:
        """The DHT named these endpoints now: new ones are due at once."""
        for ep in endpoints:
            peer = self.peers.get(ep)
            if peer is None:
                if len(self.peers) >= MAX_PEERS:
                    continue
                peer = self.peers[ep] = Peer(ep, due=now)
            peer.seen = now
            peer.in_dht = True

    def learned(self, ep: str, now: float) -> None:
        """``ep`` pulled from us and told its port: a new peer is due at once, and so is a
        known one that was failing (it is back: a restart need not wait out the back-off).
        The host is the request's address, never a claim, so a stranger can only name its
        own ports."""
        peer = self.peers.get(ep)
        if peer is None:
            if len(self.peers) < MAX_PEERS:
                self.peers[ep] = Peer(ep, source="incoming", due=now, seen=now)
        elif not peer.is_self:
            peer.seen = now
            if peer.failures:
                peer.due = min(peer.due, now)

    def due(self, now: float) -> list[Peer]:
        """The peers to sync now, the longest waiting first."""
        self._forget(now)
        return sorted((p for p in self.peers.values() if not p.is_self and p.due <= now),
                      key=lambda p: p.due)

    def _forget(self, now: float) -> None:
        for ep, p in list(self.peers.items()):
            if not p.configured and p.failures >= 3 and now - p.seen > FORGET_AFTER:
                del self.peers[ep]

    def save(self) -> None:
        """Write every cursor (atomically: a temporary file renamed over the old one)."""
        data = {ep: [p.cursor, p.first] for ep, p in self.peers.items()
                if p.cursor and not p.is_self}
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, self.path)

    def _load(self) -> dict[str, tuple[int, str]]:
        if not self.path.exists():
            return {}
        try:
            if self.path.stat().st_size > MAX_CURSOR_FILE:
                raise ValueError(f"over {MAX_CURSOR_FILE} bytes")
            raw = json.loads(self.path.read_bytes())
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            out: dict[str, tuple[int, str]] = {}
            for ep, value in raw.items():
                if (isinstance(ep, str) and isinstance(value, list) and len(value) == 2
                        and type(value[0]) is int and value[0] >= 0
                        and isinstance(value[1], str) and len(value[1]) <= 64):
                    out[ep] = (value[0], value[1])
            return out
        except (OSError, ValueError) as exc:
            self.load_error = f"{self.path}: {exc}; cursors start from 0"
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_suffix(".corrupt"))
            return {}


class DhtTiming:
    """When to announce our endpoint and look the topic up (monotonic seconds).

    An announce made while the routing table holds only nodes not yet heard from reaches
    nobody, and nothing says so (libtorrent gives no count for ``dht_announce``). So after
    the DHT comes back (no nodes -> some) the announce is repeated :data:`EARLY_ANNOUNCES`
    s later, and again whenever the table has grown since the last one (at most every
    :data:`EARLY_REANNOUNCE` s, :data:`EARLY_REANNOUNCES` times); then every
    ``announce_interval``."""

    def __init__(self, announce_interval: float, lookup_interval: float):
        self.announce_interval = announce_interval
        self.lookup_interval = lookup_interval
        self.next_announce = float("inf")
        self.next_lookup = 0.0
        self._nodes = 0
        self._early = 0
        self._back = 0.0
        self._schedule: list[float] = []
        self._last_announce = float("-inf")
        self._announced_nodes = 0

    def tick(self, now: float, nodes: int) -> tuple[bool, bool]:
        """``(announce now, look up now)`` for the DHT holding ``nodes`` nodes at ``now``."""
        if nodes > 0 and self._nodes == 0:  # start-up, or the network back
            self.next_announce = now
            self.next_lookup = now
            self._early = EARLY_REANNOUNCES
            self._schedule = [now + d for d in EARLY_ANNOUNCES]
        elif (self._early and nodes > self._announced_nodes
              and now - self._last_announce >= EARLY_REANNOUNCE):
            self.next_announce = now  # the table grew: more nodes to hold our announce
            self._early -= 1
        if self._schedule and now >= self._schedule[0]:
            self._schedule = [t for t in self._schedule if t > now]
            self.next_announce = min(self.next_announce, now)
        self._nodes = nodes
        announce = nodes > 0 and now >= self.next_announce
        if announce:
            self._last_announce = now
            self._announced_nodes = nodes
            self.next_announce = now + self.announce_interval
        lookup = nodes > 0 and now >= self.next_lookup
        if lookup:
            self.next_lookup = now + self.lookup_interval
        return announce, lookup
