"""Every torrent command, observed to take effect on a real loopback swarm."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import (
    EngineFactory,
    make_payload,
    make_torrent,
    port_of,
    start_seed,
    tree_bytes,
)
from tidegate.engine import AddRequest, Engine
from tidegate.engine.errors import (
    DuplicateTorrentError,
    EngineError,
    InputError,
    UnknownTorrentError,
)
from tidegate.engine.events import StorageMoved, TorrentChecked, TorrentRemoved

SLOW = 400_000  # bytes/s the seed sends, so a download can be watched mid-way


def slow_swarm(make_engine: EngineFactory, tmp_path: Path, sizes: tuple[int, ...] = (4_000_000,),
               seed_rate: int = SLOW):
    folder = make_payload(tmp_path / "src", sizes=sizes)
    created = make_torrent(folder, piece_size=16384 * 4)
    seed = make_engine("seed", rates={"upload": seed_rate, "limit_local_peers": True})
    start_seed(seed, created, folder)
    leech = make_engine("leech", rates={"limit_local_peers": True})
    return folder, created, seed, leech


def wait_state(engine: Engine, tid: str, pred, timeout: float = 15):
    return engine.wait_for(lambda s: tid in s.torrents and pred(s.torrents[tid]), timeout)


def test_pause_stops_transfer_and_resume_continues(make_engine: EngineFactory,
                                                   tmp_path: Path) -> None:
    folder, created, seed, leech = slow_swarm(make_engine, tmp_path)
    tid = leech.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                               peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    wait_state(leech, tid, lambda t: t.wanted_done > 200_000)
    leech.pause(tid).result(5)
    wait_state(leech, tid, lambda t: t.paused and t.phase == "paused")
    time.sleep(1.0)  # a graceful pause lets requests already in flight land
    settled = leech.snapshot.torrents[tid]
    time.sleep(2.0)
    later = leech.snapshot.torrents[tid]
    assert later.wanted_done == settled.wanted_done < later.wanted
    assert later.download_rate == 0
    leech.resume(tid).result(5)
    done = wait_state(leech, tid, lambda t: t.complete_on_disk, 30).torrents[tid]
    assert not done.paused
    assert tree_bytes(tmp_path / "dl" / folder.name) == tree_bytes(folder)


def test_remove_keeps_or_deletes_data(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(300_000,))
    created = make_torrent(folder)
    eng = make_engine("a")
    events = eng.subscribe()
    tid = start_seed(eng, created, folder)
    eng.wait_for(lambda s: (eng.state_dir / f"{tid}.resume").exists(), 5)
    eng.remove(tid).result(10)
    eng.wait_for(lambda s: tid not in s.torrents, 5)
    assert (folder / "file0.bin").exists()
    assert not (eng.state_dir / f"{tid}.resume").exists()
    tid = start_seed(eng, created, folder)
    eng.remove(tid, delete_data=True).result(10)
    assert not (folder / "file0.bin").exists()
    removed = [e for e in events.drain() if isinstance(e, TorrentRemoved)]
    assert [e.data_deleted for e in removed] == [False, True]
    with pytest.raises(UnknownTorrentError):
        eng.pause(tid).result(5)


def test_recheck_finds_corruption_and_redownloads(make_engine: EngineFactory,
                                                  tmp_path: Path) -> None:
    folder, created, seed, leech = slow_swarm(make_engine, tmp_path, sizes=(600_000,),
                                              seed_rate=0)
    tid = leech.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                               peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    wait_state(leech, tid, lambda t: t.complete_on_disk, 20)
    target = tmp_path / "dl" / folder.name / "file0.bin"
    data = bytearray(target.read_bytes())
    data[100_000:100_010] = b"\xff" * 10
    target.write_bytes(bytes(data))
    events = leech.subscribe()
    leech.recheck(tid).result(5)
    checked = None
    deadline = time.monotonic() + 15
    while checked is None and time.monotonic() < deadline:
        ev = events.get(timeout=0.5)
        if isinstance(ev, TorrentChecked):
            checked = ev
    assert checked is not None and checked.progress < 1.0
    leech.add_peers(tid, [f"127.0.0.1:{port_of(seed)}"]).result(5)
    wait_state(leech, tid, lambda t: t.complete_on_disk, 20)
    assert target.read_bytes() == (folder / "file0.bin").read_bytes()


def test_file_priorities_skip_files(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder, created, seed, leech = slow_swarm(make_engine, tmp_path,
                                              sizes=(500_000, 500_000, 500_000), seed_rate=0)
    tid = leech.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                               file_priorities=(4, 0, 7), paused=True)).result(10)
    details = leech.details(tid).result(5)
    assert [f.priority for f in details.files] == [4, 0, 7]
    index = {f.path.split("/")[-1]: f.index for f in details.files}
    leech.set_file_priorities(tid, {index["file2.bin"]: 0}).result(5)
    leech.resume(tid).result(5)
    leech.add_peers(tid, [f"127.0.0.1:{port_of(seed)}"]).result(5)
    state = wait_state(leech, tid, lambda t: t.complete_on_disk, 20).torrents[tid]
    assert state.phase == "finished" and state.wanted < state.total_size
    details = leech.details(tid).result(5)
    done = {f.path.split("/")[-1]: f.done for f in details.files}
    assert done["file0.bin"] == 500_000
    assert done["file2.bin"] < 500_000  # deselected after adding: not completed
    pad = next(i for i in range(max(index.values())) if i not in index.values())
    with pytest.raises(InputError):
        leech.set_file_priorities(tid, {pad: 1}).result(5)  # a hybrid pad file is no file
    with pytest.raises(InputError):
        leech.set_file_priorities(tid, {99: 1}).result(5)
    with pytest.raises(InputError):
        leech.set_file_priorities(tid, {0: 8}).result(5)


def test_rate_limits_take_effect(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder, created, seed, leech = slow_swarm(make_engine, tmp_path, sizes=(6_000_000,),
                                              seed_rate=0)
    tid = leech.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                               download_limit=150_000,
                               peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    wait_state(leech, tid, lambda t: t.wanted_done > 100_000)
    start = leech.snapshot.torrents[tid].wanted_done
    time.sleep(2.0)
    got = leech.snapshot.torrents[tid].wanted_done - start
    assert got < 150_000 * 2 * 2  # well under what an unlimited loopback link moves
    assert leech.snapshot.torrents[tid].download_limit == 150_000
    leech.set_limits(tid, down=0).result(5)
    wait_state(leech, tid, lambda t: t.complete_on_disk, 20)
    leech.set_global_limits(down=1000, up=2000).result(5)
    snap = leech.wait_for(lambda s: s.stats.download_limit == 1000, 5)
    assert snap.stats.upload_limit == 2000


def test_sequential_trackers_peers_and_duplicates(make_engine: EngineFactory,
                                                  tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(100_000,))
    created = make_torrent(folder)
    eng = make_engine("a")
    tid = eng.add(AddRequest(torrent=created.data, save_path=str(folder.parent),
                             paused=True)).result(10)
    eng.set_sequential(tid, True).result(5)
    wait_state(eng, tid, lambda t: t.sequential)
    eng.set_sequential(tid, False).result(5)
    wait_state(eng, tid, lambda t: not t.sequential)
    eng.add_trackers(tid, ["http://127.0.0.1:1/announce", "udp://127.0.0.1:2"]).result(5)
    urls = [t.url for t in eng.details(tid).result(5).trackers]
    assert urls == ["http://127.0.0.1:1/announce", "udp://127.0.0.1:2"]
    eng.remove_trackers(tid, ["http://127.0.0.1:1/announce"]).result(5)
    assert [t.url for t in eng.details(tid).result(5).trackers] == ["udp://127.0.0.1:2"]
    with pytest.raises(InputError):
        eng.add_trackers(tid, ["file:///etc/passwd"]).result(5)
    with pytest.raises(InputError):
        eng.add_peers(tid, ["example.org:80"]).result(5)
    with pytest.raises(DuplicateTorrentError):
        eng.add(AddRequest(torrent=created.data, save_path=str(folder.parent))).result(5)
    eng.reannounce(tid).result(5)


def test_move_storage(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(200_000, 10))
    created = make_torrent(folder)
    eng = make_engine("a")
    events = eng.subscribe()
    tid = start_seed(eng, created, folder)
    original = tree_bytes(folder)
    new = eng.move(tid, str(tmp_path / "moved")).result(10)
    assert Path(new) == tmp_path / "moved"
    assert tree_bytes(tmp_path / "moved" / folder.name) == original
    assert not (folder / "file0.bin").exists()
    wait_state(eng, tid, lambda t: t.save_path == str(tmp_path / "moved"))
    assert any(isinstance(e, StorageMoved) for e in events.drain())
    with pytest.raises(InputError):
        eng.move(tid, "relative/dir").result(5)


def test_commands_after_stop_fail_clearly(make_engine: EngineFactory) -> None:
    eng = make_engine("a")
    eng.stop()
    with pytest.raises(EngineError, match="not running"):
        eng.pause("00" * 20).result(1)
