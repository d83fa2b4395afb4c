"""The reload that gets a hybrid torrent going again after a full disk (engine/torrents/
faults.py) waits for the torrent's fresh resume data. The periodic save asks libtorrent
only for what changed, and libtorrent answers it with a failure for an unchanged torrent,
in order, before the reload's own save. That failure used to cancel the reload: the
torrent then stayed stopped with 0 pieces after space returned (issue 9, about half the
runs of the hybrid full-disk test). Here both saves are asked back to back, for real, on
the engine thread, for a paused torrent (a seeding one changes every second: its seeding
time).
"""

from __future__ import annotations

import time
from pathlib import Path

from tidegate.engine import Phase
from tidegate.engine.events import Log

from ..conftest import build_engine, make_payload, make_torrent, start_seed


def test_a_reload_is_not_cancelled_by_an_earlier_periodic_save_that_fails(
        tmp_path: Path) -> None:
    # no periodic save of its own during the test: the test asks for the one it needs
    engine = build_engine(tmp_path / "home", storage={"resume_save_interval": 600.0}).start()
    events = engine.subscribe()
    try:
        payload = make_payload(tmp_path / "src", "p", sizes=(2_000_000, 1000))
        tid = start_seed(engine, make_torrent(payload, fmt="hybrid", piece_size=65536),
                         payload)
        engine.pause(tid).result(10)  # answered once its resume file records the pause
        time.sleep(0.5)
        m = engine._m()

        def periodic_save_then_reload() -> int:
            asked = m.save_all(only_modified=True)  # nothing changed: libtorrent fails it
            m.faults.reload(m.torrents[tid])
            return asked

        assert engine._call(periodic_save_then_reload).result(10) == 1
        logs: list[Log] = []

        def reloaded() -> bool:
            logs.extend(e for e in events.drain() if isinstance(e, Log))
            return any("reloaded to check its files again" in e.message for e in logs)

        engine.wait_for(lambda s: reloaded(), 15)
        # back under the same id, paused, with no piece taken on trust (libtorrent holds
        # the check of a paused torrent until it is resumed); resumed, its files pass
        engine.wait_for(lambda s: s.torrents[tid].paused
                        and s.torrents[tid].pieces_done == 0, 10)
        engine.resume(tid).result(10)
        engine.wait_for(lambda s: s.torrents[tid].phase == Phase.SEEDING
                        and s.torrents[tid].progress == 1.0, 15)
        assert list(engine.snapshot.torrents) == [tid]
    finally:
        engine.stop()
