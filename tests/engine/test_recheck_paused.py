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


def test_recheck_of_a_running_torrent_is_managed_again_after_it(tmp_path: Path) -> None:
    """A running, auto-managed torrent is checked at once (libtorrent would wait for its
    next auto-manage pass: ~1 s) and is auto-managed again when the check ends; a check a
    stop interrupted (the file saying so, as the stop left it) ends managed too."""
    import json

    import libtorrent as lt

    auto = int(lt.torrent_flags.auto_managed)
    folder = make_payload(tmp_path / "src", sizes=(3_000_000, 5))
    home = tmp_path / "a"
    resume = home / "data" / "resume"

    def in_file(tid: str) -> tuple[int, bool, bool]:
        saved = ResumeStore(resume, eng.config.limits).load(tid)
        assert isinstance(saved, Saved)
        return int(saved.params.flags), saved.extras.manage_after_check, saved.extras.rechecking

    eng = build_engine(home).start()
    try:
        tid = start_seed(eng, make_torrent(folder, fmt="v1"), folder)
        events = eng.subscribe()
        eng.recheck(tid).result(5)
        assert checked(events, 15).progress == 1.0
        eng.wait_for(lambda s: s.torrents[tid].phase == "seeding", 10)
        eng.save_resume_data().result(10)
        flags, manage, rechecking = in_file(tid)
        assert flags & auto and not manage and not rechecking
    finally:
        eng.stop()
    # as a stop in the middle of the check leaves it: unmanaged, to be managed again
    path = resume / f"{tid}.resume"
    entry = lt.bdecode(path.read_bytes())
    entry[b"auto_managed"] = 0
    extras = json.loads(entry[b"tidegate"])
    extras.update(rechecking=True, manage_after_check=True)
    entry[b"tidegate"] = json.dumps(extras).encode()
    path.write_bytes(lt.bencode(entry))
    eng = build_engine(home).start()
    try:
        eng.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding"
                     and s.torrents[tid].progress == 1.0, 30)
        deadline = time.monotonic() + 15
        while (state := in_file(tid)) and state[2] and time.monotonic() < deadline:
            eng.save_resume_data().result(10)  # until the restarted check has ended
            time.sleep(0.2)
        flags, manage, rechecking = in_file(tid)
        assert not rechecking and not manage and flags & auto, (flags, manage)
    finally:
        eng.stop()
