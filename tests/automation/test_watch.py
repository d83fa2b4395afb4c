"""Watch folders on real engines with real files: added once, then moved; bad files
renamed with their error and never retried; files still being written waited for; a file
added before a restart but not moved is moved, not added twice."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import EngineFactory, make_payload, make_torrent
from tidegate.engine.automation.watch import WatchService
from tidegate.engine.config.watchhooks import WatchConfig, WatchFolder
from tidegate.engine.requests import AddRequest


def service(engine: object, *folders: WatchFolder, interval: float = 0.05,
            max_per_poll: int = 200) -> WatchService:
    return WatchService(engine,  # type: ignore[arg-type]
                        WatchConfig(folders=list(folders), interval=interval,
                                    max_per_poll=max_per_poll))


def polls(svc: WatchService, n: int) -> int:
    return sum(svc.poll_once() for _ in range(n))


def old(path: Path) -> None:
    """Last changed a minute ago (past the wait for a file that does not decode)."""
    t = time.time() - 60
    os.utime(path, (t, t))


def test_torrent_and_magnet_files_are_added_once_then_moved(make_engine: EngineFactory,
                                                            tmp_path: Path) -> None:
    engine = make_engine("e")
    engine.category_add("tv", str(tmp_path / "tv")).result(10)
    engine.wait_for(lambda s: "tv" in s.categories, 10)
    watch = tmp_path / "watch"
    watch.mkdir()
    a = make_torrent(make_payload(tmp_path / "a", "a", sizes=(40_000,)))
    b = make_torrent(make_payload(tmp_path / "b", "b", sizes=(40_000,)))
    (watch / "a.torrent").write_bytes(a.data)
    (watch / "b.magnet").write_text("\n  " + b.magnet + "  \n")
    svc = service(engine, WatchFolder(path=str(watch), category="tv"))
    assert svc.poll_once() == 0  # first look: seen, not yet known to be stable
    assert svc.poll_once() == 2
    snap = engine.snapshot
    ids = {a.info_hash_v1, b.info_hash_v1}
    assert set(snap.torrents) == ids
    for tid in ids:
        assert snap.torrents[tid].category == "tv"
        assert snap.torrents[tid].save_path == str(tmp_path / "tv")
    assert sorted(os.listdir(watch)) == [".added"]
    assert sorted(os.listdir(watch / ".added")) == ["a.torrent", "b.magnet"]
    assert polls(svc, 5) == 0
    [state] = svc.states()
    assert (state.added, state.invalid, state.waiting, state.last_error) == (2, 0, 0, "")
    # the same file dropped again: already present, so moved (as a.torrent.1), not re-added
    (watch / "a.torrent").write_bytes(a.data)
    assert polls(svc, 2) == 1
    assert sorted(os.listdir(watch / ".added")) == ["a.torrent", "a.torrent.1", "b.magnet"]
    assert len(engine.snapshot.torrents) == 2


def test_rename_mode_and_save_path(make_engine: EngineFactory, tmp_path: Path) -> None:
    engine = make_engine("e")
    watch = tmp_path / "w"
    watch.mkdir()
    c = make_torrent(make_payload(tmp_path / "c", "c", sizes=(10_000,)))
    (watch / "c.TORRENT").write_bytes(c.data)
    svc = service(engine, WatchFolder(path=str(watch), save_path=str(tmp_path / "dl"),
                                      done="rename"))
    assert polls(svc, 2) == 1
    assert os.listdir(watch) == ["c.TORRENT.added"]
    assert engine.snapshot.torrents[c.info_hash_v1].save_path == str(tmp_path / "dl")


def test_bad_files_are_renamed_with_their_error_and_never_retried(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    engine = make_engine("e")
    watch = tmp_path / "w"
    watch.mkdir()
    outside = tmp_path / "outside.torrent"
    good = make_torrent(make_payload(tmp_path / "g", "g", sizes=(10_000,)))
    outside.write_bytes(good.data)
    files = {
        "garbage.torrent": b"this is not bencoded",
        "cut.torrent": good.data[: len(good.data) // 2],
        "words.magnet": b"hello, not a magnet",
        "latin1.magnet": b"magnet:?xt=urn:btih:\xe9\xe9",
        "empty.magnet": b"",
    }
    for name, data in files.items():
        (watch / name).write_bytes(data)
        old(watch / name)
    os.symlink(outside, watch / "link.torrent")
    svc = service(engine, WatchFolder(path=str(watch)))
    assert polls(svc, 2) == 6
    names = set(os.listdir(watch))
    for name in [*files, "link.torrent"]:
        assert name not in names
        assert f"{name}.invalid" in names
        error = (watch / f"{name}.error.txt").read_text()
        assert error.startswith(f"{watch / name}: ") and error.count(str(watch)) == 1, error
    assert "not a torrent file" in (watch / "garbage.torrent.error.txt").read_text()
    assert "malformed" in (watch / "cut.torrent.error.txt").read_text()
    assert "not a magnet URI" in (watch / "words.magnet.error.txt").read_text()
    assert "not UTF-8" in (watch / "latin1.magnet.error.txt").read_text()
    assert "empty" in (watch / "empty.magnet.error.txt").read_text()
    assert "links are not followed" in (watch / "link.torrent.error.txt").read_text()
    assert outside.read_bytes() == good.data  # the link's target is left alone
    stamps = {n: os.stat(watch / n).st_mtime_ns for n in os.listdir(watch)}
    assert polls(svc, 5) == 0  # nothing retried
    assert {n: os.stat(watch / n).st_mtime_ns for n in os.listdir(watch)} == stamps
    assert engine.snapshot.torrents == {}
    [state] = svc.states()
    assert state.invalid == 6 and state.added == 0
    assert state.last_error.startswith(f"{watch / 'words.magnet'}: not a magnet URI")


def test_a_file_still_being_written_is_waited_for(make_engine: EngineFactory,
                                                  tmp_path: Path) -> None:
    engine = make_engine("e")
    watch = tmp_path / "w"
    watch.mkdir()
    t = make_torrent(make_payload(tmp_path / "s", "s", sizes=(3_000_000,)),
                     piece_size=16384)
    assert len(t.data) > 4000
    svc = service(engine, WatchFolder(path=str(watch)), interval=0.05).start()
    chunks = [t.data[i:i + 500] for i in range(0, len(t.data), 500)]
    invalid_seen: list[str] = []
    try:
        with open(watch / "slow.torrent", "wb") as f:
            for chunk in chunks:  # pauses of 0.25 s: five looks see the same partial file
                f.write(chunk)
                f.flush()
                time.sleep(0.25)
                invalid_seen += [n for n in os.listdir(watch) if n.endswith(".invalid")]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (watch / ".added" / "slow.torrent").exists():
            time.sleep(0.05)
    finally:
        svc.stop()
    assert invalid_seen == []
    assert (watch / ".added" / "slow.torrent").read_bytes() == t.data
    assert list(engine.snapshot.torrents) == [t.info_hash_v1]
    assert svc.states()[0].added == 1


def test_added_before_a_restart_but_not_moved_is_moved_not_added_twice(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    t = make_torrent(make_payload(tmp_path / "p", "p", sizes=(10_000,)))
    first = make_engine("node")
    # the watch folder's add went through, then the process died before the move
    first.add(AddRequest(torrent=t.data, source="w/p.torrent")).result(10)
    first.stop()
    again = make_engine("node")  # the same home: restored from its resume file
    again.wait_for(lambda s: t.info_hash_v1 in s.torrents, 10)
    watch = tmp_path / "w"
    watch.mkdir()
    (watch / "p.torrent").write_bytes(t.data)
    svc = service(again, WatchFolder(path=str(watch)))
    assert polls(svc, 2) == 1
    assert os.listdir(watch / ".added") == ["p.torrent"]
    assert not (watch / "p.torrent").exists()
    [state] = svc.states()
    assert (state.added, state.invalid) == (1, 0)
    assert list(again.snapshot.torrents) == [t.info_hash_v1]


def test_a_missing_category_or_folder_is_the_folders_error(make_engine: EngineFactory,
                                                           tmp_path: Path) -> None:
    engine = make_engine("e")
    watch = tmp_path / "w"
    watch.mkdir()
    t = make_torrent(make_payload(tmp_path / "p", "p", sizes=(10_000,)))
    (watch / "p.torrent").write_bytes(t.data)
    svc = service(engine, WatchFolder(path=str(watch), category="nope"),
                  WatchFolder(path=str(tmp_path / "missing")))
    assert polls(svc, 3) == 0
    nope, missing = svc.states()
    assert "category 'nope' does not exist" in nope.last_error
    assert "no such folder" in missing.last_error
    assert os.listdir(watch) == ["p.torrent"]  # left for when the category exists
    engine.category_add("nope").result(10)
    engine.wait_for(lambda s: "nope" in s.categories, 10)  # the watch reads the snapshot
    assert polls(svc, 2) == 1
    assert list(engine.snapshot.torrents) == [t.info_hash_v1]


def test_watch_config_is_checked() -> None:
    from tidegate.engine.config import from_dict
    from tidegate.engine.errors import ConfigError

    cfg = from_dict({"watch": {"interval": 5, "folders": [{"path": "/tmp/x",
                                                           "category": "tv"}]}})
    assert cfg.watch.folders[0].category == "tv" and cfg.watch.interval == 5
    for bad, says in (({"interval": 0}, "watch.interval"),
                      ({"folders": [{"path": ""}]}, "path"),
                      ({"folders": [{"path": "/x", "done": "delete"}]}, "done"),
                      ({"folders": [{"path": "/x", "nope": 1}]}, "nope")):
        with pytest.raises(ConfigError, match=says):
            from_dict({"watch": bad})


def test_two_thousand_files_bounded_per_look(make_engine: EngineFactory,
                                             tmp_path: Path) -> None:
    import libtorrent as lt

    engine = make_engine("e")
    watch = tmp_path / "w"
    watch.mkdir()
    count = 2000
    for i in range(count):
        info = {b"name": f"f{i}".encode(), b"piece length": 16384, b"length": 1000 + i,
                b"pieces": os.urandom(20)}
        (watch / f"t{i:04d}.torrent").write_bytes(lt.bencode({b"info": info}))
    (watch / "bad.torrent").write_bytes(b"d4:infoi1ee")
    old(watch / "bad.torrent")
    svc = service(engine, WatchFolder(path=str(watch), save_path=str(tmp_path / "dl")),
                  max_per_poll=250)
    handled: list[int] = []
    started = time.monotonic()
    for _ in range(40):
        handled.append(svc.poll_once())
        if sum(handled) == count + 1:
            break
    took = time.monotonic() - started
    assert sum(handled) == count + 1, handled
    assert max(handled) <= 250
    assert len(os.listdir(watch / ".added")) == count
    assert sorted(os.listdir(watch)) == [".added", "bad.torrent.error.txt",
                                         "bad.torrent.invalid"]
    assert len(engine.snapshot.torrents) == count
    state = svc.states()[0]
    assert (state.added, state.invalid, state.waiting) == (count, 1, 0)
    print(f"{count} files in {len(handled)} looks, {took:.1f} s")


def test_the_service_thread_runs_and_stops(make_engine: EngineFactory, tmp_path: Path) -> None:
    engine = make_engine("e")
    watch = tmp_path / "w"
    watch.mkdir()
    svc = service(engine, WatchFolder(path=str(watch)), interval=0.05).start()
    try:
        t = make_torrent(make_payload(tmp_path / "p", "p", sizes=(10_000,)))
        (watch / "p.magnet").write_text(t.magnet)
        engine.wait_for(lambda s: t.info_hash_v1 in s.torrents, 10)
    finally:
        svc.stop()
    assert svc._thread is not None and not svc._thread.is_alive()
    assert threading.active_count() >= 1
