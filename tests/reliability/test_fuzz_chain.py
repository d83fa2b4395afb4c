"""Fuzzing site chains: entries and their manifests, chain files, the store, announced
heads, addresses, key files and piece-layer files.

Entries are signed before anything else in them is trusted, so random bytes only test
the first checks. The structured strategy signs what it builds with the site key, so
every field and manifest rule is reached; mutations of the published vectors
(docs/chain-vectors.json) test the encoding and signature checks; sequences of valid,
forked and foreign entries test :class:`Chain`'s linkage rules against a model.
Hand-picked invalid cases are tests/sites/test_chain.py's vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastbencode
import pytest
from hypothesis import strategies as st

from tidegate.engine.chain import Chain, ChainRejected, SiteKey, entry_hash
from tidegate.engine.chain.address import key_of_address
from tidegate.engine.chain.codec import MAGIC, decode_chain, encode_chain
from tidegate.engine.chain.entry import SIGNING_PREFIX, Genesis, Update, decode_entry
from tidegate.engine.chain.keys import MAGIC as KEY_MAGIC
from tidegate.engine.errors import TidegateError
from tidegate.engine.sites.chain_file import ChainStore
from tidegate.engine.sites.head import decode_head
from tidegate.engine.sites.merkle import decode_layers

from . import seeds
from .fuzzkit import TEST_TIMEOUT, Target, budget, fuzz, mutate

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TEST_TIMEOUT)]

C = seeds.chain()
KEY: SiteKey = C["key"]
OTHER = SiteKey.from_seed(b"\x09" * 32)


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes], most: int = 6) -> bytes:
    data = draw(st.sampled_from(corpus))
    return mutate(data, lambda lo, hi: draw(st.integers(lo, hi)), draw(st.integers(1, most)))


def often(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` seven times in eight."""
    return st.integers(0, 7).flatmap(lambda i: bad if i == 0 else good)


wrong = st.one_of(st.integers(-2, 2**64), st.binary(max_size=40), st.lists(st.integers(),
                                                                           max_size=2))
component = st.one_of(st.sampled_from([b"a", b"b", b"index.html", b"..", b".", b"", b"a/b",
                                       b"a\\b", b"\x00", b"\xff\xfe", b"x" * 256, b"CON"]),
                      st.binary(min_size=1, max_size=12))
manifest_item = st.fixed_dictionaries(
    {b"path": often(st.lists(component, min_size=1, max_size=4), wrong),
     b"size": often(st.sampled_from([0, 1, 16384, 2**50, 2**50 + 1, -1]), wrong)},
    optional={b"root": often(st.binary(min_size=32, max_size=32), wrong),
              b"extra": st.integers()})


def _sorted_manifest(items: list[dict[bytes, Any]]) -> list[dict[bytes, Any]]:
    """Usually sorted the way a valid manifest is, so later rules are reached too."""
    def key(item: dict[bytes, Any]) -> Any:
        p = item.get(b"path")
        return p if isinstance(p, list) and all(isinstance(c, bytes) for c in p) else []
    return sorted(items, key=key)


update_fields = st.fixed_dictionaries({
    b"v": often(st.just(1), wrong), b"type": often(st.just(b"update"), wrong),
    b"seq": often(st.integers(0, 5), wrong),
    b"prev": often(st.sampled_from([entry_hash(r) for r in C["valid"]]), wrong),
    b"time": often(st.integers(C["now"] - 10_000, C["now"] + 10_000), wrong),
    b"magnet": often(st.sampled_from([m.encode() for m in seeds.MAGNETS]) | st.just(
        b"magnet:?xt=urn:btmh:1220" + b"ab" * 32), wrong),
    b"files": often(st.lists(manifest_item, max_size=6).map(_sorted_manifest), wrong)},
    optional={b"name": st.binary(max_size=10)})
genesis_fields = st.fixed_dictionaries({
    b"v": often(st.just(1), wrong), b"type": often(st.just(b"genesis"), wrong),
    b"seq": often(st.just(0), wrong), b"key": often(st.sampled_from([KEY.public, OTHER.public]),
                                                    wrong),
    b"time": often(st.integers(0, 2**41), wrong), b"name": often(st.binary(max_size=300), wrong)})


