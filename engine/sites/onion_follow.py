"""Following a site in ``tor.mode = "tor-all"``: its chain and snapshot metainfo come from
its onion service over HTTP (:mod:`.onion_http`), as there is no DHT to look a head up in.

:class:`OnionFollower`, a part of :class:`~.handler.BlockchainHandler`, asks
``/.tidegate/head`` for the whole chain, which is judged like a DHT head (shorter:
``rollback``; another entry at the held height: ``equivocation``); every new entry goes
through ``ChainStore.append``, so each is verified; the head snapshot's metainfo is kept
only if its info-hashes give exactly the magnet the verified entry names (``bad_manifest``
otherwise), and only then is the snapshot handed to Hosting, which downloads it from the
service's web seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future

from ..chain import ChainRejected
from ..chain.codec import decode_chain
from ..chain.entry import Update, entry_hash
from ..chain.judge import AnnouncedHead
from ..durable import write_synced
from . import snapshot as snap
from .onion_http import HEAD_PATH, OnionHttp, snapshot_torrent_path
from .registry import Registry, SiteRecord

MAX_CHAIN_BYTES = 256 << 20
"""Largest chain accepted from an onion service (a chain file holds at most this much)."""
MAX_METAINFO_BYTES = 16 << 20
ONION_TIMEOUT = 120.0
"""Seconds one GET to an onion service may take (circuit, descriptor look-up, body)."""
EARLY_RETRY = 10.0
"""Seconds before asking again when there was nobody to ask: the DHT had no nodes, or the
onion service could not be reached."""


class OnionFollower:
    """Follows sites through their onion services; a part of the Blockchain Handler that
    owns its HTTP client and what it has asked for, and is given the rest.

    Args:
        http: GETs through tor's SOCKS port (closed by :meth:`close`).
        registry: the sites.
        poll_interval: seconds between two looks at a site's chain.
        post: runs a closure on the sites thread (futures resolve elsewhere).
        send_update: hands a verified snapshot to Hosting (``time, magnet, address``).
        note: sets a site's error message.
        refuse: reports what a site's chain refused.
        grown: the chain grew from the service (the handler seeds the chain torrent and
            tells frontends; the snapshot goes to Hosting once its metainfo is here).
    """

    def __init__(self, http: OnionHttp, registry: Registry, poll_interval: float,
                 post: Callable[[Callable[[], None]], None],
                 send_update: Callable[[int, str, str], None],
                 note: Callable[[str, str], None],
                 refuse: Callable[[SiteRecord, ChainRejected, str], None],
                 grown: Callable[[SiteRecord], None]) -> None:
        self.http = http
        self.registry = registry
        self.poll_interval = poll_interval
        self._post = post
        self._send_update = send_update
        self._note = note
        self._refuse = refuse
        self._grown = grown
        self._metainfo_wanted: set[tuple[str, int]] = set()
        """``(address, seq)`` of the metainfo GETs under way."""

    def close(self) -> None:
        self.http.close()

    def poll(self, rec: SiteRecord) -> None:
        """Ask the site's onion service for its chain (its address is the site's, and only
        the key holder can run it; every entry is verified here all the same)."""
        rec.polling = True
        address = rec.address
        fut = self.http.get(address, HEAD_PATH, MAX_CHAIN_BYTES)

        def done(f: Future[bytes]) -> None:
            exc = f.exception()
            data, error = (None, str(exc)) if exc is not None else (f.result(), "")
            self._post(lambda: self._on_onion_chain(address, data, error))
        fut.add_done_callback(done)

    def _on_onion_chain(self, address: str, data: bytes | None, error: str) -> None:
        rec = self.registry.sites.get(address)
        if rec is None:
            return
        rec.polling = False
        rec.checked = time.time()
        rec.next_poll = time.monotonic() + self.poll_interval
        where = "onion service"
        if data is None:
            self._note(address, f"head not fetched: {error}")
            rec.next_poll = time.monotonic() + min(self.poll_interval, EARLY_RETRY)
            return
        try:
            raws = decode_chain(data, f"the chain from {address}")
            if not raws:
                raise ChainRejected("bad_field", f"the chain from {address} is empty")
        except ChainRejected as exc:
            self._refuse(rec, exc, where)
            return
        chain = rec.store.chain
        height = len(raws) - 1
        verdict = chain.judge([AnnouncedHead(height, entry_hash(raws[-1]))])
        refusal = verdict.refusal()
        if refusal is not None:
            self._refuse(rec, refusal, where)
            return
        if verdict.follow is not None:
            before = chain.height
            try:
                for raw in raws:
                    rec.store.append(raw, time.time())
            except ChainRejected as exc:
                self._refuse(rec, exc, where)
            if chain.height > before:
                if chain.height == height:
                    rec.error = ""
                if height > rec.announced:
                    rec.announced = height
                    rec.save()
                self._grown(rec)
        self._want_metainfo(rec)

    def _want_metainfo(self, rec: SiteRecord) -> None:
        """Fetch the head snapshot's metainfo from the onion service once, then hand the
        snapshot to Hosting (which downloads it from the service's web seed)."""
        head = rec.store.chain.head
        if not isinstance(head, Update):
            return
        if rec.snapshot_torrent(head.seq).exists():
            self._send_update(head.time, head.magnet, rec.address)
            return
        key = (rec.address, head.seq)
        if key in self._metainfo_wanted:
            return
        self._metainfo_wanted.add(key)
        fut = self.http.get(rec.address, snapshot_torrent_path(head.seq), MAX_METAINFO_BYTES)

        def done(f: Future[bytes]) -> None:
            exc = f.exception()
            data, error = (None, str(exc)) if exc is not None else (f.result(), "")
            self._post(lambda: self._on_metainfo(key, data, error))
        fut.add_done_callback(done)

    def _on_metainfo(self, key: tuple[str, int], data: bytes | None, error: str) -> None:
        self._metainfo_wanted.discard(key)
        address, seq = key
        rec = self.registry.sites.get(address)
        entry = rec.update_at(seq) if rec is not None else None
        if rec is None or entry is None:
            return
        if data is None:
            self._note(address, f"snapshot {seq} metainfo not fetched: {error}")
            return
        if not snap.metainfo_names(data, entry.magnet):
            self._refuse(rec, ChainRejected("bad_manifest", f"the metainfo served for snapshot "
                                            f"{seq} is not the torrent entry {seq} names"),
                         "onion service")
            return
        path = rec.snapshot_torrent(seq)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_synced(path, data)
        self._send_update(entry.time, entry.magnet, rec.address)
