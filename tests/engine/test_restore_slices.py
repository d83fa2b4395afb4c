"""The resume folder loads after the engine is ready, a slice at a time.

A real engine restores 2,000 seeding torrents. ``Engine.start`` returns while they load;
snapshots say how many are still to come (``SessionStats.loading``) and it only goes down,
to 0 with every torrent listed; commands are answered while they load; a command naming a
torrent not loaded yet gets it loaded first (an ``add`` of it is the duplicate it would be
after the start, not a failed restore) or is told the torrents are still loading.
"""

from __future__ import annotations

import shutil
import threading
import time

from tests.conftest import build_engine
from tests.helpers.many_torrents import seeding_home
from tidegate.engine import AddRequest
from tidegate.engine.errors import DuplicateTorrentError, UnknownTorrentError
from tidegate.engine.events import ResumeDataError
from tidegate.engine.state import Phase, Snapshot

N = 2000


def test_torrents_load_after_the_start_and_commands_meet_them() -> None:
    home, expected, made = seeding_home(N, category_every=7)
    try:
        ids = sorted(expected)
        last = ids[-1]  # read last: the first command below finds it still queued
        engine = build_engine(home)
        seen: list[tuple[int, int]] = []
        stop = threading.Event()
        t0 = time.monotonic()
        engine.start()
        started_in = time.monotonic() - t0
        events = engine.subscribe(maxsize=100_000)
        try:
            first = engine.snapshot
            # an add of a torrent still in the queue: loaded first, then a duplicate
            try:
                engine.add(AddRequest(torrent=made[last].data,
                                      save_path=made[last].save_path)).result(30)
                raise AssertionError("adding a torrent being restored was not a duplicate")
            except DuplicateTorrentError:
                pass
            # a command answered while they load
            engine.category_add("during-load").result(30)

            def watch() -> None:
                while not stop.is_set():
                    s: Snapshot = engine.snapshot
                    seen.append((s.stats.loading, len(s.torrents)))
                    time.sleep(0.005)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            snap = engine.wait_for(lambda s: len(s.torrents) == N and not s.stats.loading
                                   and all(t.phase is Phase.SEEDING
                                           for t in s.torrents.values()), 120)
            stop.set()
            watcher.join(5)
            assert "during-load" in snap.categories
            for tid, (_paused, cat, _tags) in expected.items():
                assert snap.torrents[tid].category == cat, tid
            errors = [e for e in events.drain() if isinstance(e, ResumeDataError)]
            assert not errors, errors
        finally:
            stop.set()
            engine.stop(timeout=120)
        assert first.stats.loading > 0 or seen[0][0] > 0, (
            f"the start returned after loading everything ({started_in:.2f} s)")
        loading = [n for n, _listed in seen]
        assert loading == sorted(loading, reverse=True), "loading went up"
        assert all(n + listed <= N for n, listed in seen), seen[:10]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_command_naming_a_torrent_not_loaded_yet_says_so() -> None:
    home, expected, _made = seeding_home(N)
    try:
        last = sorted(expected)[-1]
        engine = build_engine(home).start()
        try:
            try:
                engine.pause(last).result(30)
            except UnknownTorrentError as exc:
                assert "still loading" in str(exc), exc
            # either way it is loaded at once, ahead of the others
            snap = engine.wait_for(lambda s: last in s.torrents, 30)
            assert snap.stats.loading > 0 or len(snap.torrents) == N
            engine.wait_for(lambda s: len(s.torrents) == N and not s.stats.loading, 120)
        finally:
            engine.stop(timeout=120)
    finally:
        shutil.rmtree(home, ignore_errors=True)