def signed(fields: dict[bytes, Any]) -> bytes:
    fields = dict(fields)
    fields[b"sig"] = KEY.sign(SIGNING_PREFIX + fastbencode.bencode(fields))
    return bytes(fastbencode.bencode(fields))


ENTRY_INPUTS = {
    "signed structures": (st.one_of(update_fields, genesis_fields).map(signed), 0.5),
    "mutated vectors": (mutated(C["valid"] + C["invalid"]), 0.4),
    "random bytes": (st.binary(max_size=300), 0.1),
}


@pytest.mark.parametrize("kind", list(ENTRY_INPUTS))
def test_entries_and_manifests(kind: str) -> None:
    strategy, scale = ENTRY_INPUTS[kind]
    target = Target(f"decode_entry ({kind})", (ChainRejected,))

    def body(raw: bytes) -> None:
        entry = target.run(decode_entry, raw, KEY.public)
        if entry is not None:
            assert entry.raw == raw and isinstance(entry, Genesis | Update)
            if isinstance(entry, Update):  # every accepted path is safe to join to a folder
                for f in entry.files:
                    assert f.path and all(c not in ("", ".", "..") and "/" not in c
                                          and "\\" not in c and "\0" not in c for c in f.path)
                    assert (f.root is None) == (f.size == 0)

    fuzz(strategy, body, scale)
    target.report(budget(scale))


# ---------------------------------------------------------------- linkage


def _forks() -> list[bytes]:
    """Valid entries that do not belong: a second update 1, one from another key, an entry
    dated in the future and one dated before its predecessor."""
    g, u1 = C["valid"][0], C["valid"][1]
    d = dict(fastbencode.bdecode(u1))
    del d[b"sig"]
    forks = []
    for change in ({b"magnet": b"magnet:?xt=urn:btmh:1220" + b"ee" * 32},
                   {b"time": C["now"] + 100_000}, {b"time": 0}, {b"seq": 3}):
        forks.append(signed({**d, **change}))
    other = dict(fastbencode.bdecode(g))
    del other[b"sig"]
    other[b"key"] = OTHER.public
    forks.append(bytes(fastbencode.bencode(
        {**other, b"sig": OTHER.sign(SIGNING_PREFIX + fastbencode.bencode(other))})))
    return forks


POOL = C["valid"] + _forks() + C["invalid"][:6]


def _decodes(raw: bytes) -> Genesis | Update | None:
    try:
        return decode_entry(raw, KEY.public)
    except ChainRejected:
        return None


def test_chain_linkage_against_a_model() -> None:
    """Any order of valid, forked, foreign and broken entries: what the chain holds is
    always linked (seq = index, prev = hash of the one before, time never backwards, none
    in the future), and it is marked equivocating exactly when a second valid entry was
    offered for a seq it already held."""
    target = Target("Chain.accept", (ChainRejected,))
    now = float(C["now"])

    def body(order: list[int]) -> None:
        chain = Chain(C["address"])
        expect_equivocation = False
        for i in order:
            raw = POOL[i]
            entry = _decodes(raw)
            if entry is not None and entry.seq <= chain.height and \
                    chain.entries[entry.seq].raw != raw:
                expect_equivocation = True
            target.run(chain.accept, raw, now)
        for n, (e, h) in enumerate(zip(chain.entries, chain.hashes, strict=True)):
            assert e.seq == n and h == entry_hash(e.raw) and e.time <= now + 600
            if n:
                assert isinstance(e, Update) and e.prev == chain.hashes[n - 1]
                assert e.time >= chain.entries[n - 1].time
        assert chain.equivocating == expect_equivocation

    fuzz(st.lists(st.integers(0, len(POOL) - 1), max_size=12), body, 0.2)
    target.report(budget(0.2))


# ---------------------------------------------------------------- chain files


CHAIN_FILES = [C["chain_file"], encode_chain(C["valid"][:1]), encode_chain([]),
               encode_chain(C["valid"] + C["invalid"][:2])]


