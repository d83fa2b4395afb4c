"""Session-wide numbers for the snapshot: rates, totals, DHT nodes, free disk, listen port.

libtorrent's rate limiter sends in bursts, so a rate measured over one 0.25 s stats period
swings between 0 and several times the limit: :class:`SessionCounters` measures rates over
:data:`RATE_WINDOW` from the counters of ``session_stats_alert``, and keeps the port the
session listens on (``listen_succeeded_alert``).
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libtorrent as lt
import msgspec

from ..config import Config
from ..events import Event, Log
from ..state import AltSpeedState, SessionStats
from .records import TorrentRecords
from .text import read_text

RATE_WINDOW = 2.0
"""Seconds over which session-wide rates are measured."""
FREE_DISK_STEP = 16 * 1024 * 1024
"""Free disk space that moved by less than this keeps its last value: other programs'
writes change it all the time, and each change was a snapshot (and a publication) of an
otherwise idle engine."""


class SessionCounters:
    """The latest :class:`~engine.state.SessionStats` and the listen port; one that differs
    from the last marks ``records`` dirty (a snapshot is due)."""

    def __init__(self, cfg: Config, default_save_path: Path, records: TorrentRecords,
                 emit: Callable[[Event], None]):
        self.cfg = cfg
        self._default_save_path = default_save_path
        self._records = records
        self._emit = emit
        self.stats = SessionStats()
        self._counters: deque[tuple[float, dict[str, int]]] = deque()
        """Recent session counters; rates are measured over about :data:`RATE_WINDOW`."""
        self.listen_port = 0
        self.moved = False
        """Set when new session numbers differ from the last in more than free disk space
        (the engine loop reads and clears it: activity, :mod:`engine.pacer`)."""

    def handlers(self) -> dict[type, Callable[[Any], None]]:
        return {lt.session_stats_alert: self._on_session_stats,
                lt.listen_succeeded_alert: self._on_listen_ok,
                lt.listen_failed_alert: self._on_listen_failed}

    def _on_listen_ok(self, a: lt.listen_succeeded_alert) -> None:
        if a.socket_type == lt.socket_type_t.tcp or not self.listen_port:
            self.listen_port = a.port

    def _on_listen_failed(self, a: lt.listen_failed_alert) -> None:
        self._emit(Log(level="error", message=f"cannot listen on {a.address}:{a.port}: "
                                              f"{read_text(a.error.message)}"))

    def _free_disk(self) -> int:
        """Free bytes where downloads go (the nearest existing folder, as it may not exist yet)."""
        path = Path(self._default_save_path)
        for folder in (path, *path.parents):
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                continue
        return -1

    def _on_session_stats(self, a: lt.session_stats_alert) -> None:
        values: dict[str, int] = a.values
        now = time.monotonic()
        keys = ("net.recv_bytes", "net.sent_bytes", "net.recv_payload_bytes",
                "net.sent_payload_bytes")
        rates = dict.fromkeys(keys, 0)
        # libtorrent's rate limiter sends in bursts: a rate over one 0.25 s stats period
        # swings between 0 and several times the limit, so measure over a longer window
        while len(self._counters) > 1 and now - self._counters[1][0] >= RATE_WINDOW:
            self._counters.popleft()
        if self._counters:
            then, old = self._counters[0]
            dt = max(now - then, 1e-3)
            rates = {k: max(0, int((values.get(k, 0) - old.get(k, 0)) / dt)) for k in keys}
        self._counters.append((now, {k: values.get(k, 0) for k in keys}))
        free_disk = self._free_disk()
        if abs(free_disk - self.stats.free_disk) < FREE_DISK_STEP and self.stats.free_disk >= 0:
            free_disk = self.stats.free_disk
        new = SessionStats(
            download_rate=rates["net.recv_bytes"],
            upload_rate=rates["net.sent_bytes"],
            payload_download_rate=rates["net.recv_payload_bytes"],
            payload_upload_rate=rates["net.sent_payload_bytes"],
            total_download=values.get("net.recv_bytes", 0),
            total_upload=values.get("net.sent_bytes", 0),
            dht_nodes=values.get("dht.dht_nodes", 0),
            num_peers=values.get("peer.num_peers_connected", 0),
            listen_port=self.listen_port,
            download_limit=self.cfg.rates.download,
            upload_limit=self.cfg.rates.upload,
            free_disk=free_disk,
            alt_speed=self.stats.alt_speed,
        )
        if new != self.stats:  # the same numbers again: no new snapshot for them
            if msgspec.structs.replace(new, free_disk=self.stats.free_disk) != self.stats:
                self.moved = True
            self.stats = new
            self._records.dirty = True

    def set_alt_speed(self, cfg: Config, alt: AltSpeedState) -> None:
        """Turtle mode switched (or its reason changed): ``cfg`` holds the limits in force;
        the stats say so at once, not at the next stats alert."""
        self.cfg = cfg
        self.stats = msgspec.structs.replace(
            self.stats, alt_speed=alt, download_limit=cfg.rates.download,
            upload_limit=cfg.rates.upload)
        self._records.dirty = True
