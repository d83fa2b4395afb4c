"""A damaged record is not a torn tail (issue 20): one flipped bit in the last record of a
chain file was cut as a torn tail, and the next publish signed another entry at the same
height, a fork that froze the site for every follower. Now the file is left as it is,
publishing is refused with the reason, and the chain is recovered from a follower's copy."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from tests.helpers.sites_util import join_dht, joined, site_engine, wait_site, write_site
from tidegate.engine import Engine
from tidegate.engine.chain.codec import MAGIC, encode_chain
from tidegate.engine.chain.errors import ChainRejected
from tidegate.engine.errors import SiteError
from tidegate.engine.sites.chain_file import ChainStore

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "docs" / "chain-vectors.json").read_text())
RAWS = [bytes.fromhex(v["hex"]) for v in VECTORS["valid"]]


def last_record(data: bytes) -> int:
    """Byte offset of the last record of a chain file."""
    offset = last = len(MAGIC)
    while offset < len(data):
        last = offset
        offset += 4 + struct.unpack_from(">I", data, offset)[0] + 4
    return last


def _stored(path: Path) -> ChainStore:
    store = ChainStore.open(path, VECTORS["address"])
    for raw in RAWS:
        store.append(raw, VECTORS["now"])
    return store


@pytest.mark.parametrize("where", ["length", "body", "signature", "crc"])
def test_one_bit_in_the_last_record_is_damage_not_a_torn_tail(tmp_path: Path,
                                                             where: str) -> None:
    path = tmp_path / "chain"
    _stored(path)
    data = bytearray(path.read_bytes())
    start = last_record(bytes(data))
    n = struct.unpack_from(">I", data, start)[0]
    at = {"length": start + 3, "body": start + 4 + n // 2, "signature": start + 4 + n - 10,
          "crc": len(data) - 2}[where]
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    store = ChainStore.open(path, VECTORS["address"])
    assert store.chain.height == len(RAWS) - 2, "entries before the damage are held"
    assert store.damaged and store.damaged_at == start and store.cut_bytes == 0
    assert f"entry {len(RAWS) - 1} at byte {start} is damaged" in store.damaged
    assert path.read_bytes() == bytes(data), "the damaged file was changed"
    with pytest.raises(ChainRejected, match="corrupt_store"):
        store.append(RAWS[-1], VECTORS["now"])
    assert path.read_bytes() == bytes(data)


@pytest.mark.parametrize("tail", ["short", "zeros", "crc unwritten"])
def test_a_torn_tail_is_still_cut(tmp_path: Path, tail: str) -> None:
    path = tmp_path / "chain"
    store = ChainStore.open(path, VECTORS["address"])
    for raw in RAWS[:-1]:
        store.append(raw, VECTORS["now"])
    whole = path.read_bytes()
    raw = RAWS[-1]
    record = struct.pack(">I", len(raw)) + raw
    torn = {"short": record[:len(record) // 2], "zeros": bytes(len(record) + 4),
            "crc unwritten": record + bytes(4)}[tail]
    path.write_bytes(whole + torn)
    again = ChainStore.open(path, VECTORS["address"])
    assert not again.damaged and again.cut_bytes == len(torn)
    assert path.read_bytes() == whole and again.chain.height == len(RAWS) - 2
    assert again.append(raw, VECTORS["now"])


def test_recovery_replaces_the_file_and_keeps_the_damaged_one(tmp_path: Path) -> None:
    path = tmp_path / "chain"
    _stored(path)
    data = bytearray(path.read_bytes())
    data[last_record(bytes(data)) + 40] ^= 0x80
    path.write_bytes(bytes(data))
    store = ChainStore.open(path, VECTORS["address"])
    with pytest.raises(ChainRejected, match="equivocation"):
        store.recover([RAWS[0]], VECTORS["now"])  # fewer entries than held: refused
    assert path.read_bytes() == bytes(data)
    assert store.recover(RAWS, VECTORS["now"]) == 1
    assert not store.damaged and store.chain.height == len(RAWS) - 1
    assert path.read_bytes() == encode_chain(RAWS)
    assert (tmp_path / "chain.damaged").read_bytes() == bytes(data)
    reopened = ChainStore.open(path, VECTORS["address"])
    assert reopened.chain.hashes == store.chain.hashes and not reopened.damaged


# ---------------------------------------------------------------- real engines


def _flip_last(chain: Path) -> bytes:
    data = bytearray(chain.read_bytes())
    start = last_record(bytes(data))
    data[start + 4 + 60] ^= 0x04
    chain.write_bytes(bytes(data))
    return bytes(data)


def test_publish_is_refused_on_a_damaged_chain_and_nothing_is_signed(tmp_path: Path) -> None:
    source = write_site(tmp_path / "src", {"index.html": b"one"})
    with joined([site_engine(tmp_path / "a")]) as (a,):
        address = a.site_new("blog", str(source)).result(30).address
        assert a.site_publish("blog").result(120).height == 1
    chain = tmp_path / "a" / "data" / "sites" / address / "chain"
    damaged = _flip_last(chain)
    (source / "index.html").write_bytes(b"two")
    with joined([site_engine(tmp_path / "a")]) as (a,):
        state = wait_site(a, address, lambda s: "damaged" in s.error, 30)
        assert state.height == 0 and str(chain) in state.error
        with pytest.raises(SiteError) as err:
            a.site_publish("blog").result(120)
        message = str(err.value)
        assert "entry 1 at byte" in message and "damaged" in message and "fork" in message
        assert chain.read_bytes() == damaged, "the chain file was touched"
        assert not (chain.parent / "snapshots" / "1" / "site").exists() or \
            a.snapshot.sites[address].height == 0


def test_the_chain_is_recovered_from_a_followers_copy(tmp_path: Path) -> None:
    """Owner A and follower B on 127.0.0.1; A's last record gets one flipped bit while A
    is stopped. A restarted finds the head in the swarm, fetches B's copy of the chain,
    verifies it from genesis, keeps the damaged file aside, and publishes height 2, which
    B follows (no fork)."""
    source = write_site(tmp_path / "src", {"index.html": b"one", "a.css": b"x" * 5000})
    b = site_engine(tmp_path / "b").start()
    try:
        with joined([site_engine(tmp_path / "a")]) as (a,):
            join_dht([a, b])
            address = a.site_new("blog", str(source)).result(30).address
            assert a.site_publish("blog").result(120).height == 1
            b.site_follow(address).result(30)
            wait_site(b, address, lambda s: s.height == 1 and s.hosting.seq == 1, 90)
            head = a.snapshot.sites[address].head
        chain = tmp_path / "a" / "data" / "sites" / address / "chain"
        damaged = _flip_last(chain)
        a2: Engine = site_engine(tmp_path / "a").start()
        try:
            join_dht([a2, b])
            state = wait_site(a2, address, lambda s: s.height == 1 and s.error == "", 90)
            assert state.head == head
            assert (chain.parent / "chain.damaged").read_bytes() == damaged
            assert chain.read_bytes() != damaged
            (source / "index.html").write_bytes(b"two")
            assert a2.site_publish("blog").result(120).height == 2
            got = wait_site(b, address, lambda s: s.height == 2 and s.hosting.seq == 2, 90)
            assert not got.equivocating and got.error == ""
        finally:
            a2.stop()
    finally:
        b.stop()
        shutil.rmtree(tmp_path / "src", ignore_errors=True)
