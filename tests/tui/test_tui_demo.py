"""The demo swarm behind ``tidegate tui --demo``: real engines on loopback, no mocks."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.conftest import tree_bytes
from tidegate.engine import Engine
from tidegate.engine.events import MetadataReceived
from tidegate.tui.demo import DemoSwarm, MiB


def download_all(demo: DemoSwarm, main: Engine, timeout: float) -> tuple[list[str], float]:
    """Add every demo request to ``main``; wait until all are on disk. Returns ids, seconds."""
    start = time.monotonic()
    ids = [main.add(req).result(10) for req in demo.requests()]
    main.wait_for(lambda s: all(i in s.torrents and s.torrents[i].complete_on_disk
                                for i in ids), timeout)
    return ids, time.monotonic() - start


def test_demo_swarm_serves_every_torrent_and_cleans_up(tmp_path: Path) -> None:
    root = tmp_path / "demo"  # does not exist yet: the swarm creates it, so it owns it
    demo = DemoSwarm(root, seeders=2, scale=0.02, seed_rate=0)
    demo.start()
    try:
        assert len(demo.peers) == 2 and all(p.startswith("127.0.0.1:") for p in demo.peers)
        kinds = {(c.info_hash_v1 is not None, c.info_hash_v2 is not None) for c in demo.torrents}
        assert kinds == {(True, False), (False, True), (True, True)}  # v1, v2, hybrid
        requests = demo.requests()
        assert [r.uri is not None for r in requests].count(True) == 1
        assert all(r.save_path == str(demo.download_dir) and r.peers == demo.peers
                   for r in requests)
        loaded = demo.demo_config()
        assert loaded.paths.data_dir == (root / "home" / "data").resolve()
        assert loaded.download_dir() == demo.download_dir
        main = Engine(loaded)
        main.start()
        try:
            events = main.subscribe()
            ids, _ = download_all(demo, main, 60)
            magnet = next(c for c in demo.torrents if c.name == demo.magnet_name)
            magnet_id = magnet.info_hash_v1 or magnet.info_hash_v2
            assert magnet_id in ids
            got = [e for e in events.drain() if isinstance(e, MetadataReceived)]
            assert [e.torrent_id for e in got] == [magnet_id]
            assert tree_bytes(demo.download_dir) == tree_bytes(demo.content_dir)
        finally:
            main.stop()
    finally:
        demo.stop()
    assert not root.exists()
    assert demo.engines and not any(e.running for e in demo.engines)


def test_seed_rate_limits_the_upload(tmp_path: Path) -> None:
    # ~4 MiB in all from one seeder at 1 MiB/s: about 4 s; unlimited it takes well under 1 s.
    demo = DemoSwarm(tmp_path, seeders=1, seed_rate=MiB, scale=0.018)
    demo.start()
    try:
        total = sum(c.total_size for c in demo.torrents)
        assert 3 * MiB < total < 6 * MiB
        (seeder,) = demo.engines
        assert seeder.snapshot.stats.upload_limit == MiB
        main = demo.main_engine()
        main.start()
        try:
            _, seconds = download_all(demo, main, 60)
        finally:
            main.stop()
        # A slow machine only makes this longer; the limit makes it at least ~total/rate.
        assert seconds > 0.5 * total / MiB
        assert tree_bytes(demo.download_dir) == tree_bytes(demo.content_dir)
    finally:
        demo.stop()
    assert tmp_path.exists() and (tmp_path / "content").is_dir()  # not ours: kept


def test_default_root_is_a_fresh_temp_folder_removed_on_stop() -> None:
    with DemoSwarm(seeders=1, scale=0.005) as demo:
        root = demo.base
        assert root.name.startswith("tgdemo") and root.parent == Path(tempfile.gettempdir())
        assert demo.engines[0].running
    assert not root.exists()
    assert not demo.engines[0].running
