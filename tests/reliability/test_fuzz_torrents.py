"""Fuzzing what users and strangers hand the engine as torrents: .torrent bytes, magnet
URIs and info-hashes, snapshot metainfo, peer addresses, tracker and web seed URLs.

Three kinds of input per parser: mutations of real seeds (``seeds.py``), structures that
look right with values of any type (bencoded dicts with every field a torrent has), and
plain random bytes or text. The contract (``fuzzkit.Target``): a result, or the
documented error with a short, non-empty message; never anything else; every input
under a second. Hand-picked hostile cases live in tests/engine/test_hostile_inputs.py.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import pytest
from hypothesis import strategies as st

from tidegate.engine.config import LimitsConfig
from tidegate.engine.errors import BadMagnetError, BadTorrentError, InputError
from tidegate.engine.requests import check_tracker_url, check_web_seed, parse_peer
from tidegate.engine.sites.snapshot import metainfo_names
from tidegate.engine.torrents import inputs

from . import seeds
from .fuzzkit import TEST_TIMEOUT, Target, budget, fuzz, mutate

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TEST_TIMEOUT)]

LIMITS = LimitsConfig()
SEEDS = seeds.torrents()

# ---------------------------------------------------------------- strategies

scalars = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.binary(max_size=80),
                    st.text(max_size=40))
junk = st.one_of(scalars, st.lists(scalars, max_size=3),
                 st.dictionaries(st.binary(max_size=8), scalars, max_size=3))
"""A value of the wrong kind (cheap to draw: hypothesis spends most of a run drawing)."""
bvalues = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.dictionaries(st.one_of(st.binary(max_size=12), st.text(max_size=12)), kids,
                    max_size=4)), max_leaves=12)
"""Any bencodable value."""


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, one time in eight one of the wrong kind (``one_of`` would
    make it one time in two)."""
    return st.integers(0, 7).flatmap(lambda i: junk if i == 0 else good)


paths = st.lists(st.one_of(st.sampled_from(["..", ".", "", "/", "a", "CON", "nul.txt",
                                            "a\\..\\b", "\x00", "\u202e", "C:"]),
                           st.text(max_size=20)), min_size=0, max_size=5)
lengths = st.one_of(st.integers(0, 100_000), st.integers(0, 100_000),
                    st.integers(min_value=-5, max_value=2**63))
file_entry = st.fixed_dictionaries(
    {"length": field(lengths), "path": field(paths)},
    optional={"attr": field(st.sampled_from(["p", "l", "x", "h", "plx"])),
              "symlink path": field(paths),
              "pieces root": field(st.binary(min_size=32, max_size=32))})
_info_common = {
    "name": field(st.text(max_size=30)),
    "piece length": field(st.sampled_from([16384, 16384, 32768, 2**22, 0, 16383, 2**31,
                                           -16384])),
    "pieces": field(st.binary(max_size=100).map(lambda b: b[:len(b) - len(b) % 20]))}
_info_extra = {"private": field(st.integers(0, 1)), "source": field(st.text(max_size=10))}
_v2_keys = {"meta version": field(st.sampled_from([1, 2, 3])), "file tree": bvalues}
info_dict = st.one_of(
    st.fixed_dictionaries({**_info_common, "length": field(lengths)}, optional=_info_extra),
    st.fixed_dictionaries({**_info_common, "files": field(st.lists(file_entry, max_size=6))},
                          optional=_info_extra),
    st.fixed_dictionaries(_info_common, optional={**_info_extra, **_v2_keys,
                                                  "length": field(lengths),
                                                  "files": field(st.lists(file_entry))}))
torrent_dict = st.fixed_dictionaries(
    {"info": field(info_dict)},
    optional={"announce": field(st.text(max_size=40)),
              "announce-list": field(st.lists(st.lists(st.text(max_size=30), max_size=3),
                                              max_size=3)),
              "url-list": field(st.one_of(st.text(max_size=30),
                                          st.lists(st.text(max_size=30), max_size=3))),
              "piece layers": bvalues, "comment": field(st.text(max_size=50)),
              "creation date": field(st.integers())})


def with_pieces(d: dict[str, Any]) -> dict[str, Any]:
    """Give a v1 info dict whose sizes make sense the right ``pieces`` (of zero bytes), so
    libtorrent gets past the hashes to the paths and the rest."""
    info = d.get("info")
    if not isinstance(info, dict):
        return d
    plen = info.get("piece length")
    files = info.get("files")
    sizes = ([f.get("length") for f in files if isinstance(f, dict)]
             if isinstance(files, list) else [info.get("length")])
    if not (type(plen) is int and 16384 <= plen <= 1 << 22 and sizes
            and all(type(n) is int and 0 <= n <= 1 << 20 for n in sizes)):
        return d
    total = sum(sizes)
    whole, rest = divmod(total, plen)
    pieces = _zero_hash(plen) * whole + (_zero_hash(rest) if rest else b"")
    return {**d, "info": {**info, "pieces": pieces}}


