"""Arbitrary bytes in every text field that reaches a running engine, end to end.

One engine, one real tracker process (tests/helpers/hostile_tracker.py: HTTP and UDP) and one real
peer (tests/helpers/hostile_peer.py), all on 127.0.0.1. Each input is a .torrent whose name, file
paths, trackers, web seeds, comment and creator are arbitrary bytes, whose HTTP tracker
answers an arbitrary failure reason, warning, tracker id or plain garbage, whose UDP
tracker answers an arbitrary error, and whose peer calls itself by arbitrary bytes (peer
id and BEP 10 ``v``); and a magnet whose ``dn``, ``tr``, ``ws`` and ``kt`` are arbitrary
percent-encoded bytes. Both are added, announced, connected, read back through every
engine value (snapshot, details: files, peers, trackers) and removed.

The contract: 0 engine deaths, 0 faults contained (the text boundary handled every byte
before fault isolation had to), 0 tracebacks on stderr, every add either accepted or
refused with the documented input error.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import fastbencode
import pytest
from hypothesis import strategies as st

from tests.conftest import build_engine
from tests.helpers.hostile_peer import HostilePeer
from tests.helpers.hostile_tracker import TrackerProc
from tidegate.engine import AddRequest, Engine
from tidegate.engine.errors import InputError
from tidegate.engine.events import Log

from .fuzzkit import TEST_TIMEOUT, budget, fuzz

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TEST_TIMEOUT)]

SCALE = 0.005
"""Inputs per run: 50 in CI (each costs an announce, a connection and two adds), 1,000 in
``make fuzz``."""

text_bytes = st.one_of(
    st.binary(min_size=1, max_size=40),
    st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x00b",
                     b"\xe2\x80\xae", b"[bold]x[/bold]", b":rocket:"]))

answers = st.one_of(
    st.builds(lambda m: {b"failure reason": m}, text_bytes),
    st.builds(lambda m: {b"warning message": m, b"interval": 1800, b"peers": b""},
              text_bytes),
    st.builds(lambda m, p: {b"tracker id": m, b"interval": 60, b"peers": p}, text_bytes,
              st.binary(max_size=18)),
    st.builds(lambda m: {b"failure reason": 7, b"peers": m}, text_bytes),
).map(lambda d: bytes(fastbencode.bencode(d)))
"""What the HTTP tracker answers: dicts with arbitrary text, or any bytes at all."""

inputs = st.fixed_dictionaries({
    "name": text_bytes,
    "paths": st.lists(st.lists(text_bytes, min_size=1, max_size=3), min_size=1, max_size=3),
    "http_answer": st.one_of(answers, st.binary(max_size=60)),
    "udp_error": st.binary(max_size=60),
    "extra_tracker": text_bytes,
    "web_seed": text_bytes,
    "comment": text_bytes,
    "creator": text_bytes,
    "peer_id": st.binary(min_size=20, max_size=20),
    "client": text_bytes,
    "dn": text_bytes,
    "tr": text_bytes,
    "ws": text_bytes,
    "kt": text_bytes,
    "hash": st.binary(min_size=20, max_size=20),
})


def torrent_of(x: dict[str, Any], http_url: str, udp_url: str) -> bytes:
    files = [{b"length": 100 + i, b"path": parts} for i, parts in enumerate(x["paths"])]
    total = sum(f[b"length"] for f in files)
    pieces = b"".join(hashlib.sha1(bytes([i])).digest()
                      for i in range(-(-total // 16384)))
    info = {b"name": x["name"], b"piece length": 16384, b"pieces": pieces, b"files": files}
    meta = {
        b"info": info,
        b"announce": http_url.encode(),
        b"announce-list": [[http_url.encode()], [udp_url.encode()], [x["extra_tracker"]]],
        b"url-list": [x["web_seed"]],
        b"comment": x["comment"],
        b"created by": x["creator"],
    }
    return bytes(fastbencode.bencode(meta))


def magnet_of(x: dict[str, Any]) -> str:
    q = lambda b: quote_from_bytes(b, safe="")  # noqa: E731
    return (f"magnet:?xt=urn:btih:{x['hash'].hex()}&dn={q(x['dn'])}&tr={q(x['tr'])}"
            f"&ws={q(x['ws'])}&kt={q(x['kt'])}")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[Engine, TrackerProc, HostilePeer, Path]]:
    udp_map = tmp_path / "udp-map.json"
    udp_map.write_text("{}")
    tracker = TrackerProc(udp_map=udp_map)
    peer = HostilePeer()
    eng = build_engine(tmp_path / "home").start()
    try:
        yield eng, tracker, peer, udp_map
    finally:
        eng.stop()
        peer.stop()
        tracker.stop()


def test_arbitrary_bytes_through_a_running_engine(
        rig: tuple[Engine, TrackerProc, HostilePeer, Path], tmp_path: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    eng, tracker, peer, udp_map = rig
    events = eng.subscribe(maxsize=100_000)
    m = eng._manager
    assert m is not None
    dl = tmp_path / "dl"
    seen = {"added": 0, "refused": 0, "peers": 0, "tracker_errors": 0}

    def body(x: dict[str, Any]) -> None:
        http_url = tracker.http_url(x["http_answer"])
        data = torrent_of(x, http_url, tracker.udp_url())
        ids: list[str] = []
        try:
            tid = eng.add(AddRequest(torrent=data, save_path=str(dl),
                                     peers=(peer.address,))).result(10)
            ids.append(tid)
            ih = bytes.fromhex(tid)
            peer.says[ih] = (x["peer_id"], {b"m": {b"ut_metadata": 1}, b"v": x["client"]})
            udp_map.write_text(json.dumps({tid: x["udp_error"].hex()}))
            seen["added"] += 1
        except InputError:
            seen["refused"] += 1
        try:
            ids.append(eng.add(AddRequest(uri=magnet_of(x), save_path=str(dl),
                                          peers=(peer.address,))).result(10))
        except InputError:
            seen["refused"] += 1
        deadline = time.monotonic() + 1.5
        while ids and time.monotonic() < deadline:
            details = eng.details(ids[0]).result(10)
            contacted = all(t.status not in ("not contacted", "announcing")
                            for t in details.trackers[:2])
            if contacted and details.peers:
                break
            time.sleep(0.05)
        for tid in ids:
            details = eng.details(tid).result(10)
            seen["peers"] += len(details.peers)
            seen["tracker_errors"] += sum(1 for t in details.trackers if t.last_error)
            state = eng.snapshot.torrents.get(tid)
            for text in (details.torrent.name, details.comment, details.creator,
                         *(f.path for f in details.files), *(p.client for p in details.peers),
                         *(t.url for t in details.trackers),
                         *(t.last_error for t in details.trackers),
                         state.name if state else ""):
                text.encode("utf-8")  # every engine value is valid text
            eng.remove(tid, delete_data=True).result(10)
        assert eng.crash is None and eng.running
        assert m.containment.total == 0, [e for e in events.drain() if isinstance(e, Log)]

    calls = fuzz(inputs, body, scale=SCALE)
    assert calls >= budget(SCALE)
    assert eng.crash is None
    assert m.containment.total == 0
    critical = [e for e in events.drain() if isinstance(e, Log) and e.level == "critical"]
    assert not critical
    # the rig really exercised what it claims
    assert seen["added"] > 0 and seen["peers"] > 0 and seen["tracker_errors"] > 0, seen
    err = capfd.readouterr().err
    assert "Traceback" not in err
    print(f"FUZZ engine-text inputs={calls} {seen}")
