"""Recent download/upload rates, for the Speed tab's plot.

Fed with every snapshot. Keeps the session's totals and each torrent's rates for
the last :data:`WINDOW` seconds, but only for torrents that moved data in that
window, so 10,000 idle seeds cost nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tidegate.engine.state import Snapshot

WINDOW = 300.0
"""Seconds of history kept."""
SESSION = ""
"""The key of the whole session's series."""

Sample = tuple[float, int, int]
"""``(time, download bytes/s, upload bytes/s)``."""


@dataclass
class RateHistory:
    window: float = WINDOW
    series: dict[str, deque[Sample]] = field(default_factory=dict)
    active: dict[str, float] = field(default_factory=dict)
    """Last time each recorded torrent moved data."""
    _last: Snapshot | None = None

    def add(self, snap: Snapshot) -> None:
        """Record ``snap``'s rates (a snapshot seen twice is recorded once)."""
        if self._last is not None and snap.seq <= self._last.seq:
            return
        t = snap.time
        self._push(SESSION, (t, snap.stats.payload_download_rate,
                             snap.stats.payload_upload_rate))
        old = self._last.torrents if self._last is not None else {}
        series = self.series
        # The same mapping means no torrent changed: only those being recorded need a sample.
        ids = [k for k in series if k != SESSION] if old is snap.torrents else snap.torrents
        for tid in ids:
            state = snap.torrents.get(tid)
            if state is None:
                continue
            if state is old.get(tid) and tid not in series:
                continue  # unchanged and not recorded: idle, nothing to do
            if state.download_rate or state.upload_rate:
                self.active[tid] = t
            elif tid not in series:
                continue
            self._push(tid, (t, state.download_rate, state.upload_rate))
        cutoff = t - self.window
        for tid in [k for k, last in self.active.items()
                    if last < cutoff or k not in snap.torrents]:
            del self.active[tid]
            series.pop(tid, None)
        self._last = snap

    def _push(self, key: str, sample: Sample) -> None:
        samples = self.series.setdefault(key, deque())
        samples.append(sample)
        cutoff = sample[0] - self.window
        while samples and samples[0][0] < cutoff:
            samples.popleft()

    def of(self, key: str) -> list[Sample]:
        """Samples for a torrent id (or :data:`SESSION`), oldest first."""
        return list(self.series.get(key, ()))
