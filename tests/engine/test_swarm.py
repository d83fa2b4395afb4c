"""A seed and a leech, both real engines on 127.0.0.1: complete, byte-identical downloads."""

from __future__ import annotations

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
from tidegate.engine import AddRequest
from tidegate.engine.events import MetadataReceived, TorrentAdded, TorrentCompleted


@pytest.mark.parametrize("fmt", ["v1", "v2", "hybrid"])
@pytest.mark.parametrize("by", ["torrent", "magnet"])
def test_download_is_byte_identical(make_engine: EngineFactory, tmp_path: Path, fmt: str,
                                    by: str) -> None:
    folder = make_payload(tmp_path / "src", sizes=(2_500_000, 70_000, 1))
    created = make_torrent(folder, fmt)
    seed, leech = make_engine("seed"), make_engine("leech")
    start_seed(seed, created, folder)
    events = leech.subscribe()
    dest = tmp_path / "dl"
    if by == "torrent":
        req = AddRequest(torrent=created.data, save_path=str(dest),
                         peers=(f"127.0.0.1:{port_of(seed)}",))
    else:
        req = AddRequest(uri=created.magnet, save_path=str(dest),
                         peers=(f"127.0.0.1:{port_of(seed)}",))
    tid = leech.add(req).result(10)
    snap = leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 30)
    state = snap.torrents[tid]
    assert state.progress == 1.0
    assert state.wanted_done == state.wanted == sum(len(b) for b in tree_bytes(folder).values())
    assert tree_bytes(dest / folder.name) == tree_bytes(folder)
    kinds = [type(e) for e in events.drain()]
    assert kinds.index(TorrentAdded) < kinds.index(TorrentCompleted)
    if by == "magnet":
        assert kinds.index(MetadataReceived) < kinds.index(TorrentCompleted)
    # the id is the v1 hash when there is one, else the v2 hash
    assert tid == (created.info_hash_v1 or created.info_hash_v2)


def test_two_leeches_share_one_seed(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(4_000_000,))
    created = make_torrent(folder)
    seed = make_engine("seed")
    start_seed(seed, created, folder)
    leeches = [make_engine(f"leech{i}") for i in range(2)]
    ids = [le.add(AddRequest(uri=created.magnet, save_path=str(tmp_path / f"dl{i}"),
                             peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
           for i, le in enumerate(leeches)]
    for le, tid in zip(leeches, ids, strict=True):
        le.wait_for(lambda s, t=tid: t in s.torrents and s.torrents[t].complete_on_disk, 30)
    for i in range(2):
        assert tree_bytes(tmp_path / f"dl{i}" / folder.name) == tree_bytes(folder)
    seed.wait_for(lambda s: s.torrents[ids[0]].all_time_upload >= 2 * 4_000_000, 10)


def test_snapshots_are_replaced_and_share_unchanged_torrents(make_engine: EngineFactory,
                                                             tmp_path: Path) -> None:
    seed = make_engine("seed", engine={"snapshot_hz": 20})
    folders = [make_payload(tmp_path / f"s{i}", sizes=(100_000,)) for i in range(2)]
    ids = [start_seed(seed, make_torrent(f), f) for f in folders]
    seed.pause(ids[1]).result(5)
    first = seed.wait_for(lambda s: s.torrents[ids[1]].paused, 5)
    seed.pause(ids[0]).result(5)
    second = seed.wait_for(lambda s: s.torrents[ids[0]].paused, 5)
    assert second is not first and second.seq > first.seq
    assert first.torrents[ids[0]].paused is False  # the old snapshot did not change
    # the torrent that did not change is the very same object
    assert second.torrents[ids[1]] is first.torrents[ids[1]]
    with pytest.raises(TypeError):
        second.torrents[ids[0]] = None  # type: ignore[index]
