"""Resume data: restarts continue where they stopped; bad files never crash the engine."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    EngineFactory,
    build_engine,
    make_payload,
    make_torrent,
    merge,
    port_of,
    start_seed,
    tree_bytes,
)
from tidegate.engine import AddRequest, Engine
from tidegate.engine.errors import EngineLockedError
from tidegate.engine.events import ResumeDataError
from tidegate.engine.torrents.resume import atomic_write

LIMITED = {"rates": {"limit_local_peers": True}}


def engine_at(home: Path, **sections: dict[str, Any]) -> Engine:
    return build_engine(home, **merge(LIMITED, sections))


def test_restart_mid_download_resumes_without_recheck(make_engine: EngineFactory,
                                                      tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(3_000_000,))
    created = make_torrent(folder, piece_size=65536)
    seed = make_engine("seed", rates={"upload": 600_000, "limit_local_peers": True})
    start_seed(seed, created, folder)
    home = tmp_path / "leech"
    leech = engine_at(home).start()
    try:
        tid = leech.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                                   peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
        leech.wait_for(lambda s: tid in s.torrents and
                       s.torrents[tid].wanted_done >= 1_000_000, 20)
    finally:
        leech.stop()
    before = leech.snapshot.torrents[tid]
    assert 0 < before.wanted_done < before.wanted
    assert (home / "data" / "resume" / f"{tid}.resume").is_file()

    again = engine_at(home)
    events = again.subscribe()
    again.start()
    try:
        snap = again.wait_for(lambda s: tid in s.torrents and s.torrents[tid].has_metadata
                              and s.torrents[tid].phase != "checking", 10)
        restored = snap.torrents[tid]
        # came back with what it had: nothing was thrown away or rehashed from zero
        assert restored.wanted_done >= before.wanted_done
        again.add_peers(tid, [f"127.0.0.1:{port_of(seed)}"]).result(5)
        done = again.wait_for(lambda s: s.torrents[tid].complete_on_disk, 30).torrents[tid]
        # only the missing part crossed the wire again (plus at most a few pieces in flight)
        fetched_after = done.all_time_download - before.all_time_download
        assert fetched_after <= before.wanted - before.wanted_done + 8 * 65536
        # finishing a torrent that was restored incomplete is news
        again.wait_for(lambda s: s.torrents[tid].phase == "seeding", 10)
        deadline = time.monotonic() + 5
        kinds: list[str] = []
        while "TorrentCompleted" not in kinds and time.monotonic() < deadline:
            kinds += [type(e).__name__ for e in events.drain()]
            time.sleep(0.05)
        assert "TorrentCompleted" in kinds
    finally:
        again.stop()
    assert tree_bytes(tmp_path / "dl" / folder.name) == tree_bytes(folder)


def test_paused_state_and_extras_survive_restart(tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(100_000,))
    created = make_torrent(folder, comment="kept across restarts", private=True)
    home = tmp_path / "a"
    eng = engine_at(home).start()
    try:
        tid = eng.add(AddRequest(torrent=created.data, save_path=str(folder.parent))).result(10)
        eng.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding", 10)
        eng.set_share_limits(tid, ratio=2.5, seed_time=3600).result(5)
        eng.pause(tid).result(5)
        eng.wait_for(lambda s: s.torrents[tid].paused, 5)
    finally:
        eng.stop()
    eng = engine_at(home).start()
    try:
        # the first snapshot may show the quick check of resume data; then it is paused
        snap = eng.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase != "checking",
                            10)
        st = snap.torrents[tid]
        assert st.paused and st.phase == "paused"
        assert (st.ratio_limit, st.seed_time_limit) == (2.5, 3600)
        assert st.progress == 1.0
        details = eng.details(tid).result(5)
        assert details.comment == "kept across restarts" and details.private
    finally:
        eng.stop()


def test_restored_seed_is_not_reported_as_completed_again(tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(200_000,))
    created = make_torrent(folder, piece_size=16384)
    home = tmp_path / "a"
    eng = engine_at(home).start()
    try:
        tid = eng.add(AddRequest(torrent=created.data, save_path=str(folder.parent))).result(10)
        eng.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding", 10)
    finally:
        eng.stop()
    resume = home / "data" / "resume" / f"{tid}.resume"
    written = resume.stat().st_mtime_ns
    eng = engine_at(home)
    events = eng.subscribe()
    eng.start()
    try:
        eng.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding", 10)
        time.sleep(1.0)  # the finished alert and the cache flush come after the first state
        kinds = [type(e).__name__ for e in events.drain()]
        # a thousand restored seeds must not each announce "completed" nor rewrite their file
        assert "TorrentAdded" in kinds and "TorrentCompleted" not in kinds
        assert resume.stat().st_mtime_ns == written
    finally:
        eng.stop()


@pytest.mark.parametrize("counters_every", [600.0, 1.0])
def test_a_seed_whose_only_change_is_its_counters_waits_for_the_counters_save(
        tmp_path: Path, counters_every: float) -> None:
    """A seed's active and seeding time change every second. Rewriting every seed's file at
    each periodic save stalled an engine holding thousands (docs/BENCHMARKS.md), so such a
    change waits for ``storage.counters_save_interval``; a real change is saved as before."""
    folder = make_payload(tmp_path / "src", sizes=(200_000,))
    created = make_torrent(folder, piece_size=16384)
    home = tmp_path / "a"
    eng = engine_at(home, storage={"resume_save_interval": 1.0,
                                   "counters_save_interval": counters_every}).start()
    try:
        tid = eng.add(AddRequest(torrent=created.data, save_path=str(folder.parent))).result(10)
        eng.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding", 10)
        resume = home / "data" / "resume" / f"{tid}.resume"
        time.sleep(1.5)  # the saves that follow its add and its check
        before = resume.stat().st_mtime_ns
        time.sleep(3.5)  # three periodic saves while its seeding time grows
        assert (resume.stat().st_mtime_ns != before) == (counters_every == 1.0)
        before = resume.stat().st_mtime_ns
        eng.pause(tid).result(10)  # answered once the file records it
        assert resume.stat().st_mtime_ns != before
    finally:
        eng.stop()


def test_corrupt_resume_file_is_quarantined_not_fatal(tmp_path: Path) -> None:
    home = tmp_path / "a"
    resume = home / "data" / "resume"
    resume.mkdir(parents=True)
    bad = resume / ("ab" * 20 + ".resume")
    bad.write_bytes(b"d8:file-format22:libtorrent resume file5:trunc")
    junk = resume / "not-a-hash.resume"
    junk.write_bytes(b"de")
    eng = engine_at(home)
    events = eng.subscribe()
    eng.start()
    try:
        assert eng.running
        errors = [e for e in events.drain() if isinstance(e, ResumeDataError)]
        assert len(errors) == 2
        assert all(e.file.endswith(".corrupt") for e in errors)
        assert (resume / (bad.name + ".corrupt")).read_bytes().endswith(b"trunc")
        assert not bad.exists()
    finally:
        eng.stop()


def test_one_engine_per_state_dir(tmp_path: Path) -> None:
    a = engine_at(tmp_path / "same").start()
    try:
        with pytest.raises(EngineLockedError, match=str(os.getpid())):
            engine_at(tmp_path / "same").start()
    finally:
        a.stop()


def test_atomic_write_never_leaves_a_torn_file(tmp_path: Path) -> None:
    target = tmp_path / "x.resume"
    atomic_write(target, b"old")

    class Boom(Exception):
        pass

    # a write that fails midway leaves the old content and no temp files behind
    import tidegate.engine.torrents.resume as resume_mod

    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        raise Boom()

    resume_mod.os.fsync = failing_fsync  # type: ignore[attr-defined]
    try:
        with pytest.raises(Boom):
            atomic_write(target, b"new" * 1000)
    finally:
        resume_mod.os.fsync = real_fsync  # type: ignore[attr-defined]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.resume"]
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"


def test_metadata_first_waits_for_file_choice(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(400_000, 300_000))
    created = make_torrent(folder)
    seed = make_engine("seed")
    start_seed(seed, created, folder)
    leech = make_engine("leech")
    dest = tmp_path / "dl"
    tid = leech.add(AddRequest(uri=created.magnet, save_path=str(dest), metadata_first=True,
                               peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    snap = leech.wait_for(lambda s: tid in s.torrents and
                          s.torrents[tid].phase == "choose-files", 15)
    st = snap.torrents[tid]
    assert st.has_metadata and st.wanted_done == 0 and st.all_time_download == 0
    assert not any(p.is_file() for p in dest.rglob("*"))  # no payload byte written
    files = leech.details(tid).result(5).files
    assert [f.priority for f in files] == [4, 4]  # all chosen, as in a picker dialog
    time.sleep(1.0)
    st = leech.snapshot.torrents[tid]
    assert st.phase == "choose-files" and st.wanted_done == 0 and st.all_time_download == 0
    leech.set_file_priorities(tid, {files[0].index: 0}).result(5)
    leech.resume(tid).result(5)
    done = leech.wait_for(lambda s: s.torrents[tid].complete_on_disk, 20).torrents[tid]
    assert done.wanted == 300_000
    assert (dest / folder.name / "file1.bin").read_bytes() == (folder / "file1.bin").read_bytes()
    assert not (dest / folder.name / "file0.bin").exists()


def test_ratio_limit_stops_seeding(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(500_000,))
    created = make_torrent(folder)
    seed = make_engine("seed", seeding={"ratio_limit": 0.5})
    tid = start_seed(seed, created, folder)
    events = seed.subscribe()
    leech = make_engine("leech")
    lid = leech.add(AddRequest(uri=created.magnet, save_path=str(tmp_path / "dl"),
                               peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    leech.wait_for(lambda s: lid in s.torrents and s.torrents[lid].complete_on_disk, 20)
    st = seed.wait_for(lambda s: s.torrents[tid].paused, 10).torrents[tid]
    assert st.ratio >= 0.5
    from tidegate.engine.events import ShareLimitReached

    reached = [e for e in events.drain() if isinstance(e, ShareLimitReached)]
    assert reached and "ratio" in reached[0].reason


def test_seed_time_limit_stops_an_idle_seed(make_engine: EngineFactory, tmp_path: Path) -> None:
    from tidegate.engine.events import ShareLimitReached

    folder = make_payload(tmp_path / "src", sizes=(50_000,))
    seed = make_engine("seed")
    events = seed.subscribe()
    tid = start_seed(seed, make_torrent(folder), folder)
    seed.set_share_limits(tid, seed_time=2).result(5)
    # no peer ever connects: only the seeding clock can trigger the limit
    st = seed.wait_for(lambda s: s.torrents[tid].paused, 10).torrents[tid]
    assert st.phase == "paused"
    reached = [e for e in events.drain() if isinstance(e, ShareLimitReached)]
    assert reached and reached[0].reason.startswith("seeded for")
