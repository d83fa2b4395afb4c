"""The program API on real nodes (an owner and a follower on a private DHT on
127.0.0.1, linked, so a publish is pushed): a follower's watcher hears which files
changed, reads are verified (a file changed on disk is refused, never returned), and
writes stay inside an owned site's source folder."""

from __future__ import annotations

import io
import os
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.sites_util import joined, site_engine, wait_site, write_site
from tidegate.engine.apps.client import AppClient
from tidegate.engine.errors import InputError, SiteError
from tidegate.engine.events import Log, SiteChanged, SiteRefused
from tidegate.engine.node import Node

BIG = bytes(range(256)) * 4096 * 3  # 3 MiB: several pieces, several site_read calls
CHANGE_BOUND = 60.0


@dataclass
class Pair:
    owner: Node
    follower: Node
    address: str
    source: Path

    def snapshot_file(self, node: Node, path: str) -> Path:
        seq = node.snapshot.sites[self.address].hosting.seq
        return (node.loaded.paths.data_dir / "sites" / self.address / "snapshots" /
                str(seq) / "site" / path)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("apps")
    with joined([site_engine(tmp / "owner"), site_engine(tmp / "follower")]) as (a, b):
        source = write_site(tmp / "src", {"index.html": b"<h1>v1</h1>", "keep.txt": b"same",
                                          "old.txt": b"going", "big.bin": BIG})
        address = a.site_new("apps", str(source)).result(30).address
        a.site_publish(address).result(60)
        b.site_follow(address).result(10)
        wait_site(b, address, lambda s: s.height == 1 and s.hosting.seq == 1, 90)
        yield Pair(a, b, address, source)


def test_files_and_verified_reads_with_seeks(pair: Pair) -> None:
    app = AppClient(pair.follower)
    files = {f.path: f for f in app.files(pair.address)}
    assert set(files) == {"index.html", "keep.txt", "old.txt", "big.bin"}  # no .tidegate/
    assert files["big.bin"].size == len(BIG)
    assert files["index.html"].content_type == "text/html"
    assert app.read("apps", "keep.txt") == b"same"  # by name too

    with app.open(pair.address, "big.bin") as raw:
        f = io.BufferedReader(raw, 1 << 20)
        assert raw.size == len(BIG)
        f.seek(len(BIG) - 10)
        assert f.read() == BIG[-10:]
        f.seek(1_500_000)
        assert f.read(3_000) == BIG[1_500_000:1_503_000]
    with app.open(pair.address, "big.bin", start=1 << 20, end=(1 << 20) + 5) as window:
        assert window.size == 5 and window.read(100) == BIG[1 << 20:(1 << 20) + 5]

    with pytest.raises(InputError, match="no such file"):
        app.read(pair.address, "missing.txt")
    for bad in ("../site.json", "/etc/passwd", "a/../../x"):
        with pytest.raises(InputError):
            app.read(pair.address, bad)


def test_writes_stay_inside_the_owned_sites_folder(pair: Pair, tmp_path: Path) -> None:
    app = AppClient(pair.owner)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"untouched")
    (pair.source / "link").symlink_to(tmp_path, target_is_directory=True)
    (pair.source / "file-link").symlink_to(outside)
    try:
        for bad in ("../escape.txt", "/tmp/escape.txt", "a/../../escape.txt", "a//b",
                    ".tidegate/x", "a\\b"):
            with pytest.raises(InputError):
                app.write(pair.address, bad, b"x")
        with pytest.raises(InputError, match="symlink"):
            app.write(pair.address, "link/outside.txt", b"x")
        with pytest.raises(InputError, match="symlink"):
            pair.owner.site_write(pair.address, "file-link", b"x", 0).result(10)
        with pytest.raises(InputError, match="symlink"):
            app.delete(pair.address, "link/outside.txt")
        assert outside.read_bytes() == b"untouched"
        assert not (tmp_path.parent / "escape.txt").exists()
        # a whole-file write replaces the name (the link itself), never its target
        app.write(pair.address, "file-link", b"replaced")
        assert outside.read_bytes() == b"untouched"
        assert (pair.source / "file-link").read_bytes() == b"replaced"
        assert not (pair.source / "file-link").is_symlink()
    finally:
        for name in ("link", "file-link"):
            (pair.source / name).unlink(missing_ok=True)
    with pytest.raises(SiteError, match="owned"):
        AppClient(pair.follower).write(pair.address, "x.txt", b"x")
    with pytest.raises(InputError, match="at most 524288 per call"):
        pair.owner.site_write(pair.address, "x.txt", b"x" * (600 << 10)).result(10)
    # a long file goes in 512 KiB writes; offsets and truncation
    assert app.write(pair.address, "long.bin", BIG[:1_300_000]) == 1_300_000
    assert (pair.source / "long.bin").read_bytes() == BIG[:1_300_000]
    assert pair.owner.site_write(pair.address, "long.bin", b"end", 10, True).result(10) == 13
    assert (pair.source / "long.bin").read_bytes() == BIG[:10] + b"end"
    app.delete(pair.address, "long.bin")
    assert not (pair.source / "long.bin").exists()
    assert not [p for p in pair.source.iterdir() if p.name.startswith(".tidegate")]


