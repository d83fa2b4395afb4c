"""Recheck of a complete torrent: tidegate's ``recheck`` command against libtorrent's own
``force_recheck`` (bench/suite.py).

- **tidegate**: one ``tidegate daemon`` holding the torrent (download_vs_clients.Seed: added
  through the API, checked at add, seeding); each round sends ``Recheck`` through the API and
  stops the clock at the ``TorrentChecked`` event with ``recheck`` set (progress must be 1).
- **raw** / **raw-defaults**: ``bench/raw_libtorrent.py --recheck TORRENT DATA 1`` in a fresh
  process per round, with tidegate's libtorrent settings (pread) or libtorrent's defaults
  (``RAW_LT_DEFAULTS=1``, its default disk I/O); it times ``force_recheck()`` to
  ``torrent_checked_alert`` itself (the check at add before it is not counted). The torrent
  is not auto-managed there; **raw-auto-managed** is ``raw`` with the torrent auto-managed
  (``RAW_LT_AUTO_MANAGED=1``), as tidegate adds torrents: libtorrent starts that check only
  at its next auto-manage pass.

The data is read once before every check, so all sides hash from the page cache: the bound
is the hash rate, not the disk. The order rotates every round. Seconds per check, in
process (neither side's start-up counts).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from create_vs_tools import warm
from download_vs_clients import Payload, Seed
from download_vs_raw import RAW_SCRIPT, BenchError, Child

SIDES = ("tidegate", "raw", "raw-defaults", "raw-auto-managed")


def tidegate_recheck(seed: Seed, events: Any, timeout: float) -> float:
    """One recheck through the daemon's API: seconds from the command to its event."""
    from tidegate.engine import commands as cmds  # the tree under test (PYTHONPATH)
    from tidegate.engine.events import TorrentChecked

    events.drain()
    t0 = time.monotonic()
    seed.api.run(cmds.Recheck(seed.tid)).result(30)
    deadline = t0 + timeout
    while (left := deadline - time.monotonic()) > 0:
        ev = events.get(timeout=min(left, 1.0))
        if isinstance(ev, TorrentChecked) and ev.torrent_id == seed.tid and ev.recheck:
            seconds = time.monotonic() - t0
            if ev.progress != 1.0:
                raise BenchError(f"tidegate recheck found {ev.progress:.3f} of the data")
            return seconds
    raise BenchError(f"tidegate recheck did not end within {timeout:g} s")


def raw_recheck(side: str, torrent: Path, data: Path, tmp: Path, rnd: int,
                timeout: float) -> float:
    """One force_recheck in a fresh raw_libtorrent.py process: its own seconds."""
    env = dict(os.environ)
    disk_io = "pread"
    if side == "raw-defaults":
        env["RAW_LT_DEFAULTS"] = "1"
        disk_io = "default"
    elif side == "raw-auto-managed":
        env["RAW_LT_AUTO_MANAGED"] = "1"
    log = tmp / f"recheck-{side}-{rnd}.log"
    child = Child(f"{side} recheck", [sys.executable, str(RAW_SCRIPT), "--recheck",
                                      str(torrent), str(data), "1", disk_io], env, log)
    try:
        if not child.wait(timeout) or child.status != 0:
            raise BenchError(f"{child.name} failed ({child.status})\n{child.log_tail()}")
    finally:
        child.stop()
    return float(json.loads(log.read_text().strip().splitlines()[-1])["rechecks_s"][0])


def compare_rechecks(tmp: Path, exe: str, p: Payload, src: Path, rounds: int,
                     timeout: float = 600.0) -> list[dict[str, Any]]:
    """``rounds`` rounds of one recheck per side over payload ``p`` (data in ``src``)."""
    files = [f for f in (src / p.name).rglob("*") if f.is_file()] or [src / p.name]
    seed = Seed(tmp, exe, replace(p, kind=f"{p.kind}-recheck", runs=[], seed_runs=[]), src)
    runs: list[dict[str, Any]] = []
    try:
        events = seed.api.subscribe()
        for rnd in range(1, rounds + 1):
            k = (rnd - 1) % len(SIDES)
            for side in SIDES[k:] + SIDES[:k]:
                for f in files:
                    warm(f)
                if side == "tidegate":
                    seconds = tidegate_recheck(seed, events, timeout)
                else:
                    seconds = raw_recheck(side, p.torrent, src, tmp, rnd, timeout)
                runs.append({"round": rnd, "side": side, "seconds": seconds,
                             "mb_s": p.size / seconds / 1e6})
                print(f"  recheck round {rnd} {side:12} {seconds:7.3f} s "
                      f"{p.size / seconds / 1e6:8.1f} MB/s", file=sys.stderr, flush=True)
    finally:
        seed.stop()
    return runs
