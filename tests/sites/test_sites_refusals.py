"""What a follower refuses, for real: announcements and chains put into a private DHT on
127.0.0.1 with the site's own key, as a misbehaving owner (or a stolen key) would."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.sites_util import joined, site_engine, wait_site, write_site
from tidegate.engine import Engine
from tidegate.engine.chain import SiteKey, entry_hash, sign_update
from tidegate.engine.chain.codec import encode_chain
from tidegate.engine.events import SiteRefused
from tidegate.engine.requests import AddRequest
from tidegate.engine.sites.head import SALT, Head, build_chain_torrent


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[list[Engine]]:
    # the owner re-announces only when asked: the test's own puts must not be overwritten
    with joined([site_engine(tmp_path / name, sites={"announce_interval": 3600.0})
                 for name in "abc"]) as engines:
        yield engines


def seed_chain(engine: Engine, folder: Path, raws: list[bytes]) -> bytes:
    """Seed a chain torrent holding ``raws`` from ``engine``; its v2 info-hash."""
    folder.mkdir(parents=True)
    (folder / "chain").write_bytes(encode_chain(raws))
    built = build_chain_torrent(folder)
    tid = engine.add(AddRequest(torrent=built.data, save_path=str(folder),
                                seed_mode=True)).result(10)
    engine.reannounce(tid).result(10)
    return built.info_hash


def refused(stream, reason: str, timeout: float = 60) -> SiteRefused:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = stream.get(timeout=0.5)
        if isinstance(event, SiteRefused) and event.reason == reason:
            return event
    raise AssertionError(f"no SiteRefused({reason}) within {timeout} s")


def test_follower_refuses_forged_chain_rollback_and_fork(trio: list[Engine],
                                                         tmp_path: Path) -> None:
    a, b, c = trio
    source = write_site(tmp_path / "src", {"index.html": b"v1", "big.bin": os.urandom(100_000)})
    address = a.site_new("shop", str(source)).result(30).address
    a.site_publish(address).result(60)
    (source / "index.html").write_bytes(b"v2")
    a.site_publish(address).result(60)
    b.site_follow(address).result(10)
    wait_site(b, address, lambda s: s.hosting.seq == 2, 90)
    key = SiteKey.load(a.loaded.paths.data_dir / "sites" / address / "key")
    held = b.site_log(address).result(10)
    raws = [(a.loaded.paths.data_dir / "sites" / address / "chain").read_bytes()]
    # from here on only the test speaks for the key, through C
    chain_file = raws[0]
    events = b.subscribe()

    # 1. a chain whose entry 3 is signed by another key: nothing of it is stored
    from tidegate.engine.chain.codec import decode_chain
    entries = decode_chain(chain_file, "test")
    forged = sign_update(SiteKey.generate(), 3, entry_hash(entries[-1]), int(time.time()),
                         "magnet:?xt=urn:btmh:1220" + "ab" * 32, ())
    ih = seed_chain(c, tmp_path / "forged", entries + [forged.raw])
    forged_head = Head(3, entry_hash(forged.raw), ih)
    c.dht_put(key.seed, key.public, SALT, forged_head.encode(), 20).result(40)
    b.site_check(address).result(10)
    event = refused(events, "bad_signature")
    assert "head 3" in event.message
    state = wait_site(b, address, lambda s: "bad_signature" in s.error, 10)
    assert state.height == 2 and [e.hash for e in b.site_log(address).result(10)] == \
        [e.hash for e in held]

    # 2. the DHT shows an older head: a rollback, refused and shown
    c.dht_put(key.seed, key.public, SALT,
              Head(1, bytes.fromhex(held[1].hash), ih).encode(), 20).result(40)
    b.site_check(address).result(10)
    refused(events, "rollback")
    state = wait_site(b, address, lambda s: "rollback" in s.error, 10)
    assert state.height == 2 and not state.equivocating and state.hosting.seq == 2

    # 3. another head for the held height: the key signed a fork
    c.dht_put(key.seed, key.public, SALT, Head(2, b"\x01" * 32, ih).encode(), 20).result(40)
    b.site_check(address).result(10)
    refused(events, "equivocation")
    state = wait_site(b, address, lambda s: s.equivocating, 10)
    assert state.height == 2 and state.hosting.seq == 2


def test_hosting_refuses_files_that_do_not_match_the_manifest(trio: list[Engine],
                                                              tmp_path: Path) -> None:
    """A validly signed UPDATE whose manifest lies about a file: the chain takes the entry
    (its signature and links are good) but Hosting hashes the download, finds the file
    differs from the manifest, deletes the snapshot and keeps seeding the previous one."""
    import dataclasses
    import hashlib

    from tidegate.engine.chain.codec import decode_chain
    from tidegate.engine.events import SiteHosted
    from tidegate.engine.sites.snapshot import snapshot

    a, b, c = trio
    source = write_site(tmp_path / "src", {"index.html": b"v1", "data.bin": os.urandom(50_000)})
    address = a.site_new("liar", str(source)).result(30).address
    a.site_publish(address).result(60)
    b.site_follow(address).result(10)
    wait_site(b, address, lambda s: s.hosting.seq == 1, 60)
    site_dir = a.loaded.paths.data_dir / "sites" / address
    key = SiteKey.load(site_dir / "key")
    entries = decode_chain((site_dir / "chain").read_bytes(), "test")

    # snapshot 2 is real and seeded by C; its manifest claims another index.html
    (source / "index.html").write_bytes(b"v2")
    built = snapshot(source, encode_chain(entries), tmp_path / "snap2")
    tid = c.add(AddRequest(torrent=built.data, save_path=str(tmp_path / "snap2"),
                           seed_mode=True)).result(10)
    c.reannounce(tid).result(10)
    lying = tuple(dataclasses.replace(f, root=hashlib.sha256(b"not it").digest())
                  if f.path == ("index.html",) else f for f in built.files)
    update = sign_update(key, 2, entry_hash(entries[-1]), int(time.time()), built.magnet,
                         lying)
    ih = seed_chain(c, tmp_path / "chain2", entries + [update.raw])
    events = b.subscribe()
    c.dht_put(key.seed, key.public, SALT, Head(2, entry_hash(update.raw), ih).encode(),
              20).result(40)
    b.site_check(address).result(10)
    event = refused(events, "bad_files", 90)
    assert "index.html" in event.message and "snapshot 2" in event.message
    state = wait_site(b, address, lambda s: "index.html" in s.hosting.error, 10)
    assert state.height == 2 and state.hosting.seq == 1 and state.hosting.fetching == -1
    snapshots = b.loaded.paths.data_dir / "sites" / address / "snapshots"
    assert sorted(p.name for p in snapshots.iterdir() if p.is_dir()) == ["1"]
    assert not any(isinstance(e, SiteHosted) for e in iter(lambda: events.get(timeout=0), None))
