"""A recheck completes whatever the pause state, and shows the truth: libtorrent queues the
check of a paused torrent until it is resumed ("0 % checking" for ever, before)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import EngineFactory, build_engine, make_payload, make_torrent, start_seed
from tidegate.engine import Engine
from tidegate.engine.events import TorrentChecked
from tidegate.engine.torrents.resume import ResumeStore, Saved


def paused_seed(engine: Engine, folder: Path, piece_size: int = 65536) -> str:
    tid = start_seed(engine, make_torrent(folder, fmt="v1", piece_size=piece_size), folder)
    engine.pause(tid).result(5)
    engine.wait_for(lambda s: s.torrents[tid].phase == "paused", 10)
    return tid


def checked(events, timeout: float) -> TorrentChecked:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = events.get(timeout=0.5)
        if isinstance(ev, TorrentChecked):
            return ev
    raise AssertionError(f"no TorrentChecked within {timeout} s")


def test_recheck_of_a_paused_torrent_completes_and_stays_paused(make_engine: EngineFactory,
                                                                 tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(2_000_000, 5))
    eng = make_engine("a")
    tid = paused_seed(eng, folder)
    events = eng.subscribe()
    eng.recheck(tid).result(5)
    assert checked(events, 15).progress == 1.0
    state = eng.wait_for(lambda s: s.torrents[tid].phase == "paused", 10).torrents[tid]
    assert state.paused and state.progress == 1.0 and state.pieces_done == -(-2_000_005 // 65536)
    time.sleep(1.0)  # and it stays paused: no transfer, no queue taking it over
    assert eng.snapshot.torrents[tid].phase == "paused"


def test_recheck_of_a_paused_corrupted_torrent_shows_what_is_left(make_engine: EngineFactory,
                                                                  tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(2_000_000,))
    eng = make_engine("a")
    tid = paused_seed(eng, folder)
    target = folder / "file0.bin"
    data = bytearray(target.read_bytes())
    data[700_000:700_010] = bytes(b ^ 0xFF for b in data[700_000:700_010])  # one piece
    target.write_bytes(bytes(data))
    events = eng.subscribe()
    eng.recheck(tid).result(5)
    assert checked(events, 15).progress < 1.0
    state = eng.wait_for(lambda s: s.torrents[tid].phase == "paused" and
                         s.torrents[tid].progress < 1.0, 10).torrents[tid]
    pieces = -(-2_000_000 // 65536)
    assert state.paused and state.pieces_done == pieces - 1
    assert 0.9 < state.progress < 1.0


def test_recheck_of_a_paused_torrent_interrupted_by_a_stop_ends_after_restart(
        tmp_path: Path) -> None:
    folder = tmp_path / "src" / "big"
    folder.mkdir(parents=True)
    block = bytes(range(256)) * 4096  # 1 MiB; every piece the same is fine for a check
    with (folder / "big.bin").open("wb") as f:
        for _ in range(1024):
            f.write(block)
    home = tmp_path / "a"
    slow = {"hashing_threads": 1}  # about 0.6 s for the 1 GiB check: a stop lands in it
    eng = build_engine(home, storage=slow).start()
    try:
        tid = paused_seed(eng, folder, piece_size=4 * 1024 * 1024)
        eng.recheck(tid).result(5)
    finally:
        eng.stop()
    saved = ResumeStore(home / "data" / "resume", eng.config.limits).load(tid)
    assert isinstance(saved, Saved)
    assert saved.extras.rechecking, "the check ended before the stop: make the payload larger"

    again = build_engine(home, storage=slow).start()
    try:
        state = again.wait_for(lambda s: tid in s.torrents and
                               s.torrents[tid].phase == "paused" and
                               s.torrents[tid].progress == 1.0, 30).torrents[tid]
        assert state.paused and state.pieces_done == 256
    finally:
        again.stop()
    saved = ResumeStore(home / "data" / "resume", again.config.limits).load(tid)
    assert isinstance(saved, Saved) and not saved.extras.rechecking