def test_a_followers_watcher_hears_what_the_owner_changed(pair: Pair) -> None:
    owner, follower = AppClient(pair.owner), AppClient(pair.follower)
    got: queue.Queue[SiteChanged] = queue.Queue()
    watch = follower.watch(pair.address, got.put)
    try:
        owner.write(pair.address, "index.html", b"<h1>v2</h1>")
        owner.write(pair.address, "sub/new.txt", b"new file")
        owner.delete(pair.address, "old.txt")
        height = owner.publish(pair.address).height
        started = time.monotonic()
        event = got.get(timeout=CHANGE_BOUND)
        took = time.monotonic() - started
        assert event.address == pair.address and event.height == height
        assert event.changed == ["index.html", "sub/new.txt"]
        assert event.removed == ["old.txt"]
        assert not event.truncated
        assert event.head == pair.follower.snapshot.sites[pair.address].head
        assert follower.read(pair.address, "index.html") == b"<h1>v2</h1>"
        print(f"publish -> follower's SiteChanged: {took:.2f} s")
    finally:
        watch.close()


def test_a_write_cut_short_leaves_nothing_a_publish_takes(pair: Pair) -> None:
    """A crash between a whole-file write's temp file and its rename leaves
    ``.tidegate-write-*`` in the source folder (made here as that crash would leave it):
    the next publish removes it, says so, and the snapshot does not hold it."""
    app = AppClient(pair.owner)
    stream = pair.owner.subscribe()
    left = [pair.source / ".tidegate-write-0123456789abcdef",
            pair.source / "sub" / ".tidegate-write-fedcba9876543210"]
    try:
        (pair.source / "sub").mkdir(exist_ok=True)
        for path in left:
            path.write_bytes(b"half a file")
        app.write(pair.address, "after-crash.txt", b"kept")
        height = app.publish(pair.address).height
        assert not any(path.exists() for path in left)
        wait_site(pair.owner, pair.address, lambda s: s.hosting.seq == height, 60)
        files = [f.path for f in app.files(pair.address)]
        assert "after-crash.txt" in files
        assert not [f for f in files if ".tidegate-write-" in f], files
        logs = []
        deadline = time.monotonic() + 10
        while len(logs) < 2 and time.monotonic() < deadline:
            ev = stream.get(0.5)
            if isinstance(ev, Log) and "left by a write cut short" in ev.message:
                logs.append(ev.message)
        assert len(logs) == 2, logs
    finally:
        pair.owner.unsubscribe(stream)


def test_a_file_changed_under_the_followers_snapshot_is_refused(pair: Pair) -> None:
    """Last in the module: it damages the follower's copy (repaired from the owner only
    after libtorrent's reconnect delay, so not waited for here)."""
    app = AppClient(pair.follower)
    stream = pair.follower.subscribe()
    try:
        assert app.read(pair.address, "keep.txt") == b"same"  # verified and cached
        target = pair.snapshot_file(pair.follower, "keep.txt")
        os.chmod(target, 0o644)
        target.write_bytes(b"evil")  # same size, other content
        with pytest.raises(SiteError, match="not the site's content") as err:
            app.read(pair.address, "keep.txt")
        assert "evil" not in str(err.value) and "keep.txt" in str(err.value)
        with pytest.raises(SiteError, match="not the site's content"):
            app.read(pair.address, "keep.txt")  # refused again, not cached as good
        # reported as the proxy reports a mismatch: Hosting rechecks the snapshot
        deadline = time.monotonic() + 20
        refused = None
        while refused is None and time.monotonic() < deadline:
            ev = stream.get(1.0)
            if isinstance(ev, SiteRefused) and ev.reason == "bad_piece":
                refused = ev
        assert refused is not None and "keep.txt" in refused.message, refused
    finally:
        pair.follower.unsubscribe(stream)
