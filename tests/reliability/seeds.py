"""Real inputs for the fuzzers to start from: what the engine itself writes and reads.

Mutating a real .torrent, chain entry or API frame reaches far deeper into a parser than
random bytes (which die at the first byte). Everything here is built by the engine's own
code from fixed content, so the corpora are the same on every run; hypothesis and the
atheris harness (``atheris_targets.py``) both use them.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from tests.api.test_api_protocol import VALID_ARGS, _snap, _state
from tests.helpers.chain_vectors import build as chain_vectors
from tidegate.engine.api import bus_messages as bus
from tidegate.engine.api import protocol as p
from tidegate.engine.chain import SiteKey, entry_hash
from tidegate.engine.chain.codec import encode_chain
from tidegate.engine.metainfo import CreateSpec, create_torrent
from tidegate.engine.sites.head import Head
from tidegate.engine.sites.merkle import encode_layers


def _content(i: int, size: int) -> bytes:
    seed = hashlib.sha256(b"seed%d" % i).digest()
    return (seed * (size // 32 + 1))[:size]


@functools.cache
def torrents() -> dict[str, bytes]:
    """v1, v2 and hybrid torrents of one file and of a small tree (with trackers, web
    seeds, a comment), made by the engine's own create_torrent."""
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="tgseed") as tmp:
        root = Path(tmp)
        single = root / "single.bin"
        single.write_bytes(_content(0, 40_000))
        tree = root / "tree"
        for i, name in enumerate(["a.txt", "sub/b.bin", "sub/deeper/c.dat", "empty"]):
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_bytes(_content(i + 1, 0 if name == "empty" else 20_000 * i))
        for fmt in ("v1", "v2", "hybrid"):
            for what, path in (("single", single), ("tree", tree)):
                created = create_torrent(CreateSpec(
                    path=str(path), format=fmt,  # type: ignore[arg-type]
                    trackers=("http://127.0.0.1:1/announce", "udp://127.0.0.1:2"),
                    web_seeds=("http://127.0.0.1:3/",), comment="seed corpus",
                    piece_size=16384))
                out[f"{fmt}-{what}"] = created.data
    return out


MAGNETS = [
    "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=name&tr=http%3A%2F%2F127.0.0.1%3A1%2Fa",
    "magnet:?xt=urn:btmh:1220" + "cd" * 32 + "&dn=x",
    "magnet:?xt=urn:btih:" + "ab" * 20 + "&xt=urn:btmh:1220" + "cd" * 32
    + "&ws=http%3A%2F%2F127.0.0.1%2F&x.pe=127.0.0.1:6881&so=0-2,4",
    "magnet:?xt=urn:btih:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
    "ab" * 20, "cd" * 32, "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
]


@functools.cache
def chain() -> dict[str, Any]:
    """The published chain vectors: valid entries, the invalid cases, the site key."""
    v = chain_vectors()
    valid = [bytes.fromhex(e["hex"]) for e in v["valid"]]
    invalid = [raw for raw in v["_raw_invalid"].values() if len(raw) < 65536]
    key = SiteKey.from_seed(bytes.fromhex(v["seed"]))
    return {"valid": valid, "invalid": invalid, "key": key, "address": v["address"],
            "now": v["now"], "chain_file": encode_chain(valid)}


def heads() -> list[bytes]:
    c = chain()
    return [Head(len(c["valid"]) - 1, entry_hash(c["valid"][-1]), b"\x07" * 32).encode(),
            Head(0, b"\x00" * 32, b"\xff" * 32).encode()]


def layers() -> list[bytes]:
    return [encode_layers(16384, {b"r" * 32: [b"h" * 32, b"i" * 32]}),
            encode_layers(1 << 20, {})]


def request_frames() -> list[bytes]:
    """The body of a valid request for every command."""
    return [p.encode(p.Request(i, cmd, VALID_ARGS[cmd]))
            for i, cmd in enumerate(sorted(p.COMMANDS))]


def reply_bodies() -> list[bytes]:
    hello = p.Hello("tidegate/2", "e" * 16, 123, "ipc:///run/x-events.sock", 5, 9)
    snap = _snap(5, {"a" * 40: _state("a" * 40)})
    return [p.encode(p.Reply(1, True, hello)),
            p.encode(p.Reply(2, True, p.FullSnapshot("e" * 16, snap, 9))),
            p.encode(p.Reply(3, False, error=p.ErrorBody("unknown_torrent", "no torrent",
                                                          {"torrent_id": "ab" * 20}))),
            p.encode(p.Reply(4, True, "ab" * 20))]


def publications() -> list[list[bytes]]:
    old = _snap(1, {"a" * 40: _state("a" * 40)})
    new = _snap(2, {"b" * 40: _state("b" * 40)})
    from tidegate.engine.events import Log
    return [p.encode_publication(p.TOPIC_DELTA, p.diff(old, new, "ep")),
            p.encode_publication(p.TOPIC_EVENT, p.EventFrame("ep", Log(level="info",
                                                                       message="hi"))),
            p.encode_publication(p.TOPIC_BEAT, p.Beat("ep", 2, 3))]


def bus_bodies() -> list[bytes]:
    c = chain()
    return [bus.encode(bus.SiteUpdate(1_700_000_000, MAGNETS[1], (c["address"],))),
            bus.encode(bus.HostnameRequest(c["address"]))]


CONFIG = """\
[network]
listen_interfaces = "127.0.0.1:0"
enable_dht = false
dht_nodes = ["127.0.0.1:6881"]
encryption = "forced"
[rates]
download = 1000
[queue]
active_seeds = -1
[seeding]
ratio_limit = 2.5
[limits]
max_files = 1000
[api]
endpoint = "tcp://127.0.0.1:7010"
authorized_keys = ["rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"]
[web]
listen = "127.0.0.1"
port = 0
[tor]
mode = "tor-hosting"
control = "127.0.0.1:9051"
torrc = { Log = "notice stdout", HiddenServiceDir = ["a", "b"] }
"""


def benc(x: Any) -> bytes:
    """Bencode anything the strategies make: str or bytes keys (sorted as bytes, the last
    of a duplicate wins), bools as integers."""
    if isinstance(x, bool | int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode("utf-8", "surrogatepass")
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list | tuple):
        return b"l" + b"".join(benc(i) for i in x) + b"e"
    if isinstance(x, dict):
        items = {(k.encode("utf-8", "surrogatepass") if isinstance(k, str) else k): v
                 for k, v in x.items()}
        return b"d" + b"".join(benc(k) + benc(items[k]) for k in sorted(items)) + b"e"
    raise TypeError(x)


def msgpack(value: Any) -> bytes:
    return msgspec.msgpack.encode(value)
