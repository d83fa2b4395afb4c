"""The Blockchain Handler: publishes owned sites, follows others, keeps every chain verified.

Runs on the sites thread (:mod:`engine.sites.service`); reaches libtorrent only through
engine commands. For each site:

* **Owner**: ``new`` makes a key and a GENESIS; ``publish`` stages the folder as a
  deterministic snapshot, appends a signed UPDATE, hands the snapshot to Hosting, seeds
  the chain torrent of the new height and announces the head (DHT put, bus push).
  The head is put again every ``sites.announce_interval`` (BEP 44 items expire).
* **Follower**: every ``sites.poll_interval`` (or at once when a bus push or ``check``
  asks) the head is looked up in the DHT; in ``tor.mode = "tor-all"`` (no DHT) the whole
  chain is asked of the site's onion service over HTTP instead (:mod:`.onion_follow`), and
  the new head's snapshot metainfo with it. A head below the verified height is a rollback,
  another hash at the same height a fork (the site is then equivocating); both are refused
  and shown. A higher head is fetched: the chain torrent it names, verified entry by entry
  from where this chain ends. Each accepted chain that ends in an UPDATE is sent to
  Hosting as ``{"time", "snapshot", "hosts"}``.

Nothing unverified is stored or acted on.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..chain import ChainRejected, SiteKey, address_of, sign_genesis, sign_update
from ..chain.entry import FileRecord, Genesis, Update
from ..chain.store import decode_chain, encode_chain
from ..config import tor_socks
from ..durable import write_synced
from ..errors import EngineStoppedError, SiteError, TidegateError, describe
from ..events import Event, Log, SiteProgress, SiteRefused, SiteUpdated
from ..requests import AddRequest
from . import snapshot as snap
from .calls import RETRY_NUDGE, add_torrent, remove_torrent, site_torrent
from .head import SALT, Head, build_chain_torrent, decode_head
from .onion_follow import EARLY_RETRY, ONION_TIMEOUT, OnionFollowing
from .onion_http import OnionHttp
from .registry import Registry, SiteRecord, canonical_address, check_name, now

if TYPE_CHECKING:
    from ..engine import Engine

DHT_TIMEOUT = 20.0
NOT_STORED = "the DHT stored the head on no node; announcing again later"


@dataclass
class Fetch:
    head: Head
    torrent_id: str
    started: float
    progress_at: float
    done_bytes: int = 0
    next_nudge: float = 0.0


class BlockchainHandler(OnionFollowing):
    def __init__(self, engine: Engine, registry: Registry, post: Callable[[Callable[[], None]],
                 None], send_update: Callable[[int, str, str], None],
                 push: Callable[[str], None]):
        self.engine = engine
        self.registry = registry
        self.cfg = engine.config.sites
        self._post = post
        self._send_update = send_update
        self._push = push
        self.changed = True
        tor = engine.config.tor
        self.onion: OnionHttp | None = None
        """In ``tor-all`` mode: heads and metainfo from onion services, not the DHT."""
        if tor.mode == "tor-all":
            self.onion = OnionHttp(tor_socks(engine.config), max(ONION_TIMEOUT, tor.timeout))
        self._metainfo_wanted: set[tuple[str, int]] = set()

    def close(self) -> None:
        if self.onion is not None:
            self.onion.close()

    # ------------------------------------------------------------------ helpers

    def _emit(self, event: Event) -> None:
        self.engine.post_event(event)

    def _add(self, request: AddRequest, what: str) -> str:
        return add_torrent(self.engine, request, what)

    def _remove(self, torrent_id: str, delete_data: bool) -> None:
        remove_torrent(self.engine, torrent_id, delete_data)

    def _refuse(self, rec: SiteRecord, exc: ChainRejected, where: str) -> None:
        message = f"{where}: {exc}"
        if rec.error != message:
            rec.error = message
            self._emit(SiteRefused(address=rec.address, reason=exc.reason, message=message))
        self.changed = True

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
        self._announce(rec, key)
        self._emit(SiteUpdated(address=address, name=name, height=0))
        self.changed = True
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
        self.changed = True
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
            self._announce(rec, key)
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
        self._announce(rec, key)
        self._emit(SiteUpdated(address=rec.address, name=rec.name, height=seq))
        self.changed = True
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
        self.changed = True
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
        self.changed = True
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
        """Seed the chain torrent of the current height (rebuilt from the store)."""
        chain = rec.store.chain
        folder = rec.heads_dir(chain.height)
        data = encode_chain([e.raw for e in chain.entries])
        path = folder / "chain"
        if not path.exists() or path.read_bytes() != data:
            folder.mkdir(parents=True, exist_ok=True)
            write_synced(path, data)
        built = build_chain_torrent(folder)
        tid = self._add(site_torrent(rec.address, "chain", torrent=built.data, source=str(path),
                                   save_path=str(folder), seed_mode=True), "seed the chain")
        if rec.head_torrent and rec.head_torrent != tid:
            self._remove(rec.head_torrent, True)
        rec.head_torrent = tid
        self._prune_heads(rec, chain.height)
        assert chain.head_hash is not None
        return Head(chain.height, chain.head_hash, built.info_hash)

    def _prune_heads(self, rec: SiteRecord, keep: int) -> None:
        heads = rec.folder / "heads"
        if heads.is_dir():
            for old in heads.iterdir():
                if old.name != str(keep) and (rec.fetch is None
                                              or old.name != str(rec.fetch.head.height)):
                    shutil.rmtree(old, ignore_errors=True)

    def _announce(self, rec: SiteRecord, key: SiteKey) -> None:
        head = self._seed_head(rec)
        self.engine.reannounce(rec.head_torrent)
        rec.announced = max(rec.announced, head.height)
        rec.next_announce = time.monotonic() + self.cfg.announce_interval
        self._put(rec, key, head)
        self._push(rec.address)

    def _put(self, rec: SiteRecord, key: SiteKey, head: Head) -> None:
        """One DHT put per site at a time: libtorrent picks the item's seq from a lookup
        at the start of each put, so two overlapping puts get the same seq and the DHT
        keeps whichever came first. A head announced meanwhile is put afterwards."""
        if self.onion is not None:
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

    def _on_put(self, address: str, stored: int) -> None:
        rec = self.registry.sites.get(address)
        if rec is None:
            return
        rec.putting = False
        if stored == 0 and self.engine.snapshot.stats.dht_nodes > 0:
            self._note(address, NOT_STORED)
        elif stored and rec.error == NOT_STORED:
            self._note(address, "")
        waiting, rec.next_put = rec.next_put, None
        if waiting is not None:
            self._put(rec, *waiting)

    def _note(self, address: str, message: str) -> None:
        rec = self.registry.sites.get(address)
        if rec is not None and rec.error != message:
            rec.error = message
            self.changed = True

    # ------------------------------------------------------------------ following

    def on_hostname(self, hostname: str) -> None:
        """A bus message names a site: look it up now. A site not held here is followed:
        the Smart Proxy sends this when a browser asks for a site it does not have (and
        only components with access to the bus can send it)."""
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
        for rec in list(self.registry.sites.values()):
            try:
                self._tick_site(rec, mono)
            except EngineStoppedError:
                raise
            except Exception as exc:  # this site's fault: its error; the others go on
                self._site_fault(rec, exc)

    def _site_fault(self, rec: SiteRecord, exc: Exception) -> None:
        message = f"internal error: {describe(exc)}"
        if rec.error != message:  # shown on the site, logged once per kind
            self._emit(Log(level="error", message=f"site {rec.address}: {message}"))
        self._note(rec.address, message)
        # not again at every tick: at the next poll or announce
        rec.next_poll = rec.next_announce = time.monotonic() + self.cfg.poll_interval

    def _tick_site(self, rec: SiteRecord, mono: float) -> None:
        if rec.owner and rec.store.chain.height >= 0 and not rec.store.damaged:
            if mono >= rec.next_announce:
                try:
                    self._announce(rec, rec.key())
                except TidegateError as exc:
                    self._note(rec.address, str(exc))
                    rec.next_announce = mono + self.cfg.announce_interval
            return
        if rec.fetch is not None:
            self._watch_fetch(rec, mono)
        if mono >= rec.next_poll and not rec.polling:
            self._poll(rec)  # also while fetching: a newer head replaces the fetch

    def _poll(self, rec: SiteRecord) -> None:
        if self.onion is not None:
            self._poll_onion(rec, self.onion)
            return
        rec.polling = True
        fut = self.engine.dht_get(rec.store.chain.key, SALT, DHT_TIMEOUT)
        address = rec.address

        def done(f: Future[list[bytes]]) -> None:
            values = f.result() if f.exception() is None else []
            self._post(lambda: self._on_values(address, values))
        fut.add_done_callback(done)

    def _on_values(self, address: str, values: list[bytes]) -> None:
        rec = self.registry.sites.get(address)
        if rec is None:
            return
        rec.polling = False
        rec.checked = time.time()
        rec.next_poll = time.monotonic() + self.cfg.poll_interval
        self.changed = True
        heads: list[Head] = []
        for value in values:
            try:
                heads.append(decode_head(value, "DHT"))
            except ChainRejected as exc:
                self._refuse(rec, exc, "DHT")
        if not heads:
            if not values and self.engine.snapshot.stats.dht_nodes == 0:
                # not in the DHT yet (just started): ask again soon, not in an hour
                rec.next_poll = time.monotonic() + min(self.cfg.poll_interval, EARLY_RETRY)
            return
        chain = rec.store.chain
        by_height: dict[int, set[bytes]] = {}
        for h in heads:
            by_height.setdefault(h.height, set()).add(h.head)
        best = max(heads, key=lambda h: h.height)
        if len(by_height[best.height]) > 1:
            chain.equivocating = True
            self._refuse(rec, ChainRejected("equivocation", f"two heads announced for seq "
                                            f"{best.height}"), "DHT")
            return
        if best.height > rec.announced:
            rec.announced = best.height
            rec.save()
        try:
            news = chain.height < 0 or chain.check_head(best.height, best.head)
        except ChainRejected as exc:
            self._refuse(rec, exc, "DHT")
            return
        if rec.store.damaged and not news:
            rec.damage_note = damaged_message(rec, best.height)
        if not news or chain.equivocating:
            return
        if rec.fetch is not None:
            if rec.fetch.head.height >= best.height:
                return
            self._remove(rec.fetch.torrent_id, True)  # superseded before it arrived
            rec.fetch = None
        self._start_fetch(rec, best)

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

    def _start_fetch(self, rec: SiteRecord, head: Head) -> None:
        folder = rec.heads_dir(head.height)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            tid = self._add(site_torrent(rec.address, "chain", uri=head.magnet,
                                         source=head.magnet, save_path=str(folder)),
                            "fetch the chain")
        except TidegateError as exc:
            self._note(rec.address, f"cannot fetch head {head.height}: {exc}")
            return
        t = time.monotonic()
        rec.fetch = Fetch(head, tid, t, t)
        self.changed = True

    def _watch_fetch(self, rec: SiteRecord, mono: float) -> None:
        fetch: Fetch = rec.fetch
        state = self.engine.snapshot.torrents.get(fetch.torrent_id)
        if state is None:
            rec.fetch = None  # removed under us: poll again
            rec.next_poll = mono
            return
        if state.complete_on_disk:
            rec.fetch = None
            self._accept_fetched(rec, fetch)
            return
        if state.wanted_done > fetch.done_bytes or (state.has_metadata and not
                                                    fetch.done_bytes):
            fetch.done_bytes = max(state.wanted_done, 1)
            fetch.progress_at = mono
        if state.num_peers == 0 and mono >= fetch.next_nudge:
            fetch.next_nudge = mono + RETRY_NUDGE
            self.engine.reannounce(fetch.torrent_id)
        if mono - fetch.progress_at > self.cfg.fetch_timeout:
            self._note(rec.address, f"head {fetch.head.height}: no progress for "
                                    f"{self.cfg.fetch_timeout:g} s; trying again later")
            self._remove(fetch.torrent_id, True)
            rec.fetch = None
            rec.next_poll = mono + self.cfg.poll_interval

    def _accept_fetched(self, rec: SiteRecord, fetch: Fetch) -> None:
        path = rec.heads_dir(fetch.head.height) / "chain"
        chain = rec.store.chain
        before = chain.height
        try:
            raws = decode_chain(path.read_bytes(), f"chain torrent of head {fetch.head.height}")
            if rec.store.damaged:
                rec.store.recover(raws, time.time())
                self._emit(Log(level="warning", message=f"{rec.address}: chain recovered "
                               f"from the swarm up to entry {chain.height}; the damaged file "
                               f"is kept as {rec.store.path.name}.damaged"))
            for raw in raws:
                rec.store.append(raw, time.time())
            if chain.height != fetch.head.height or chain.head_hash != fetch.head.head:
                raise ChainRejected("bad_prev", f"the chain torrent ends at {chain.height}, "
                                    f"not at the announced head {fetch.head.height}")
        except ChainRejected as exc:
            self._refuse(rec, exc, f"head {fetch.head.height}")
        except OSError as exc:
            self._note(rec.address, f"cannot read {path}: {exc}")
        if chain.height > before:
            if chain.height == fetch.head.height and chain.head_hash == fetch.head.head:
                rec.error = ""
            if rec.head_torrent and rec.head_torrent != fetch.torrent_id:
                self._remove(rec.head_torrent, True)
            rec.head_torrent = fetch.torrent_id if chain.height == fetch.head.height else ""
            if not rec.head_torrent:
                self._remove(fetch.torrent_id, True)
                self._seed_head(rec)
            self._prune_heads(rec, chain.height)
            self._grown(rec)
        else:
            self._remove(fetch.torrent_id, True)
        self.changed = True


def damaged_message(rec: SiteRecord, swarm: int | None = None) -> str:
    """What the owner is told while the site's chain file holds a damaged record."""
    store = rec.store
    text = (f"{store.damaged}. Nothing is published until the chain is recovered: signing "
            f"entry {store.chain.height + 1} again would fork the site for its followers. ")
    if swarm is None:
        return text + ("Recovery from the copy followers hold is under way (the head is "
                       "looked up in the swarm and its chain verified from genesis).")
    return text + (f"The swarm's newest head is {swarm}, which this node already holds "
                   f"verified: the damaged record was never announced. If no follower can "
                   f"hold it, drop it by hand (`truncate -s {store.damaged_at} {store.path}`, "
                   "after a copy) and publish again.")


def _site_files(files: tuple[FileRecord, ...]) -> tuple[FileRecord, ...]:
    """A manifest without the snapshot's own chain file (which grows with every entry)."""
    return tuple(f for f in files if f.path != snap.CHAIN_FILE)

