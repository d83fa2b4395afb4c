"""The Blockchain Handler: publishes owned sites, follows others, keeps every chain verified.

Runs on the sites thread (:mod:`engine.sites.service`); reaches libtorrent only through
engine commands. For each site:

* **Owner**: ``new`` makes a key and a GENESIS; ``publish`` stages the folder as a
  deterministic snapshot, appends a signed UPDATE, hands the snapshot to Hosting, seeds
  the chain torrent of the new height and announces the head (DHT put, bus push).
  The head is put again every ``sites.announce_interval`` (at most 1 h: BEP 44 items
  expire after 2 h); a put stored on no node (the DHT takes puts only once it has nodes)
  again after :data:`EARLY_RETRY` s (doubling), and every head as soon as the DHT has
  nodes after having none (:mod:`.announcer`). The site shows where its head landed, or
  why not.
* **Follower**: every ``sites.poll_interval`` (or at once when a bus push or ``check``
  asks) the head is looked up in the DHT; in ``tor.mode = "tor-all"`` (no DHT) the whole
  chain is asked of the site's onion service over HTTP instead (:mod:`.onion_follow`), and
  the new head's snapshot metainfo with it. No item found is not a refusal: "not
  found" (the DHT answered) or "unreachable" (no node). The chain judges the heads announced
  (:func:`engine.chain.judge.judge_heads`): a head below the verified height is a
  rollback, another hash at the same height a fork (the site is then equivocating); both
  are refused and shown. A higher head is fetched (:mod:`.chain_torrent`): the chain
  torrent it names, verified entry by entry from where this chain ends. Each accepted
  chain that ends in an UPDATE is sent to Hosting as ``{"time", "snapshot", "hosts"}``.

Nothing unverified is stored or acted on.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from ..chain import ChainRejected, SiteKey, address_of, sign_genesis, sign_update
from ..chain.bep44 import SignedItem
from ..chain.codec import encode_chain
from ..chain.entry import FileRecord, Genesis, Update
from ..chain.judge import Judgement
from ..config import tor_socks
from ..durable import write_synced
from ..errors import EngineStoppedError, SiteError, TidegateError, describe
from ..events import Event, Log, SiteProgress, SiteRefused, SiteUpdated
from . import snapshot as snap
from .announcer import DHT_TIMEOUT, Announcer
from .calls import remove_torrent
from .chain_torrent import ChainFetcher, seed_head
from .head import SALT, Head, decode_head
from .keeper import Keeper
from .onion_follow import EARLY_RETRY, ONION_TIMEOUT, OnionFollower
from .onion_http import OnionHttp
from .registry import (
    Registry,
    SiteRecord,
    canonical_address,
    check_name,
    damaged_message,
    now,
)

if TYPE_CHECKING:
    from ..services import TorrentService
    from ..torrents.krpc import Lookup

UNREACHABLE = "DHT unreachable: no nodes"  # a follower's lookup could ask nobody
TIMED_OUT = "DHT lookup timed out"  # nodes were asked, none answered (+ how many)
NOT_FOUND = "not found in the DHT"  # answered without the item (+ when it was asked)
INTERNAL = "internal error: "  # a fault of this site's own (+ what), until its next lookup


class BlockchainHandler:
    """Publishes owned sites and follows the others (see the module's docstring).

    Args:
        engine: the torrent engine (torrents, BEP 44 items, snapshots, events).
        registry: the sites, loaded.
        post: runs a closure on the sites thread (engine futures resolve elsewhere).
        send_update: hands a verified snapshot to Hosting (``time, magnet, address``).
        push: tells other nodes' handlers of a new head (``{"hostname"}`` on the bus).
    """

    def __init__(self, engine: TorrentService, registry: Registry,
                 post: Callable[[Callable[[], None]], None],
                 send_update: Callable[[int, str, str], None],
                 push: Callable[[str], None]):
        self.engine = engine
        self.registry = registry
        self.cfg = engine.config.sites
        self._post = post
        self._send_update = send_update
        self._push = push
        self.fetcher = ChainFetcher(engine, self.cfg, self._emit, self._note, self._refuse,
                                    self._grown)
        """Fetches the chain torrents of announced heads."""
        tor = engine.config.tor
        self.onion: OnionFollower | None = None
        """In ``tor-all`` mode: heads and metainfo from onion services, not the DHT."""
        if tor.mode == "tor-all":
            http = OnionHttp(tor_socks(engine.config), max(ONION_TIMEOUT, tor.timeout))
            self.onion = OnionFollower(http, registry, self.cfg.poll_interval, post,
                                       send_update, self._note, self._refuse,
                                       self._grown_from_onion)
        self.announcer = Announcer(engine, registry, self.cfg, self.onion is None, post, push,
                                   self._emit, self._note)
        """Puts owned sites' heads in the DHT where and when they can land."""
        self.keeper = Keeper(engine, registry, self.cfg, self.onion is None, post, self._emit)
        """Followers: the owner's signed items put back, unchanged, while it is away."""

    def close(self) -> None:
        if self.onion is not None:
            self.onion.close()

    # ------------------------------------------------------------------ helpers

    def _emit(self, event: Event) -> None:
        self.engine.post_event(event)

    def _remove(self, torrent_id: str, delete_data: bool) -> None:
        remove_torrent(self.engine, torrent_id, delete_data)

    def _refuse(self, rec: SiteRecord, exc: ChainRejected, where: str) -> None:
        message = f"{where}: {exc}"
        if rec.error != message:
            rec.error = message
            self._emit(SiteRefused(address=rec.address, reason=exc.reason, message=message))

    refuse = _refuse
    """A refusal made the site's error and a ``SiteRefused`` (also for the links' pushes)."""

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Seed every site's chain torrent again (restored torrents are found by id)."""
        for problem in self.registry.problems:
            self._emit(Log(level="error", message=f"site not loaded: {problem}"))
        for rec in self.registry.sites.values():
            if rec.store.cut_bytes:
                self._emit(Log(level="warning", message=f"{rec.address}: cut a torn tail of "
                                                        f"{rec.store.cut_bytes} bytes"))
            if rec.store.damaged:
                rec.damage_note = damaged_message(rec)
                self._emit(Log(level="error", message=f"{rec.address}: {rec.damage_note}"))
            if rec.store.chain.height >= 0:
                try:
                    self._seed_head(rec)
                except TidegateError as exc:
                    rec.error = str(exc)
            head = rec.store.chain.head
            if isinstance(head, Update):
                # Hosting may not have it yet: a crash between the chain append and
                # Hosting's own record (it ignores a snapshot it holds or fetches already)
                self._send_update(head.time, head.magnet, rec.address)
            rec.next_poll = 0.0
            rec.next_announce = 0.0

    # ------------------------------------------------------------------ commands

    def new(self, name: str, folder: str | None) -> SiteRecord:
        name = check_name(name)
        if any(r.name == name for r in self.registry.sites.values()):
            raise SiteError(name, "a site with this name already exists here")
        source = str(Path(folder).expanduser().resolve()) if folder else ""
        if source and not Path(source).is_dir():
            raise SiteError(name, f"{source}: not a folder")
        key = SiteKey.generate()
        address = address_of(key.public)
        # key, then GENESIS, then site.json: a crash in between leaves a folder that is
        # reported and kept (the key too), never a site without its key or its genesis
        rec = self.registry.create(address, name, True, source, save=False)
        key.save(rec.key_path)
        genesis = sign_genesis(key, now(), name)
        rec.store.append(genesis.raw, time.time())
        rec.save()
        self.announcer.announce(rec, key)
        self._emit(SiteUpdated(address=address, name=name, height=0))
        return rec

    def import_key(self, name: str, key_text: str, folder: str | None) -> SiteRecord:
        """Own a site again from its key file (a backup, another machine). Its chain is not
        made up: it is recovered from the DHT like a follower's before anything is
        published, so the key never signs a second GENESIS (a fork)."""
        name = check_name(name)
        try:
            key = SiteKey.parse(key_text, "the key given")
        except TidegateError as exc:
            raise SiteError(name, str(exc)) from None
        source = str(Path(folder).expanduser().resolve()) if folder else ""
        rec = self.registry.sites.get(key.address)
        if rec is not None and rec.owner:
            raise SiteError(rec.name, "this site is already owned here")
        if rec is None:
            rec = self.registry.create(key.address, name, True, source)
        else:
            rec.owner, rec.source = True, source or rec.source
            rec.name = rec.name or name
            rec.save()
        key.save(rec.key_path)
        rec.next_poll = 0.0
        return rec

    def publish(self, site: str, folder: str | None) -> SiteRecord:
        rec = self.registry.resolve(site)
        key = rec.key()
        if rec.store.damaged:
            raise SiteError(rec.name, damaged_message(rec))
        if rec.store.chain.height < 0:
            raise SiteError(rec.name, "its chain has not been recovered yet: the head is "
                            "being looked up in the DHT (see `tidegate site ls`)")
        source = Path(folder).expanduser().resolve() if folder else (
            Path(rec.source) if rec.source else None)
        if source is None:
            raise SiteError(rec.name, "no folder to publish: give one (it is remembered)")
        if not source.is_dir():
            raise SiteError(rec.name, f"{source}: not a folder")
        chain = rec.store.chain
        seq = chain.height + 1
        raws = [e.raw for e in chain.entries]
        dest = rec.snapshot_dir(seq)
        try:
            built = snap.snapshot(source, encode_chain(raws), dest,
                                  progress=self._progress(rec.address))
        except TidegateError:
            shutil.rmtree(dest, ignore_errors=True)  # nothing of a refused folder is kept
            raise
        head = chain.head
        if isinstance(head, Update) and _site_files(head.files) == _site_files(built.files):
            # nothing changed since the head (only the chain file inside differs)
            shutil.rmtree(dest, ignore_errors=True)
            self.announcer.announce(rec, key)
            return rec
        assert head is not None and chain.head_hash is not None
        entry = sign_update(key, seq, chain.head_hash, max(now(), head.time), built.magnet,
                            built.files)
        write_synced(rec.snapshot_torrent(seq), built.data)
        rec.store.append(entry.raw, time.time())
        if str(source) != rec.source:
            rec.source = str(source)
            rec.save()
        self._send_update(entry.time, entry.magnet, rec.address)
        self.announcer.announce(rec, key)
        self._emit(SiteUpdated(address=rec.address, name=rec.name, height=seq))
        return rec

    def follow(self, address: str) -> SiteRecord:
        canonical = canonical_address(address)
        if canonical is None or not address.strip().lower().removesuffix(".onion"):
            raise SiteError(address, "not a site address (56 base32 characters + .onion, "
                            "with a valid checksum)")
        if canonical in self.registry.sites:
            return self.registry.sites[canonical]
        rec = self.registry.create(canonical, "", False, "")
        rec.next_poll = 0.0
        return rec

    def unfollow(self, site: str, delete_data: bool) -> list[str]:
        """Forget a followed site; returns the torrent ids Hosting must drop."""
        rec = self.registry.resolve(site)
        if rec.owner and delete_data:
            raise SiteError(rec.name, "this site is owned here: deleting it would destroy "
                            "its key; move the folder away by hand if you mean it")
        if rec.fetch is not None:
            self._remove(rec.fetch.torrent_id, True)
        self._remove(rec.head_torrent, delete_data)
        self.registry.forget(rec, delete_data)
        return []

    def check(self, site: str) -> None:
        rec = self.registry.resolve(site)
        rec.next_poll = 0.0

    def _progress(self, address: str) -> Callable[[int, int], None]:
        last = [0.0]

        def report(done: int, total: int) -> None:
            t = time.monotonic()
            if t - last[0] >= 0.25 or done == total:
                last[0] = t
                self._emit(SiteProgress(address=address, done=done, total=total))
        return report

    # ------------------------------------------------------------------ announcing

    def _seed_head(self, rec: SiteRecord) -> Head:
        return seed_head(self.engine, rec)

    def _note(self, address: str, message: str) -> None:
        rec = self.registry.sites.get(address)
        if rec is not None and rec.error != message:
            rec.error = message

    # ------------------------------------------------------------------ following

    def on_hostname(self, hostname: str) -> None:
        """A bus message names a site: look it up now. A site not held here is followed:
        the Smart Proxy sends this when a browser asks for a site it does not have (and
        only components with access to the bus can send it). For a followed site it comes
        from another node's push or from a visit: the proxy sends it when a page of the
        site is opened and the last look-up (``checked``) is older than
        ``sites.visit_check_interval``, so the interval is kept there, and a push is never
        held back by it. An owned site is looked up only while its chain is recovered
        after ``import_key``; a look-up under way absorbs the request."""
        address = canonical_address(hostname)
        if address is None:
            return
        rec = self.registry.sites.get(address)
        if rec is None:
            self.follow(address)
            self._emit(Log(level="info", message=f"following {address}: it was asked for"))
        elif not rec.owner or rec.store.chain.height < 0:
            rec.next_poll = 0.0

    def tick(self, mono: float) -> None:
        back = self.announcer.dht_back(mono)
        for rec in list(self.registry.sites.values()):
            if back:  # the announcer says so only where heads go to the DHT
                rec.next_announce = min(rec.next_announce, mono)
                rec.next_poll = min(rec.next_poll, mono)
                rec.next_reput = min(rec.next_reput, mono)
            try:
                self._tick_site(rec, mono)
            except EngineStoppedError:
                raise
            except Exception as exc:  # this site's fault: its error; the others go on
                self._site_fault(rec, exc)

    def _site_fault(self, rec: SiteRecord, exc: Exception) -> None:
        message = f"{INTERNAL}{describe(exc)}"
        if rec.error != message:  # shown on the site, logged once per kind
            self._emit(Log(level="error", message=f"site {rec.address}: {message}"))
        self._note(rec.address, message)
        # not again at every tick: at the next poll or announce
        rec.next_poll = rec.next_announce = time.monotonic() + self.cfg.poll_interval

    def _tick_site(self, rec: SiteRecord, mono: float) -> None:
        if rec.owner and rec.store.chain.height >= 0 and not rec.store.damaged:
            self.announcer.tick(rec, mono)
            return
        if rec.fetch is not None:
            self.fetcher.watch(rec, mono)
        self.keeper.tick(rec, mono)
        if mono >= rec.next_poll and not rec.polling:
            self._poll(rec)  # also while fetching: a newer head replaces the fetch

    def _poll(self, rec: SiteRecord) -> None:
        if self.onion is not None:
            self.onion.poll(rec)
            return
        rec.polling = True
        fut = self.engine.dht_lookup(rec.store.chain.key, SALT, DHT_TIMEOUT)
        address = rec.address

        def done(f: Future[Lookup]) -> None:
            found = f.result() if f.exception() is None else None
            self._post(lambda: self._on_values(address, found))
        fut.add_done_callback(done)

    def _on_values(self, address: str, found: Lookup | None) -> None:
        rec = self.registry.sites.get(address)
        if rec is None:
            return
        rec.polling = False
        rec.checked = time.time()
        rec.next_poll = time.monotonic() + self.cfg.poll_interval
        items = found.items if found is not None else []  # signatures verified, newest first
        # the DHT's newest seq only (copies of older ones linger on nodes a put missed),
        # but every value with that seq: two would be the key signing a fork
        items = [i for i in items if i.seq == items[0].seq]
        decoded = [i.decoded() for i in items]  # a string value: libtorrent's head format
        values = [v for v in decoded if isinstance(v, bytes) and v]
        if not values:
            self._not_found(rec, found)
            return
        if rec.error.startswith((UNREACHABLE, NOT_FOUND, TIMED_OUT, INTERNAL)):
            # found: whatever it holds is judged below (and a fault that stopped the
            # last polls is gone: this one ran; the chain may have grown meanwhile by a
            # push, which left nothing else to clear it)
            rec.error = ""
        rec.lookup = "found"
        heads: list[Head] = []
        for value in values:
            try:
                heads.append(decode_head(value, "DHT"))
            except ChainRejected as exc:
                self._refuse(rec, exc, "DHT")
        if heads:  # else refused
            verdict = self.judge(rec, heads, "DHT")
            if verdict.refusal() is None and verdict.head is not None:
                self._hold(rec, items, verdict.head)

    def judge(self, rec: SiteRecord, heads: list[Head], where: str) -> Judgement[Head]:
        """Judge heads whose signatures were verified (a DHT lookup's, a link's push):
        record the highest announced, refuse a rollback or equivocation (the site's error
        and a ``SiteRefused`` naming ``where``), fetch the chain of a newer one."""
        verdict = rec.store.chain.judge(heads)
        best = verdict.head
        assert best is not None
        if verdict.outcome != "split" and best.height > rec.announced:
            rec.announced = best.height
            rec.save()
        refusal = verdict.refusal()
        if refusal is not None:
            self._refuse(rec, refusal, where)
            return verdict
        if rec.store.damaged and not verdict.news:
            rec.damage_note = damaged_message(rec, best.height)
        if verdict.follow is not None:
            self.fetcher.want(rec, verdict.follow)
        return verdict

    def _hold(self, rec: SiteRecord, items: list[SignedItem], best: Head) -> None:
        """Keep the signed item that announced the accepted head, for re-puts."""
        for item in items:
            if item.decoded() == best.encode():
                self.keeper.hold(rec, item)
                return

    def _not_found(self, rec: SiteRecord, found: Lookup | None = None) -> None:
        """No head found: the DHT has no node (ask again soon), nodes were asked and none
        answered (timed out: ask again soon), or nodes answered without the item (a plain
        state: nothing announced yet, or the owner and every follower away for 2 h)."""
        asked = found.queried if found is not None else 0
        if self.engine.snapshot.stats.dht_nodes == 0 and not asked:
            kind, message, level = "unreachable", UNREACHABLE, "warning"
            # not in the DHT yet (just started): ask again soon, not in an hour
            rec.next_poll = time.monotonic() + min(self.cfg.poll_interval, EARLY_RETRY)
        elif found is None or not found.answered:
            kind, level = "timed_out", "warning"
            message = (f"{TIMED_OUT}: none of {asked} DHT node{'s' * (asked != 1)} answered"
                       if asked else f"{TIMED_OUT}: no DHT node to ask")
            rec.next_poll = time.monotonic() + min(self.cfg.poll_interval, EARLY_RETRY)
        else:
            kind, level = "not_found", "info"
            message = (f"{NOT_FOUND}{' yet' if rec.store.chain.height < 0 else ''} "
                       f"(last asked {time.strftime('%H:%M')})")
        if rec.lookup != kind:
            self._emit(Log(level=level, message=f"site {rec.address}: {message}"))
        rec.lookup = kind
        self._note(rec.address, message)

    def _grown(self, rec: SiteRecord, send: bool = True) -> None:
        """The chain grew: take the site's name from its GENESIS, hand the head's snapshot
        to Hosting (``send``) and tell frontends."""
        chain = rec.store.chain
        genesis = chain.entries[0]
        if isinstance(genesis, Genesis) and rec.name != genesis.name:
            rec.name = genesis.name
            rec.save()
        head = chain.head
        if send and isinstance(head, Update):
            self._send_update(head.time, head.magnet, rec.address)
        self._emit(SiteUpdated(address=rec.address, name=rec.name, height=chain.height))

    def _grown_from_onion(self, rec: SiteRecord) -> None:
        """The chain grew from a site's onion service: seed it; its snapshot goes to
        Hosting once the metainfo is here (:class:`.onion_follow.OnionFollower`)."""
        self._seed_head(rec)
        self._grown(rec, send=False)


def _site_files(files: tuple[FileRecord, ...]) -> tuple[FileRecord, ...]:
    """A manifest without the snapshot's own chain file (which grows with every entry)."""
    return tuple(f for f in files if f.path != snap.CHAIN_FILE)

