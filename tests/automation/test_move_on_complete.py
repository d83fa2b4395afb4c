"""Move on completion: real downloads from a loopback seed into ``completion.incomplete_dir``
whose real files move to their final folder once complete; what is not moved; a failed
move as the torrent's error; and real daemons killed (SIGKILL) during completion moves."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import libtorrent as lt
import msgspec
import pytest

from tests.conftest import (
    EngineFactory,
    make_payload,
    make_torrent,
    port_of,
    start_seed,
    tree_bytes,
)
from tests.helpers.daemon_util import DaemonProc, short_home
from tidegate.engine import AddRequest, Engine
from tidegate.engine import commands as cmds
from tidegate.engine.config import from_dict
from tidegate.engine.errors import ConfigError
from tidegate.engine.events import StorageMoved, TorrentErrored
from tidegate.engine.metainfo import Created
from tidegate.engine.state import Phase, Snapshot, TorrentState
from tidegate.tui.widgets.info_panel import info_rows


def swarm(make_engine: EngineFactory, tmp_path: Path, name: str = "payload",
          sizes: tuple[int, ...] = (600_000, 300_000, 7)) -> tuple[Engine, Created, Path, str]:
    """A seed engine serving a fresh payload: (seed, torrent, payload folder, peer)."""
    payload = make_payload(tmp_path / "seed-data", name, sizes=sizes)
    created = make_torrent(payload, fmt="hybrid", piece_size=32768)
    seed = make_engine(f"seed-{name}")
    start_seed(seed, created, payload)
    return seed, created, payload, f"127.0.0.1:{port_of(seed)}"


def downloader(make_engine: EngineFactory, tmp_path: Path) -> tuple[Engine, Path, Path]:
    """An engine downloading into ``incomplete`` whose default folder is ``final``."""
    incomplete, final = tmp_path / "incomplete", tmp_path / "final"
    engine = make_engine("dl", storage={"download_dir": str(final)},
                         completion={"incomplete_dir": str(incomplete)})
    return engine, incomplete, final


def state(engine: Engine, tid: str, ok: Any, timeout: float = 30) -> TorrentState:
    snap = engine.wait_for(lambda s: tid in s.torrents and ok(s.torrents[tid]), timeout)
    return snap.torrents[tid]


def settled(t: TorrentState) -> bool:
    """Complete, in one folder, nothing left to move."""
    return t.complete_on_disk and not t.complete_dir and t.phase is not Phase.MOVING


@pytest.mark.parametrize("source", ["torrent", "magnet"])
def test_a_completed_download_moves_to_the_default_folder(make_engine: EngineFactory,
                                                          tmp_path: Path, source: str) -> None:
    _seed, created, payload, peer = swarm(make_engine, tmp_path)
    engine, incomplete, final = downloader(make_engine, tmp_path)
    events = engine.subscribe()
    given = AddRequest(torrent=created.data) if source == "torrent" else \
        AddRequest(uri=created.magnet)
    tid = engine.add(msgspec.structs.replace(given, peers=(peer,), paused=True)).result(10)
    t = state(engine, tid, lambda t: True)
    assert t.save_path == str(incomplete) and t.complete_dir == str(final)
    # the detail screen's Info tab says where it goes
    rows = dict(info_rows(engine.details(tid).result(10)))
    assert rows["Moves to"] == f"{final} when complete"
    engine.resume(tid).result(10)
    t = state(engine, tid, settled)
    assert t.save_path == str(final)
    assert tree_bytes(final / payload.name) == tree_bytes(payload)
    assert not any(p.is_file() for p in incomplete.rglob("*")), list(incomplete.rglob("*"))
    assert t.pieces_done == t.num_pieces and not t.error
    moved = [e for e in events.drain() if isinstance(e, StorageMoved)]
    assert [(e.torrent_id, e.path) for e in moved] == [(tid, str(final))]
    # the resume file says so: a restart finds it there, with nothing left to move
    engine.save_resume_data().result(10)
    raw = (engine.state_dir / f"{tid}.resume").read_bytes()
    assert lt.read_resume_data(raw).save_path == str(final)
    extras = json.loads(lt.bdecode(raw)[b"tidegate"])
    assert not extras.get("complete_dir") and not extras.get("moving_to")


def test_the_categorys_save_path_is_the_final_folder_and_follows_a_change(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    _seed, created, payload, peer = swarm(make_engine, tmp_path)
    engine, incomplete, _final = downloader(make_engine, tmp_path)
    films, shows = tmp_path / "films", tmp_path / "shows"
    engine.category_add("films", str(films)).result(10)
    engine.category_add("shows", str(shows)).result(10)
    tid = engine.add(AddRequest(torrent=created.data, peers=(peer,), paused=True,
                                category="films")).result(10)
    t = state(engine, tid, lambda t: True)
    assert (t.save_path, t.complete_dir) == (str(incomplete), str(films))
    # put in another category while unfinished: its data stays, the target changes
    engine.set_category([tid], "shows").result(10)
    t = state(engine, tid, lambda t: t.complete_dir == str(shows))
    assert t.save_path == str(incomplete)
    engine.resume(tid).result(10)
    t = state(engine, tid, settled)
    assert t.save_path == str(shows) and t.category == "shows"
    assert tree_bytes(shows / payload.name) == tree_bytes(payload)
    assert not films.exists() or not any(films.iterdir())


def test_what_is_not_moved(make_engine: EngineFactory, tmp_path: Path) -> None:
    """An add naming its folder, a seed (found complete when added) and a torrent the
    user moved by hand stay where they are."""
    _seed, created, payload, peer = swarm(make_engine, tmp_path)
    engine, incomplete, final = downloader(make_engine, tmp_path)
    # named folder: downloads there, no target
    mine = tmp_path / "mine"
    tid = engine.add(AddRequest(torrent=created.data, peers=(peer,),
                                save_path=str(mine))).result(10)
    t = state(engine, tid, lambda t: t.complete_on_disk)
    assert (t.save_path, t.complete_dir) == (str(mine), "")
    engine.remove(tid).result(10)
    engine.wait_for(lambda s: tid not in s.torrents, 10)

    # complete when added: the data already in the incomplete folder, checked, not moved
    shutil.copytree(payload, incomplete / payload.name)
    tid = engine.add(AddRequest(torrent=created.data)).result(10)
    t = state(engine, tid, lambda t: t.complete_on_disk and not t.complete_dir)
    time.sleep(1.5)  # a tick or more: still there
    t = engine.snapshot.torrents[tid]
    assert t.save_path == str(incomplete) and t.all_time_download == 0
    assert tree_bytes(incomplete / payload.name) == tree_bytes(payload)
    assert not (final / payload.name).exists()
    engine.remove(tid).result(10)
    engine.wait_for(lambda s: tid not in s.torrents, 10)
    shutil.rmtree(incomplete / payload.name)

    # moved by hand while unfinished: downloads there and stays
    elsewhere = tmp_path / "elsewhere"
    tid = engine.add(AddRequest(torrent=created.data, peers=(peer,), paused=True)).result(10)
    assert state(engine, tid, lambda t: True).complete_dir == str(final)
    assert engine.move(tid, str(elsewhere)).result(30) == str(elsewhere)
    t = state(engine, tid, lambda t: not t.complete_dir)
    engine.resume(tid).result(10)
    t = state(engine, tid, lambda t: t.complete_on_disk)
    time.sleep(1.5)
    t = engine.snapshot.torrents[tid]
    assert t.save_path == str(elsewhere) and not t.complete_dir
    assert tree_bytes(elsewhere / payload.name) == tree_bytes(payload)
    assert not (final / payload.name).exists()


def test_a_failed_move_is_the_torrents_error_and_resume_tries_again(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    _seed, created, payload, peer = swarm(make_engine, tmp_path)
    engine, incomplete, final = downloader(make_engine, tmp_path)
    squatter = final / payload.name / "file0.bin"  # a file of the torrent already there
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"not yours")
    events = engine.subscribe()
    tid = engine.add(AddRequest(torrent=created.data, peers=(peer,))).result(10)
    t = state(engine, tid, lambda t: t.phase is Phase.ERROR)
    assert "could not move to" in t.error and str(squatter) in t.error, t.error
    assert t.save_path == str(incomplete) and t.complete_dir == str(final)
    assert tree_bytes(incomplete / payload.name) == tree_bytes(payload)
    assert squatter.read_bytes() == b"not yours"  # nothing overwritten
    errors = [e for e in events.drain() if isinstance(e, TorrentErrored)]
    assert [e.torrent_id for e in errors] == [tid]
    assert engine.running and engine.crash is None  # the torrent's error, not the engine's
    # it is still an error a tick later: not retried in a loop
    time.sleep(1.5)
    assert engine.snapshot.torrents[tid].error == t.error
    assert not [e for e in events.drain() if isinstance(e, TorrentErrored)]

    squatter.unlink()  # the user makes room and resumes
    engine.resume(tid).result(10)
    t = state(engine, tid, settled)
    assert t.save_path == str(final) and not t.error
    assert tree_bytes(final / payload.name) == tree_bytes(payload)


# ------------------------------------------------------------------ killed daemons


def _saved(home: Path, tid: str) -> tuple[lt.add_torrent_params, dict[str, Any]]:
    raw = (home / "data" / "resume" / f"{tid}.resume").read_bytes()
    return lt.read_resume_data(raw), json.loads(lt.bdecode(raw).get(b"tidegate", b"{}"))


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(".")} if root.exists() else set()


def _moving(home: Path, tid: str) -> bool:
    """The resume file records a move under way (written before libtorrent moves)."""
    try:
        return bool(_saved(home, tid)[1].get("moving_to"))
    except (OSError, RuntimeError, ValueError):
        return False


@pytest.mark.parametrize(("when", "delay"), [
    ("complete", 0.0), ("complete", 0.5), ("moving", 0.0), ("moving", 0.003),
    ("moving", 0.01), ("moving", 0.03), ("moving", 0.1)])
def test_a_kill_during_a_completion_move_loses_nothing(make_engine: EngineFactory,
                                                       tmp_path: Path, when: str,
                                                       delay: float) -> None:
    """SIGKILL a real daemon ``delay`` s after it reports a download complete, or after its
    resume file records the completion move, while the data is copied from a tmpfs
    incomplete folder to the final one (another file system: libtorrent copies file by
    file). On disk after the kill, the torrent is in one folder, or split between both
    with the move recorded (``moving_to``), and every file there is whole or a copy the
    next start redoes; after the restart it is whole in the final folder, with every
    piece, and nothing is left in the incomplete one."""
    _seed, created, payload, peer = swarm(
        make_engine, tmp_path, sizes=(12_000_000, 8_000_000, 8_000_000, 4_000_000, 9))
    incomplete = Path(tempfile.mkdtemp(prefix="tg-incomplete-", dir="/dev/shm"))
    home = short_home(f'\n[completion]\nincomplete_dir = "{incomplete}"\n')
    final = home / "downloads"
    daemon = DaemonProc(home)
    try:
        daemon.start()
        client = daemon.client()
        try:
            tid = client.run(cmds.Add(AddRequest(torrent=created.data, peers=(peer,)))).result(20)
            if when == "complete":
                client.wait_for(lambda s: tid in s.torrents
                                and s.torrents[tid].complete_on_disk, 60)
        finally:
            client.stop()
        if when == "moving":
            deadline = time.monotonic() + 60
            while not _moving(home, tid):
                assert time.monotonic() < deadline, "the completion move never began"
                time.sleep(0.001)
        time.sleep(delay)
        daemon.kill9()
        params, extras = _saved(home, tid)
        here, there = _files(incomplete / payload.name), _files(final / payload.name)
        everything = _files(payload)
        assert here | there == everything, (here, there)  # no file lost
        if there:  # anything in the final folder comes from a recorded move
            assert extras.get("moving_to") == str(final) or (
                params.save_path == str(final) and not here), (extras, here, there)
        if here == everything and not there:
            assert params.save_path == str(incomplete)
            assert extras.get("complete_dir") == str(final) or extras.get("moving_to")
        # files still in the incomplete folder are whole: a source is deleted only after
        # its copy is complete (a half copy in the target is redone on load)
        for rel in here:
            assert (incomplete / payload.name / rel).read_bytes() == (payload / rel).read_bytes()

        daemon = DaemonProc(home)
        daemon.start()
        client = daemon.client()
        try:
            snap: Snapshot = client.wait_for(
                lambda s: tid in s.torrents and settled(s.torrents[tid])
                and s.torrents[tid].save_path == str(final), 60)
            t = snap.torrents[tid]
            assert t.pieces_done == t.num_pieces and t.progress == 1.0 and not t.error
        finally:
            client.stop()
        assert tree_bytes(final / payload.name) == tree_bytes(payload)
        assert not _files(incomplete)
        daemon.stop()
        params, extras = _saved(home, tid)
        assert params.save_path == str(final)
        assert not extras.get("complete_dir") and not extras.get("moving_to")
    finally:
        daemon.stop()
        shutil.rmtree(incomplete, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def test_a_relative_incomplete_folder_is_refused_naming_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict({"completion": {"incomplete_dir": "incoming"}}, path="/x/config.toml")
    assert caught.value.key == "completion.incomplete_dir", str(caught.value)
    assert from_dict({"completion": {"incomplete_dir": "~/in"}}).completion.incomplete_dir \
        == "~/in"