@functools.cache
def _zero_hash(n: int) -> bytes:
    return hashlib.sha1(bytes(n)).digest()


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes], most: int = 8) -> bytes:
    data = draw(st.sampled_from(corpus))
    return mutate(data, lambda lo, hi: draw(st.integers(lo, hi)), draw(st.integers(1, most)))


# ---------------------------------------------------------------- .torrent bytes


def _torrent(target: Target, data: bytes) -> None:
    atp = target.run(inputs.parse_torrent, data, "fuzz.torrent", LIMITS)
    if atp is not None:  # accepted: every file is inside the download folder
        assert atp.ti is not None and atp.ti.num_files() <= LIMITS.max_files
        inputs.check_file_paths(atp.ti, "again")


@pytest.mark.parametrize("kind, scale", [("mutated", 0.6), ("structured", 0.3),
                                         ("random", 0.1)])
def test_torrent_bytes(kind: str, scale: float) -> None:
    strategy = {"mutated": mutated(list(SEEDS.values())),
                "structured": torrent_dict.map(with_pieces).map(seeds.benc),
                "random": st.binary(max_size=400).map(lambda b: b"d" + b)}[kind]
    target = Target(f"parse_torrent ({kind})", (BadTorrentError,))
    fuzz(strategy, lambda data: _torrent(target, data), scale)
    target.report(budget(scale))


# ---------------------------------------------------------------- magnets and hashes

magnet_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="0123456789abcdefABCDEFmagnet:?xt=urn:btihmh&%2F", max_size=120),
    st.builds(lambda base, tail: base + tail, st.sampled_from(seeds.MAGNETS),
              st.text(max_size=60)))


@st.composite
def mutated_magnets(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(seeds.MAGNETS)).encode()
    raw = mutate(base, lambda lo, hi: draw(st.integers(lo, hi)), draw(st.integers(1, 6)))
    return raw.decode("latin-1")


def test_magnets_and_hashes() -> None:
    target = Target("parse_uri", (BadMagnetError,))

    def body(text: str) -> None:
        inputs.looks_like_uri(text)
        inputs.valid_id(text)
        atp = target.run(inputs.parse_uri, text)
        if atp is not None:
            ih = atp.info_hashes
            assert ih.has_v1() or ih.has_v2()
            assert inputs.valid_id(inputs.torrent_id(ih))

    fuzz(st.one_of(magnet_text, mutated_magnets()), body, 0.5)
    target.report(budget(0.5))


# ---------------------------------------------------------------- snapshot metainfo


def test_snapshot_metainfo() -> None:
    target = Target("metainfo_names", ())
    strategy = st.tuples(st.one_of(mutated(list(SEEDS.values())), st.binary(max_size=300)),
                         st.sampled_from(seeds.MAGNETS[:3]))
    fuzz(strategy, lambda x: target.run(metainfo_names, *x) in (True, False) or _fail(x), 0.3)
    target.report(budget(0.3))


def _fail(x: object) -> None:
    raise AssertionError(f"neither True nor False for {x!r:.200}")


# ---------------------------------------------------------------- peers, trackers, web seeds

address_text = st.one_of(
    st.text(max_size=80),
    st.builds(lambda h, p: f"{h}:{p}", st.sampled_from(["127.0.0.1", "[::1]", "::1", "x",
                                                        "1.2.3.4", "[fe80::1%eth0]", ""]),
              st.one_of(st.integers(-5, 70000).map(str), st.text(max_size=8),
                        st.sampled_from(["²", "٣", "0" * 5000, "65535", "00080"]))),
    st.builds(lambda s, t: s + t, st.sampled_from(["http://", "udp://", "https://", "HTTP://"]),
              st.text(max_size=3000)))


def test_peer_tracker_and_web_seed_text() -> None:
    target = Target("parse_peer/check_tracker_url/check_web_seed", (InputError,))

    def body(text: str) -> None:
        peer = target.run(parse_peer, text)
        if peer is not None:
            assert 0 < peer[1] < 65536
        target.run(check_tracker_url, text)
        target.run(check_web_seed, text)

    fuzz(address_text, body, 0.5)
    target.report(budget(0.5))
