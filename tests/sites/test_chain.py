"""Site chains: the spec's test vectors, every rejection with its reason, keys, addresses,
and the append-only store surviving a torn tail and a kill -9 in the middle of appends."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import chain_vectors
from tidegate.engine.chain import (
    Chain,
    ChainRejected,
    FileRecord,
    SiteKey,
    address_of,
    entry_hash,
    key_of_address,
    sign_genesis,
    sign_update,
)
from tidegate.engine.chain.entry import MAX_FILES, magnet_for
from tidegate.engine.errors import TidegateError
from tidegate.engine.sites.chain_file import ChainStore

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "docs" / "chain-vectors.json").read_text())
BUILT = chain_vectors.build()


def test_the_code_reproduces_the_published_vectors() -> None:
    assert chain_vectors.as_json(BUILT) == (ROOT / "docs" / "chain-vectors.json").read_text()


def test_valid_vectors_verify_as_a_chain() -> None:
    key = SiteKey.from_seed(bytes.fromhex(VECTORS["seed"]))
    assert key.public.hex() == VECTORS["public"]
    assert key.address == VECTORS["address"] == address_of(key.public)
    chain = Chain(VECTORS["address"])
    for v in VECTORS["valid"]:
        raw = bytes.fromhex(v["hex"])
        assert entry_hash(raw).hex() == v["sha256"]
        assert chain.accept(raw, VECTORS["now"])
    assert chain.height == 2 and not chain.equivocating
    assert not chain.accept(bytes.fromhex(VECTORS["valid"][1]["hex"]), VECTORS["now"])


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_every_invalid_vector_is_rejected_for_its_reason(case: dict) -> None:
    chain = Chain(VECTORS["address"])
    by_name = {v["name"]: bytes.fromhex(v["hex"]) for v in VECTORS["valid"]}
    for name in case["after"]:
        chain.accept(by_name[name], VECTORS["now"])
    raw = BUILT["_raw_invalid"][case["name"]]
    if "hex" in case:
        assert raw.hex() == case["hex"]
    before = (list(chain.entries), chain.height)
    with pytest.raises(ChainRejected) as err:
        chain.accept(raw, VECTORS["now"])
    assert err.value.reason == case["reason"], str(err.value)
    assert (chain.entries, chain.height) == before, "a rejected entry changed the chain"
    assert chain.equivocating == (case["reason"] == "equivocation")


def test_announced_heads_rollback_and_fork_are_refused() -> None:
    chain = Chain(VECTORS["address"])
    for v in VECTORS["valid"]:
        chain.accept(bytes.fromhex(v["hex"]), VECTORS["now"])
    assert chain.check_head(3, bytes(32)) is True  # newer: worth fetching
    assert chain.check_head(2, chain.head_hash or b"") is False  # what we hold
    with pytest.raises(ChainRejected) as err:
        chain.check_head(1, bytes(32))
    assert err.value.reason == "rollback"
    with pytest.raises(ChainRejected) as err:
        chain.check_head(2, bytes(32))
    assert err.value.reason == "equivocation" and chain.equivocating


def test_an_oversized_manifest_is_refused_by_count() -> None:
    key = SiteKey.from_seed(bytes.fromhex(VECTORS["seed"]))
    genesis = sign_genesis(key, 100, "big")
    files = [FileRecord((f"f{i:06d}",), 0, None) for i in range(MAX_FILES + 1)]
    with pytest.raises(ChainRejected) as err:
        sign_update(key, 1, entry_hash(genesis.raw), 200, magnet_for(bytes(32)), files)
    assert err.value.reason == "too_large" and "manifest" in str(err.value)


def test_addresses_round_trip_and_typos_are_caught() -> None:
    address = VECTORS["address"]
    assert key_of_address(address).hex() == VECTORS["public"]
    assert key_of_address(address.upper().removesuffix(".ONION")).hex() == VECTORS["public"]
    typo = address[:10] + ("a" if address[10] != "a" else "b") + address[11:]
    for bad in (typo, address[:-8] + ".onion", "not an address", address.replace("d.onion",
                                                                                  "1.onion")):
        with pytest.raises(ChainRejected) as err:
            key_of_address(bad)
        assert err.value.reason == "bad_address"


def test_key_files_are_private_and_never_replaced(tmp_path: Path) -> None:
    key = SiteKey.generate()
    path = tmp_path / "keys" / "site.key"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SiteKey.load(path).address == key.address
    with pytest.raises(TidegateError, match="refusing to replace"):
        SiteKey.generate().save(path)
    assert SiteKey.load(path).address == key.address, "the identity was overwritten"
    path.write_text("tidegate-site-key-v1 !!!\n")
    with pytest.raises(TidegateError, match="damaged site key"):
        SiteKey.load(path)


# ---------------------------------------------------------------------- the store

def _entries() -> list[bytes]:
    return [bytes.fromhex(v["hex"]) for v in VECTORS["valid"]]


def test_store_appends_durably_and_reopens_verified(tmp_path: Path) -> None:
    path = tmp_path / "site.chain"
    store = ChainStore.open(path, VECTORS["address"])
    for raw in _entries():
        assert store.append(raw, VECTORS["now"])
    assert not store.append(_entries()[1], VECTORS["now"]), "a duplicate is not stored twice"
    size = path.stat().st_size
    fork = BUILT["_raw_invalid"]["second entry for seq 1 (fork)"]
    with pytest.raises(ChainRejected):
        store.append(fork, VECTORS["now"])
    assert store.chain.equivocating
    assert path.stat().st_size == size, "a rejected entry reached the file"
    again = ChainStore.open(path, VECTORS["address"])
    assert again.chain.height == 2 and again.cut_bytes == 0
    assert again.chain.hashes == store.chain.hashes


@pytest.mark.parametrize("torn", [1, 3, 4, 50, -2], ids=lambda n: f"tail {n}")
def test_a_torn_tail_is_cut_without_losing_complete_entries(tmp_path: Path, torn: int) -> None:
    path = tmp_path / "site.chain"
    store = ChainStore.open(path, VECTORS["address"])
    for raw in _entries()[:2]:
        store.append(raw, VECTORS["now"])
    whole = path.read_bytes()
    last = _entries()[2]
    record = len(last).to_bytes(4, "big") + last + b"\0\0\0\0"  # CRC left unwritten
    with open(path, "ab") as f:
        f.write(record[:torn] if torn > 0 else record[:len(record) + torn])
    reopened = ChainStore.open(path, VECTORS["address"])
    assert reopened.chain.height == 1
    assert reopened.cut_bytes > 0 and path.read_bytes() == whole
    assert reopened.append(last, VECTORS["now"]) and reopened.chain.height == 2


def test_damage_before_the_tail_is_an_error_not_a_silent_cut(tmp_path: Path) -> None:
    path = tmp_path / "site.chain"
    store = ChainStore.open(path, VECTORS["address"])
    for raw in _entries():
        store.append(raw, VECTORS["now"])
    data = bytearray(path.read_bytes())
    data[20] ^= 0xFF  # inside the genesis record
    path.write_bytes(bytes(data))
    store = ChainStore.open(path, VECTORS["address"])
    assert store.chain.height == -1 and "at byte 8 is damaged" in store.damaged
    assert str(path) in store.damaged and store.cut_bytes == 0
    assert path.read_bytes() == bytes(data), "history was rewritten"
    with pytest.raises(ChainRejected, match="corrupt_store"):
        store.append(_entries()[0], VECTORS["now"])


APPENDER = """
import sys, time
from pathlib import Path
from tidegate.engine.chain import SiteKey, entry_hash, sign_genesis, sign_update
from tidegate.engine.sites.chain_file import ChainStore
from tidegate.engine.chain.entry import magnet_for
from tests.helpers.chain_vectors import SEED
key = SiteKey.from_seed(SEED)
store = ChainStore.open(Path(sys.argv[1]), key.address)
if store.chain.height < 0:
    store.append(sign_genesis(key, 1000, "crash").raw, None)
while True:
    seq = store.chain.height + 1
    raw = sign_update(key, seq, store.chain.head_hash, 1000 + seq, magnet_for(bytes(32)), [])
    store.append(raw.raw, None)
    print(seq, flush=True)
"""


def test_kill_9_during_appends_leaves_a_chain_that_opens_and_verifies(tmp_path: Path) -> None:
    path = tmp_path / "site.chain"
    address = SiteKey.from_seed(chain_vectors.SEED).address
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", APPENDER, str(path)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            acknowledged = 0
            deadline = time.monotonic() + 30
            while acknowledged < 20 * (round_ + 1) and time.monotonic() < deadline:
                acknowledged = int(proc.stdout.readline())
            time.sleep(0.01 * round_)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        store = ChainStore.open(path, address)
        # every append the writer reported as done is still there, verified from genesis
        assert store.chain.height >= acknowledged
