"""A tracker that floods a torrent's peer list: dropped, with the peers it gave.

libtorrent keeps at most ``max_peerlist_size`` (3000) peers per torrent, and a peer list
full of peers never yet tried has no room: a peer that arrives then, from an honest tracker,
the DHT or PEX, is dropped (``peer_list::insert_peer`` erases only peers that failed
``max_failcount`` times, and those are retried 60 s x failcount apart). So one tracker that
answers first with thousands of unreachable peers hides the honest swarm for minutes:
measured, a 100,000-peer reply followed 1 s later by an honest tracker's one real seed left
the download at 0 % after 120 s (docs/RELIABILITY.md). libtorrent asks for ``num_want``
(200) peers; a reply many times larger is a flood, not a swarm.

Such a tracker is taken off the torrent (it would flood again at its next announce and at
every start), shown in the torrent's tracker list as an error that says why, and the
torrent is reloaded keeping its pieces and forgetting its peers
(:meth:`.faults.DiskFaults.reload`), so the next announce to the other trackers fills an
empty list. Adding the tracker again by hand brings it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libtorrent as lt

from ..events import Event, Log, TrackerError
from .faults import DiskFaults
from .records import TorrentRecords
from .text import read_url

FLOOD_FACTOR = 5
"""A reply with more than this many times ``num_want`` peers (and at least half the peer
list) is a flood."""


def flood_threshold(settings: Any) -> int:
    """The number of peers in one tracker reply above which it is a flood (``settings``:
    the session's, a ``settings_pack``)."""
    return max(FLOOD_FACTOR * int(settings["num_want"]),
               int(settings["max_peerlist_size"]) // 2)


class TrackerFloods:
    """Drops the trackers that flood a torrent's peer list (see the module docstring)."""

    def __init__(self, ses: lt.session, records: TorrentRecords, faults: DiskFaults,
                 emit: Callable[[Event], None]):
        self.ses = ses
        self._records = records
        self._faults = faults
        self._emit = emit

    def handlers(self) -> dict[type, Callable[[Any], None]]:
        return {lt.tracker_reply_alert: self._on_reply}

    def _on_reply(self, a: lt.tracker_reply_alert) -> None:
        settings = self.ses.get_settings()
        if a.num_peers <= flood_threshold(settings):
            return
        t = self._records.torrent_of(a)
        if t is None:
            return
        url = read_url(a.tracker_url)
        if url in t.dropped_trackers:
            return  # its other announces (v1 and v2, each interface) replied too
        why = (f"sent {a.num_peers:,} peers when asked for {settings['num_want']}: a flood "
               "that would hide the swarm; dropped from this torrent with the peers it gave")
        try:  # unreadable when a tracker's message is not UTF-8: the kept list then
            listed = [(str(e["url"]), int(e["tier"])) for e in t.handle.trackers()]
        except UnicodeDecodeError:
            listed = list(t.trackers)
        keep = []
        for u, tier in listed:
            if u == url:
                t.dropped_trackers = {**t.dropped_trackers, url: (tier, why)}
                continue
            entry = lt.announce_entry(u)
            entry.tier = tier
            keep.append(entry)
        if url not in t.dropped_trackers:
            t.dropped_trackers = {**t.dropped_trackers, url: (0, why)}
        t.handle.replace_trackers(keep)
        t.trackers = tuple((u, tier) for u, tier in t.trackers if u != url)
        self._emit(TrackerError(torrent_id=t.id, url=url, message=why))
        self._emit(Log(level="warning", message=f"torrent {t.id}: tracker {url} {why}"))
        self._faults.reload(t, purge=True)
