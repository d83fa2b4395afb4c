"""SIGKILL a real daemon at random moments, many times; nothing acknowledged may be lost.

``TIDEGATE_CRASH_KILLS`` (default 50) sets the number of kills, ``TIDEGATE_CRASH_SEED`` the
random schedule (printed, so a failing run can be replayed); ``make reliability`` runs the
long version. The figures are printed and written to ``crash-figures.json`` in the test's
tmp folder (and to ``TIDEGATE_CRASH_REPORT`` when set). Definitions: crash_harness.py.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from .crash_harness import CrashRun

KILLS = int(os.environ.get("TIDEGATE_CRASH_KILLS", "50"))


@pytest.mark.slow
@pytest.mark.timeout(120 + 8 * KILLS)
def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    seed = int(os.environ.get("TIDEGATE_CRASH_SEED") or random.randrange(1 << 32))
    print(f"\nTIDEGATE_CRASH_SEED={seed} TIDEGATE_CRASH_KILLS={KILLS}")
    run = CrashRun(tmp_path, seed)
    try:
        figures = run.run(KILLS)
    finally:
        run.close()
        report = tmp_path / "crash-figures.json"
        run.figures.write(report)
        if os.environ.get("TIDEGATE_CRASH_REPORT"):
            run.figures.write(Path(os.environ["TIDEGATE_CRASH_REPORT"]))
        print(run.figures.summary())
        for problem in run.figures.problems:
            print("  ", problem)
        if run.figures.problems:
            print("trace (last 40):", *run.trace[-40:], sep="\n  ")
    assert figures.kills == KILLS
    assert not figures.problems, "\n".join(figures.problems[:30])
    assert figures.failures == 0
    # the run was not vacuous: downloads were under way, and every kind of kill happened
    assert figures.pieces_checkpointed > 0 and figures.pieces_verified > 0
    assert figures.chain_entries_acknowledged > 0
    assert figures.torrent_restarts >= KILLS
