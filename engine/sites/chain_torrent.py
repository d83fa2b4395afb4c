"""A site's chain torrent: the one this node seeds for its verified height, and the one it
fetches for a higher announced head.

The chain torrent of height n holds entries 0..n in the chain file format
(:func:`.head.build_chain_torrent`). Every node that verified the chain seeds it
(:func:`seed_head`), so the chain stays reachable when the owner is offline. A follower
that hears of a higher head adds that head's chain torrent (:class:`ChainFetcher`), watches
it, and once it is complete appends its entries one by one through ``ChainStore.append``
(each verified, from where this chain ends): a chain torrent that does not end at the
announced head is refused. A damaged chain file is recovered the same way.

A part of the Blockchain Handler, on the sites thread; the state of a download is the
site's (``SiteRecord.fetch``), what the part needs of the handler is given to it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..chain import ChainRejected
from ..chain.codec import decode_chain, encode_chain
from ..config import SitesConfig
from ..durable import write_synced
from ..errors import TidegateError
from ..events import Event, Log
from .calls import RETRY_NUDGE, add_torrent, remove_torrent, site_torrent
from .head import Head, build_chain_torrent
from .registry import SiteRecord

if TYPE_CHECKING:
    from ..services import TorrentService


@dataclass
class Fetch:
    """The chain download of an announced head (``SiteRecord.fetch``)."""

    head: Head
    torrent_id: str
    started: float
    progress_at: float
    done_bytes: int = 0
    next_nudge: float = 0.0


def seed_head(engine: TorrentService, rec: SiteRecord) -> Head:
    """Seed the chain torrent of the current height (rebuilt from the store)."""
    chain = rec.store.chain
    folder = rec.heads_dir(chain.height)
    data = encode_chain([e.raw for e in chain.entries])
    path = folder / "chain"
    if not path.exists() or path.read_bytes() != data:
        folder.mkdir(parents=True, exist_ok=True)
        write_synced(path, data)
    built = build_chain_torrent(folder)
    tid = add_torrent(engine, site_torrent(rec.address, "chain", torrent=built.data,
                                           source=str(path), save_path=str(folder),
                                           seed_mode=True), "seed the chain")
    if rec.head_torrent and rec.head_torrent != tid:
        remove_torrent(engine, rec.head_torrent, True)
    rec.head_torrent = tid
    prune_heads(rec, chain.height)
    assert chain.head_hash is not None
    return Head(chain.height, chain.head_hash, built.info_hash)


def prune_heads(rec: SiteRecord, keep: int) -> None:
    """Delete the folders of chain torrents other than height ``keep`` and the one being
    fetched."""
    heads = rec.folder / "heads"
    if heads.is_dir():
        for old in heads.iterdir():
            if old.name != str(keep) and (rec.fetch is None
                                          or old.name != str(rec.fetch.head.height)):
                shutil.rmtree(old, ignore_errors=True)


class ChainFetcher:
    """Downloads the chain torrent of a higher announced head and appends what it holds.

    Args:
        engine: adds, watches, nudges and removes the chain torrents.
        cfg: ``fetch_timeout`` (no progress for this long: given up) and
            ``poll_interval`` (when to look again after giving up).
        emit: events (the recovery of a damaged chain is logged).
        note: sets a site's error message (``""`` clears it).
        refuse: reports a chain the torrent held that the site's chain refused.
        grown: the chain grew (the handler hands the head to Hosting and tells frontends).
    """

    def __init__(self, engine: TorrentService, cfg: SitesConfig,
                 emit: Callable[[Event], None], note: Callable[[str, str], None],
                 refuse: Callable[[SiteRecord, ChainRejected, str], None],
                 grown: Callable[[SiteRecord], None]) -> None:
        self.engine = engine
        self.cfg = cfg
        self._emit = emit
        self._note = note
        self._refuse = refuse
        self._grown = grown

    def want(self, rec: SiteRecord, head: Head) -> None:
        """Fetch ``head``'s chain, unless the same or a higher head is being fetched (a
        lower one is superseded before it arrived)."""
        if rec.fetch is not None:
            if rec.fetch.head.height >= head.height:
                return
            remove_torrent(self.engine, rec.fetch.torrent_id, True)
            rec.fetch = None
        folder = rec.heads_dir(head.height)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            tid = add_torrent(self.engine, site_torrent(rec.address, "chain", uri=head.magnet,
                                                        source=head.magnet,
                                                        save_path=str(folder)),
                              "fetch the chain")
        except TidegateError as exc:
            self._note(rec.address, f"cannot fetch head {head.height}: {exc}")
            return
        t = time.monotonic()
        rec.fetch = Fetch(head, tid, t, t)

    def watch(self, rec: SiteRecord, mono: float) -> None:
        """Follow the download of ``rec.fetch``: accept it once complete, nudge it while it
        has no peer, give it up after ``fetch_timeout`` without progress."""
        fetch: Fetch = rec.fetch
        state = self.engine.snapshot.torrents.get(fetch.torrent_id)
        if state is None:
            rec.fetch = None  # removed under us: poll again
            rec.next_poll = mono
            return
        if state.complete_on_disk:
            rec.fetch = None
            self._accept(rec, fetch)
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
            remove_torrent(self.engine, fetch.torrent_id, True)
            rec.fetch = None
            rec.next_poll = mono + self.cfg.poll_interval

    def _accept(self, rec: SiteRecord, fetch: Fetch) -> None:
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
                remove_torrent(self.engine, rec.head_torrent, True)
            rec.head_torrent = fetch.torrent_id if chain.height == fetch.head.height else ""
            if not rec.head_torrent:
                remove_torrent(self.engine, fetch.torrent_id, True)
                seed_head(self.engine, rec)
            prune_heads(rec, chain.height)
            self._grown(rec)
        else:
            remove_torrent(self.engine, fetch.torrent_id, True)
