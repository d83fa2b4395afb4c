"""Share limits: a seeding torrent that reached its ratio or seed time is paused.

The limits are the torrent's own (``TorrentExtras``) or, when it has none, the config's
``[seeding]`` ones. :class:`ShareLimits` checks them every second over the states the
table already holds: no libtorrent call per torrent (``status()`` costs ~0.1 ms each, a
second per 10,000 torrents).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import libtorrent as lt

from ..config import Config
from ..events import Event, ShareLimitReached
from ..state import TorrentState
from .record import TorrentRecord
from .records import TorrentRecords

_TF = lt.torrent_flags


class ShareLimits:
    """Pauses the torrents of ``records`` that reached a share limit; ``save`` records the
    pause, ``contain`` takes a fault in one torrent's check (:mod:`.contain`)."""

    def __init__(self, cfg: Config, records: TorrentRecords,
                 save: Callable[[TorrentRecord], None],
                 contain: Callable[[BaseException, str, TorrentRecord | None], None],
                 emit: Callable[[Event], None]):
        self.cfg = cfg
        self._records = records
        self._save = save
        self._contain = contain
        self._emit = emit

    def enforce(self) -> float:
        """Pause seeding torrents that reached their ratio or seed-time limit; return the
        ``time.monotonic()`` at which the next seed-time limit is reached if nothing
        changes meanwhile (infinity: none), so the engine loop need not look again before
        then unless a torrent, a limit or the config changed."""
        now = time.monotonic()
        due = float("inf")
        for t in list(self._records.torrents.values()):
            st = t.state
            if st is None or st.paused or not st.has_metadata or st.phase != "seeding" or \
                    t.extras.pause_after_check:  # running only for a recheck
                continue
            try:
                due = min(due, self._enforce_one(t, st, now))
            except Exception as exc:  # this torrent's fault only
                self._contain(exc, "checking its share limits", t)
        return due

    def _enforce_one(self, t: TorrentRecord, st: TorrentState, now: float) -> float:
        ratio_limit = t.extras.ratio_limit if t.extras.ratio_limit >= 0 else \
            self.cfg.seeding.ratio_limit
        time_limit = t.extras.seed_time_limit if t.extras.seed_time_limit >= 0 else \
            self.cfg.seeding.seed_time_limit
        if not ratio_limit and not time_limit:
            return float("inf")
        # libtorrent need not report a seed whose only change is its seeding time,
        # so that time is the state's value plus the time since it was recorded.
        seeded = st.seeding_time + int(now - t.state_at)
        reason = ""
        if ratio_limit and st.ratio >= ratio_limit:
            reason = f"ratio {st.ratio:.2f} reached the limit {ratio_limit:g}"
        elif time_limit and seeded >= time_limit:
            reason = f"seeded for {seeded} s (limit {time_limit} s)"
        if reason:
            t.extras.stopped_by_limit = True
            t.handle.unset_flags(_TF.auto_managed)
            t.handle.pause()
            self._save(t)
            self._emit(ShareLimitReached(torrent_id=t.id, reason=reason))
            return float("inf")
        return now + (time_limit - seeded) if time_limit else float("inf")
