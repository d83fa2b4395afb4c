"""Snapshot deltas: what the server publishes and the client applies.

Pure functions over frozen snapshots: the cost follows what changed.
"""

from __future__ import annotations

from ..state import Snapshot, TorrentState
from .messages import Delta


def diff(old: Snapshot, new: Snapshot, epoch: str) -> Delta:
    """The delta from ``old`` to ``new``; cost follows what changed.

    The engine keeps an unchanged torrent as the same object between snapshots,
    so a changed one is found by identity, without comparing values.
    """
    sites = None if old.sites is new.sites else list(new.sites.values())
    web = None if old.web == new.web else new.web
    tor = None if old.tor == new.tor else new.tor
    categories = None if old.categories is new.categories else list(
        new.categories.values())
    parts = None if old.parts is new.parts else list(new.parts.values())
    before = old.torrents
    if before is new.torrents:
        return Delta(epoch, new.seq, old.seq, new.time, [], [], new.stats, new.running, sites,
                     web, tor, categories, parts)
    changed = [t for tid, t in new.torrents.items() if before.get(tid) is not t]
    removed = [tid for tid in before if tid not in new.torrents]
    return Delta(epoch, new.seq, old.seq, new.time, changed, removed, new.stats, new.running,
                 sites, web, tor, categories, parts)


def apply(snapshot: Snapshot, delta: Delta) -> dict[str, TorrentState]:
    """The torrents of ``snapshot`` with ``delta`` applied (a new dict)."""
    torrents = dict(snapshot.torrents)
    for tid in delta.removed:
        torrents.pop(tid, None)
    for t in delta.changed:
        torrents[t.id] = t
    return torrents
