"""Joined and bidi-marked names between tidegate and other clients (aria2, transmission),
through opentracker: every file under its exact name on both sides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.engine.test_names import JOINED, _folder
from tidegate.engine import AddRequest
from tidegate.engine.metainfo import Created

from ..conftest import EngineFactory, make_torrent, start_seed, tree_bytes
from .aria2 import Aria2
from .opentracker import Opentracker, tracked_hashes
from .procs import wait_until
from .swarms import v1_hash
from .transmission import Transmission


def _swarm(tmp_path: Path,
           opentracker: Callable[[], Opentracker]) -> tuple[Path, Created, Opentracker]:
    folder = _folder(tmp_path / "src", JOINED)
    trk = opentracker()
    created = make_torrent(folder, "v1", trackers=(trk.url("http"),))
    trk.allow(*tracked_hashes(created.info_hash_v1, created.info_hash_v2)).start()
    return folder, created, trk


def test_aria2_downloads_joined_names_from_tidegate(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
        aria2: Callable[[], Aria2]) -> None:
    folder, created, trk = _swarm(tmp_path, opentracker)
    seed = make_engine("seed")
    start_seed(seed, created, folder)
    wait_until("tidegate's announce", lambda: trk.scrape(v1_hash(created)), 10)
    ar = aria2()
    dest = tmp_path / "dl"
    gid = ar.download(torrent=created.data, folder=dest)
    ar.wait_complete(gid, 40)
    assert tree_bytes(dest / folder.name) == tree_bytes(folder)


def test_tidegate_downloads_joined_names_from_transmission(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
        transmission: Callable[[], Transmission]) -> None:
    folder, created, trk = _swarm(tmp_path, opentracker)
    tr = transmission()
    ih = tr.seed(created.data, folder.parent)
    leech = make_engine("leech")
    dest = tmp_path / "dl"
    tid = leech.add(AddRequest(torrent=created.data,
                               save_path=str(dest))).result(10)
    tr.rechoke_now(ih, seeding=True)
    leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 40)
    assert tree_bytes(dest / folder.name) == tree_bytes(folder)
