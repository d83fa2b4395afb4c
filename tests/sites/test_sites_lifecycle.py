"""Sites across restarts, with retention, bus pushes and a lost key (real engines)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.sites_util import join_dht, site_engine, wait_site, write_site
from tidegate.engine import Engine
from tidegate.engine.errors import SiteError


def snapshot_dirs(engine: Engine, address: str) -> list[str]:
    folder = engine.loaded.paths.data_dir / "sites" / address / "snapshots"
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def test_push_retention_restart_and_missing_key(tmp_path: Path) -> None:
    # B polls the DHT only once an hour: it learns of new heads from A's bus pushes (over
    # ipc, as between two processes: an inproc pipe does not come back after a restart)
    inbox = f"ipc://{tmp_path}/bus/b.sock"
    a = site_engine(tmp_path / "a", sites={"keep_snapshots": 2, "push_endpoints": [inbox]})
    b_cfg = {"sites": {"keep_snapshots": 2, "poll_interval": 3600.0},
             "bus": {"blockchain_endpoint": inbox, "hosting_endpoint": "inproc://tg-lc-bh"}}
    b = site_engine(tmp_path / "b", **b_cfg)
    running = [a.start(), b.start()]
    try:
        join_dht([a, b])
        source = write_site(tmp_path / "src", {"index.html": b"0", "big.bin": os.urandom(300_000)})
        address = a.site_new("notes", str(source)).result(30).address
        a.site_publish(address).result(60)
        b.site_follow(address).result(10)  # the first lookup is at once
        wait_site(b, address, lambda s: s.hosting.seq == 1, 60)
        for n in (2, 3, 4):
            (source / "index.html").write_bytes(str(n).encode())
            assert a.site_publish(address).result(60).height == n
            wait_site(b, address, lambda s, n=n: s.hosting.seq == n, 60)  # noqa: B023
        # the same folder again: no new entry
        assert a.site_publish(address).result(60).height == 4
        for engine in (a, b):
            site = wait_site(engine, address, lambda s: s.hosting.kept == 2, 10)
            assert site.height == 4 and snapshot_dirs(engine, address) == ["3", "4"]
        follower = b.snapshot.sites[address]
        assert follower.checked > 0 and follower.announced == 4

        # B restarts: the site, its chain and its seeded snapshots come back as they were
        b.stop()
        running.remove(b)
        b = site_engine(tmp_path / "b", **b_cfg)
        running.append(b.start())
        site = wait_site(b, address, lambda s: s.hosting.kept == 2, 30)
        assert site.height == 4 and site.hosting.seq == 4 and site.hosting.fetching == -1
        seeding = [t for t in b.snapshot.torrents.values() if "/snapshots/" in t.save_path]
        assert len(seeding) == 2 and all(t.progress == 1.0 for t in seeding)
        assert [e.seq for e in b.site_log(address).result(10)] == [0, 1, 2, 3, 4]
        join_dht([a, b])
        (source / "index.html").write_bytes(b"5")
        a.site_publish(address).result(60)
        wait_site(b, address, lambda s: s.hosting.seq == 5, 60)

        # the owner loses its key: publishing says so and never makes a new identity
        key = a.loaded.paths.data_dir / "sites" / address / "key"
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        key.rename(tmp_path / "key.bak")
        (source / "index.html").write_bytes(b"6")
        with pytest.raises(SiteError, match="key file .* is missing"):
            a.site_publish(address).result(60)
        assert not key.exists() and a.snapshot.sites[address].height == 5
        (tmp_path / "key.bak").rename(key)
        assert a.site_publish(address).result(60).height == 6
    finally:
        for engine in running:
            engine.stop()


def test_import_key_recovers_the_chain_before_publishing(tmp_path: Path) -> None:
    """A data folder lost, the key kept: importing it makes no new GENESIS (a fork) but
    fetches the chain from the DHT, and publishing continues from its height."""
    a = site_engine(tmp_path / "a")
    d = site_engine(tmp_path / "d")
    running = [a.start(), d.start()]
    try:
        source = write_site(tmp_path / "src", {"index.html": b"one"})
        address = a.site_new("diary", str(source)).result(30).address
        a.site_publish(address).result(60)
        key_text = (a.loaded.paths.data_dir / "sites" / address / "key").read_text()
        with pytest.raises(SiteError, match="not a tidegate site key"):
            d.site_import("diary", "nonsense").result(10)
        state = d.site_import("diary", key_text, str(source)).result(10)
        assert state.owner and state.height == -1 and state.address == address
        with pytest.raises(SiteError, match="not been recovered"):
            d.site_publish(address).result(10)  # d is in no DHT yet: nothing to recover
        join_dht([a, d])
        d.site_check(address).result(10)
        wait_site(d, address, lambda s: s.height == 1 and s.hosting.seq == 1, 60)
        a.stop()
        running.remove(a)
        (source / "index.html").write_bytes(b"two")
        assert d.site_publish(address).result(60).height == 2
        log = d.site_log(address).result(10)
        assert [e.kind for e in log] == ["genesis", "update", "update"]
        wait_site(d, address, lambda s: s.hosting.seq == 2, 30)
    finally:
        for engine in running:
            engine.stop()