def test_chain_files() -> None:
    target = Target("decode_chain", (ChainRejected,))

    def body(data: bytes) -> None:
        raws = target.run(decode_chain, data, "fuzz")
        if raws is not None:
            assert encode_chain(raws) == data  # accepted only when whole and undamaged

    strategy = st.one_of(mutated(CHAIN_FILES, 8), st.binary(max_size=200).map(lambda b: MAGIC + b))
    fuzz(strategy, body, 0.5)
    target.report(budget(0.5))


def test_chain_store_opens_damaged_files(tmp_path: Path) -> None:
    """What a crash or a bad disk can leave: the store opens it verified (cutting only a
    torn tail) or refuses it as corrupt, and never holds an invalid chain."""
    target = Target("ChainStore.open", (ChainRejected,))
    path = tmp_path / "chain"

    def body(data: bytes) -> None:
        path.write_bytes(data)
        store = target.run(ChainStore.open, path, C["address"])
        if store is not None:
            held = [e.raw for e in store.chain.entries]
            assert held == C["valid"][:len(held)]
            if store.damaged:  # a damaged record: the file is left as it was
                assert path.read_bytes() == data
            else:
                assert path.read_bytes() == encode_chain(held)  # a torn tail is cut on disk

    fuzz(mutated(CHAIN_FILES[:2], 4), body, 0.05)
    target.report(budget(0.05))


# ---------------------------------------------------------------- heads, addresses, keys


def test_announced_heads() -> None:
    target = Target("decode_head", (ChainRejected,))
    structured = st.dictionaries(st.sampled_from([b"c", b"h", b"x", b"y"]),
                                 st.one_of(st.binary(min_size=31, max_size=33),
                                           st.integers(-1, 2**41)), max_size=4)

    def body(value: bytes) -> None:
        head = target.run(decode_head, value, "fuzz")
        if head is not None:
            assert head.encode() == value

    strategy = st.one_of(mutated(seeds.heads(), 4), structured.map(seeds.benc),
                         st.binary(max_size=120))
    fuzz(strategy, body, 0.5)
    target.report(budget(0.5))


layer_dicts = st.dictionaries(
    st.sampled_from([b"piece length", b"piece layers", b"x"]),
    st.one_of(st.sampled_from([16384, 16383, 0, -1, 1 << 22]), st.binary(max_size=64),
              st.lists(st.binary(max_size=32), max_size=2),
              st.dictionaries(st.binary(min_size=31, max_size=33),
                              st.one_of(st.binary(max_size=70), st.integers()), max_size=2)))


def test_addresses_key_files_and_layers() -> None:
    addresses = Target("key_of_address", (ChainRejected,))
    keys = Target("SiteKey.parse", (TidegateError,))
    layer_files = Target("decode_layers", (ValueError,))
    address = C["address"]
    key_text = f"{KEY_MAGIC} {'A' * 43}="

    def body(x: tuple[str, bytes]) -> None:
        text, blob = x
        for candidate in (text, address[:len(text)] + text[::-1][:5], text + address):
            pub = addresses.run(key_of_address, candidate)
            if pub is not None:
                assert len(pub) == 32
        keys.run(SiteKey.parse, text, "fuzz.key")
        keys.run(SiteKey.parse, key_text[:len(key_text) - len(text) % 7] + text[:3], "k")
        layers = layer_files.run(decode_layers, blob)
        if layers is not None:
            assert all(len(h) == 32 for hs in layers[1].values() for h in hs)

    spellings = st.sampled_from([address, address.upper(), f" {address}\n",
                                 address.removesuffix(".onion"), address + ".onion"])
    strategy = st.tuples(st.one_of(st.text(max_size=80), spellings,
                                   st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567.onion",
                                           min_size=50, max_size=64)),
                         st.one_of(mutated(seeds.layers(), 4), st.binary(max_size=100),
                                   layer_dicts.map(seeds.benc)))
    fuzz(strategy, body, 0.3)
    for target in (addresses, keys, layer_files):
        target.report(budget(0.3))
