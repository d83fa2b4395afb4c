"""Peers the user names (--peer, add_peers, an add again) are kept with the torrent: with no
tracker and no DHT they are the only way to the swarm, so a restart must dial them again."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import (
    EngineFactory,
    build_engine,
    make_payload,
    make_torrent,
    port_of,
    start_seed,
    tree_bytes,
)
from tidegate.engine import AddRequest
from tidegate.engine.torrents.resume import ResumeStore, Saved

LIMITED = {"limit_local_peers": True}


def test_peers_named_at_add_are_dialled_again_after_a_restart(make_engine: EngineFactory,
                                                               tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(3_000_000,))
    created = make_torrent(folder, piece_size=65536)
    seed = make_engine("seed", rates={"upload": 500_000, **LIMITED})
    start_seed(seed, created, folder)
    peer = f"127.0.0.1:{port_of(seed)}"
    home = tmp_path / "leech"
    leech = build_engine(home, rates=LIMITED).start()
    try:
        tid = leech.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                                   peers=(peer,))).result(10)
        leech.wait_for(lambda s: tid in s.torrents and
                       s.torrents[tid].wanted_done >= 500_000, 20)
    finally:
        leech.stop()
    before = leech.snapshot.torrents[tid]
    assert before.wanted_done < before.wanted  # stopped mid-way
    saved = ResumeStore(home / "data" / "resume", leech.config.limits).load(tid)
    assert isinstance(saved, Saved) and saved.extras.peers == [("127.0.0.1", port_of(seed))]
    seed.set_global_limits(up=0).result(5)

    again = build_engine(home, rates=LIMITED).start()  # a new listen port: only we can dial
    try:
        # no add_peers, no tracker, no DHT: the kept peer is dialled at start
        again.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 30)
    finally:
        again.stop()
    assert tree_bytes(tmp_path / "dl" / folder.name) == tree_bytes(folder)


def test_adding_again_with_peers_connects_them_and_keeps_them(make_engine: EngineFactory,
                                                              tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(1_000_000,))
    created = make_torrent(folder, piece_size=65536)
    seed = make_engine("seed")
    start_seed(seed, created, folder)
    home = tmp_path / "leech"
    leech = build_engine(home).start()
    try:
        # added without peers (or by a version that lost them at a restart): it stalls
        tid = leech.add(AddRequest(torrent=created.data,
                                   save_path=str(tmp_path / "dl"))).result(10)
        leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "downloading",
                       10)
        # the same torrent again, now with a peer: not "already added", but connected
        again = leech.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                                     peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
        assert again == tid
        leech.wait_for(lambda s: s.torrents[tid].complete_on_disk, 30)
        leech.add_peers(tid, ["127.0.0.2:6881"]).result(5)  # kept too, once this resolves
    finally:
        leech.stop()
    assert tree_bytes(tmp_path / "dl" / folder.name) == tree_bytes(folder)
    saved = ResumeStore(home / "data" / "resume", leech.config.limits).load(tid)
    assert isinstance(saved, Saved)
    assert saved.extras.peers == [("127.0.0.1", port_of(seed)), ("127.0.0.2", 6881)]
