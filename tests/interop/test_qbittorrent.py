"""Hybrid swarms with qBittorrent (libtorrent 2.0 inside), the one Debian client that
joins them: byte-exact both ways, by .torrent over UDP and by magnet over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..conftest import EngineFactory, start_seed
from .opentracker import Opentracker
from .procs import tree_sha256, wait_until
from .qbittorrent import SEEDING, QBittorrent, torrent_id
from .swarms import both_seed, same_payload, swarm, tidegate_downloads, v1_hash


def test_tidegate_downloads_a_hybrid_from_qbittorrent(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
        qbittorrent: Callable[[], QBittorrent]) -> None:
    folder, created, trk = swarm(tmp_path, opentracker, "hybrid", "udp")
    qb = qbittorrent()
    qb.add(torrent=created.data, save_path=folder.parent)
    ih = v1_hash(created)
    t = qb.wait_state(torrent_id(ih, created.info_hash_v2), SEEDING, 20)  # checked, seeds
    assert (t["infohash_v1"], t["infohash_v2"]) == (created.info_hash_v1,
                                                     created.info_hash_v2)
    wait_until("qBittorrent's announce", lambda: trk.scrape(ih), 15)
    dest = tmp_path / "dl"
    tidegate_downloads(make_engine, created, "torrent", dest)
    assert tree_sha256(dest / folder.name) == tree_sha256(folder)
    both_seed(trk, created)


def test_qbittorrent_downloads_a_hybrid_from_tidegate(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
        qbittorrent: Callable[[], QBittorrent]) -> None:
    folder, created, trk = swarm(tmp_path, opentracker, "hybrid", "http")
    seed = make_engine("seed")
    start_seed(seed, created, folder)
    ih = v1_hash(created)
    wait_until("tidegate's announce", lambda: trk.scrape(ih), 10)
    qb = qbittorrent()
    dest = tmp_path / "dl"
    qb.add(magnet=created.magnet, save_path=dest)  # finds the seed through the tracker
    t = qb.wait_state(torrent_id(ih, created.info_hash_v2), SEEDING, 40)
    assert t["infohash_v2"] == created.info_hash_v2
    same_payload(dest / folder.name, folder, created)
    both_seed(trk, created)
