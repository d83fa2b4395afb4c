"""SIGKILL a real daemon at random moments of its start, and check nothing was lost.

A home holds 800 seeding torrents, some paused, some with a category and tags. Before
each start the test edits what a start has to repair or write (as a user or a crash
would leave it): ``categories.json`` gone (the category is recovered from the torrents
and written), a setting that cannot be kept in some resume files (reset, and the file
written again), a recheck asked and not finished in others (checked again, then saved).
A first start runs to the end and gives the time T until every torrent is listed; then
each round starts the daemon again and kills it with SIGKILL after a random delay in
[0, 1.2 T] (seeded; the seed is in the failure message), from before its API answers to
after it is ready. After each kill every resume file must still be there, read back
whole, and say what it said (paused, category, tags); none may be set aside as corrupt.
Finally a clean start lists every torrent in its state.

docs/RELIABILITY.md ("Killed during the start") has what this covers.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for
from tests.helpers.many_torrents import Expected, seeding_home
from tidegate.engine.torrents.recheck import held

N = 800
ROUNDS = 8
def resume_dir(home: Path) -> Path:
    return home / "data" / "resume"


def edit_for_a_start(home: Path, ids: list[str]) -> None:
    """What the next start has to repair and write."""
    (resume_dir(home) / "categories.json").unlink(missing_ok=True)
    for n, tid in enumerate(ids[:40]):
        path = resume_dir(home) / f"{tid}.resume"
        entry: dict[bytes, Any] = lt.bdecode(path.read_bytes())
        extras = json.loads(entry[b"tidegate"])
        if n % 2:
            extras["ratio_limit"] = "not a number"  # reset to the default, file written
        else:
            extras["rechecking"] = True  # checked again at the start, then saved
        entry[b"tidegate"] = json.dumps(extras).encode()
        path.write_bytes(lt.bencode(entry))


def check_disk(home: Path, expected: Expected, where: str) -> None:
    folder = resume_dir(home)
    corrupt = sorted(p.name for p in folder.glob("*.corrupt"))
    assert not corrupt, f"{where}: resume files set aside as corrupt: {corrupt[:5]}"
    files = {p.name[: -len(".resume")]: p for p in folder.glob("*.resume")}
    missing = sorted(set(expected) - set(files))
    assert not missing, f"{where}: {len(missing)} resume files gone, e.g. {missing[:3]}"
    for tid, (paused, cat, tags) in expected.items():
        data = files[tid].read_bytes()
        params = lt.read_resume_data(data)  # a torn file raises here
        extras = json.loads(lt.bdecode(data)[b"tidegate"])
        # paused by the user: paused and not auto-managed (a torrent the queue holds is
        # saved paused and auto-managed, and the queue starts it again)
        got = (held(params.flags), extras.get("category", ""), extras.get("tags", []))
        assert got == (paused, cat, tags), f"{where}: {tid} is {got}, was {(paused, cat, tags)}"


def wait_all_listed(d: DaemonProc, expected: Expected, timeout: float) -> float:
    """Seconds from now until every torrent is listed in its state."""
    t0 = time.monotonic()
    api = d.client(timeout=60)
    try:
        def done(s: Any) -> bool:
            if len(s.torrents) != len(expected) or s.stats.loading:
                return False
            return all(s.torrents[tid].paused == paused and s.torrents[tid].category == cat
                       and list(s.torrents[tid].tags) == tags and
                       (paused or s.torrents[tid].phase == "seeding")
                       for tid, (paused, cat, tags) in expected.items() if tid in s.torrents)
        snap = api.wait_for(done, timeout)
        assert "cat-a" in snap.categories
    finally:
        api.stop()
    return time.monotonic() - t0


@pytest.mark.timeout(600)
def test_kill9_at_any_moment_of_the_start_loses_nothing() -> None:
    seed = int(os.environ.get("TIDEGATE_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    home, expected, _made = seeding_home(N, paused_every=20, category_every=25)
    ids = sorted(expected)
    try:
        check_disk(home, expected, "after the build")
        edit_for_a_start(home, ids)
        t_spawn = time.monotonic()
        d = DaemonProc(home).start(60)
        try:
            wait_all_listed(d, expected, 120)
            t_ready = time.monotonic() - t_spawn
        finally:
            assert d.stop() == 0, d.stderr
        check_disk(home, expected, "after a clean start and stop")
        delays = sorted([0.05] + [rng.uniform(0, 1.2 * t_ready) for _ in range(ROUNDS - 1)])
        for delay in delays:
            edit_for_a_start(home, ids)
            p = subprocess.Popen(TIDEGATE + ["daemon", "--json"], env=env_for(home),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(delay)
            finally:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
            check_disk(home, expected, f"killed {delay:.2f} s into the start (seed {seed}, "
                                       f"T {t_ready:.2f} s)")
        d = DaemonProc(home).start(60)
        try:
            wait_all_listed(d, expected, 120)
        finally:
            assert d.stop() == 0, d.stderr
        check_disk(home, expected, f"after the last clean start (seed {seed})")
    finally:
        shutil.rmtree(home, ignore_errors=True)
