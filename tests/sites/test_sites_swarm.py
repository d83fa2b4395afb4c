"""Publish and follow sites between three real engines on a private DHT on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.sites_util import joined, site_engine, wait_site, write_site
from tidegate.engine import Engine
from tidegate.engine.sites.registry import canonical_address

FIRST = {
    "index.html": b"<h1>tidegate</h1>\n" * 200,
    "css/site.css": os.urandom(200_000),
    "img/big.bin": os.urandom(1_500_000),
    "empty.txt": b"",
}


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[list[Engine]]:
    with joined([site_engine(tmp_path / name) for name in "abc"]) as engines:
        yield engines


def hosted(engine: Engine, address: str) -> Path:
    seq = engine.snapshot.sites[address].hosting.seq
    return engine.loaded.paths.data_dir / "sites" / address / "snapshots" / str(seq) / "site"


def test_publish_follow_update_and_owner_offline(trio: list[Engine], tmp_path: Path) -> None:
    a, b, c = trio
    source = write_site(tmp_path / "src", FIRST)
    site = a.site_new("blog", str(source)).result(30)
    address = site.address
    assert canonical_address(address) == address and site.owner and site.height == 0
    published = a.site_publish("blog").result(120)
    assert published.height == 1
    wait_site(a, address, lambda s: s.hosting.seq == 1, 30)

    # B and C know nothing but the address
    for follower in (b, c):
        state = follower.site_follow(address).result(30)
        assert not state.owner and state.height == -1
    for follower in (b, c):
        got = wait_site(follower, address, lambda s: s.hosting.seq == 1, 90)
        assert got.name == "blog" and got.height == 1 and got.hosting.error == ""
        assert files_of(hosted(follower, address)) == {**files_of(source),
                                                       ".tidegate/chain": files_of(
                                                           hosted(a, address))[".tidegate/chain"]}

    # an update: one file changed, one added; the big image is unchanged
    (source / "index.html").write_bytes(b"<h1>tidegate, again</h1>\n" * 300)
    (source / "news.html").write_bytes(b"<p>news</p>")
    assert a.site_publish(address).result(120).height == 2
    for follower in (b, c):
        got = wait_site(follower, address, lambda s: s.hosting.seq == 2, 90)
        assert got.height == 2 and got.head == a.snapshot.sites[address].head
        files = files_of(hosted(follower, address))
        assert files["index.html"] == (source / "index.html").read_bytes()
        assert files["news.html"] == b"<p>news</p>"
        # the unchanged 1.5 MB image came from the previous snapshot, not the network
        snap_torrents = [t for t in follower.snapshot.torrents.values()
                         if t.save_path.endswith("/snapshots/2")]
        assert len(snap_torrents) == 1
        assert snap_torrents[0].all_time_download < 600_000, snap_torrents[0]

    # the owner goes offline; C starts over and gets everything from B
    a.stop()
    c.site_unfollow(address, delete_data=True).result(30)
    assert address not in c.wait_for(lambda s: address not in s.sites, 10).sites
    c.site_follow(address).result(30)
    got = wait_site(c, address, lambda s: s.hosting.seq == 2, 120)
    assert got.height == 2 and got.name == "blog"
    assert files_of(hosted(c, address))["index.html"] == (source / "index.html").read_bytes()
    log = c.site_log(address).result(10)
    assert [e.seq for e in log] == [0, 1, 2] and log[0].kind == "genesis"
    report = c.site_verify(address).result(60)
    assert report.ok and report.snapshot == 2 and report.files == 6, report
