"""tidegate's own DHT client (engine/torrents/krpc.py) against hostile answers: every wait
and count is bounded, and answers that are not from the node asked are not trusted."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import fastbencode
import pytest

from tidegate.engine.chain.bep44 import SignedItem
from tidegate.engine.chain.keys import SiteKey
from tidegate.engine.torrents.krpc import MAX_QUERIES, lookup

Reply = Callable[[dict[bytes, Any], socket.socket, tuple[str, int]], None]


@pytest.fixture
def responder() -> Iterator[Callable[[Reply], int]]:
    """``start(reply)``: a UDP node on 127.0.0.1 that answers every query with ``reply``."""
    socks: list[socket.socket] = []
    stop = threading.Event()

    def start(reply: Reply) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.1)
        socks.append(s)

        def run() -> None:
            while not stop.is_set():
                try:
                    data, addr = s.recvfrom(4096)
                except (TimeoutError, OSError):
                    continue
                reply(fastbencode.bdecode(data), s, addr)
        threading.Thread(target=run, daemon=True).start()
        return int(s.getsockname()[1])
    yield start
    stop.set()
    time.sleep(0.15)
    for s in socks:
        s.close()


def answer(msg: dict[bytes, Any], r: dict[bytes, Any]) -> bytes:
    return bytes(fastbencode.bencode({b"t": msg[b"t"], b"y": b"r", b"r": r}))


def test_queries_are_read_only_and_a_lookup_is_bounded(responder: Any) -> None:
    """80 nodes that answer every get with 8 of each other under new random ids: the walk
    stays within MAX_QUERIES and its deadline."""
    import random

    seen: list[dict[bytes, Any]] = []
    ports: list[int] = []

    def endless(msg: dict[bytes, Any], s: socket.socket, addr: tuple[str, int]) -> None:
        seen.append(msg)
        nodes = b"".join(os.urandom(20) + socket.inet_aton("127.0.0.1") + p.to_bytes(2, "big")
                         for p in random.sample(ports, 8))
        s.sendto(answer(msg, {b"id": os.urandom(20), b"token": b"t", b"nodes": nodes}), addr)
    ports.extend(responder(endless) for _ in range(80))
    t0 = time.monotonic()
    found = lookup("127.0.0.1", [("127.0.0.1", ports[0])], SiteKey.generate().public, b"",
                   time.monotonic() + 10)
    assert time.monotonic() - t0 < 10
    assert 8 < found.queried <= MAX_QUERIES and found.items == []
    assert len(found.closest) == 8
    assert seen and all(m[b"ro"] == 1 and m[b"q"] == b"get" for m in seen)


def test_answers_from_another_address_or_oversized_are_ignored(responder: Any) -> None:
    key = SiteKey.generate()
    item = SignedItem.sign(key, b"", 1, b"5:hello")
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))

    def spoofing(msg: dict[bytes, Any], s: socket.socket, addr: tuple[str, int]) -> None:
        r = {b"id": os.urandom(20), b"token": b"t", b"k": key.public, b"seq": 1,
             b"sig": item.sig, b"v": b"hello"}
        other.sendto(answer(msg, r), addr)  # the right transaction, the wrong sender
        s.sendto(answer(msg, {**r, b"pad": b"x" * 2000}), addr)  # too large
    port = responder(spoofing)
    try:
        found = lookup("127.0.0.1", [("127.0.0.1", port)], key.public, b"",
                       time.monotonic() + 5)
        assert found.answered == 0 and found.items == [] and found.queried == 1
    finally:
        other.close()


def test_a_good_answer_is_an_item_and_a_token(responder: Any) -> None:
    key = SiteKey.generate()
    item = SignedItem.sign(key, b"salt", 3, b"d2:ih20:" + b"\x01" * 20 + b"e")

    def honest(msg: dict[bytes, Any], s: socket.socket, addr: tuple[str, int]) -> None:
        r = {b"id": os.urandom(20), b"token": b"tok", b"k": key.public, b"seq": 3,
             b"sig": item.sig, b"v": {b"ih": b"\x01" * 20}}
        s.sendto(answer(msg, r), addr)
    port = responder(honest)
    found = lookup("127.0.0.1", [("127.0.0.1", port)], key.public, b"salt",
                   time.monotonic() + 5)
    assert found.items == [item] and found.answered == 1 and found.bad == 0
    assert [(addr, token) for _, addr, token in found.closest] == [
        (("127.0.0.1", port), b"tok")]


def test_a_put_leaves_no_dead_node_in_libtorrents_routing_table() -> None:
    """libtorrent adds a put's sender to its table despite "ro"; our socket closes right
    after, so puts go out under the receiving node's own id, which no table adds."""
    import warnings

    from tests.sites.test_site_bep46 import plain_session
    from tidegate.engine.torrents.krpc import put

    sessions = [plain_session(), plain_session()]
    ports = [s.listen_port() for s in sessions]
    sessions[0].add_dht_node(("127.0.0.1", ports[1]))
    sessions[1].add_dht_node(("127.0.0.1", ports[0]))

    def table(s: Any) -> list[bytes]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            state = s.dht_state()
        return list(state.get(b"nodes", [])) if isinstance(state, dict) else []
    deadline = time.monotonic() + 10
    while not all(table(s) for s in sessions) and time.monotonic() < deadline:
        time.sleep(0.2)
    before = [table(s) for s in sessions]
    assert all(len(t) == 1 for t in before)
    key = SiteKey.generate()
    item = SignedItem.sign(key, b"", 1, b"5:hello")
    seeds = [("127.0.0.1", p) for p in ports]
    found = lookup("127.0.0.1", seeds, key.public, b"", time.monotonic() + 5)
    assert put("127.0.0.1", item, found.closest, time.monotonic() + 5) == 2
    time.sleep(1)
    assert [table(s) for s in sessions] == before
    again = lookup("127.0.0.1", seeds, key.public, b"", time.monotonic() + 5)
    assert again.items == [item]
