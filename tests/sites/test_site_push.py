"""A new head pushed over live links, forwarded follower to follower, verified by each
(real engines, a private DHT on 127.0.0.1).

Every follower polls the DHT only once an hour (``poll_interval = 3600``), so within these
tests only a push can bring a new head: a follower's ``checked`` (when it last asked the
DHT) must not move while its height does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq

from tests.helpers.sites_util import joined, site_engine, wait_site, write_site
from tidegate.engine.chain import SiteKey
from tidegate.engine.chain.bep44 import SignedItem, bencode_string
from tidegate.engine.events import SiteRefused
from tidegate.engine.node import Node
from tidegate.engine.sites import evidence
from tidegate.engine.sites.head import SALT, Head
from tidegate.engine.sites.link_messages import Hello, Push, encode
from tidegate.engine.sites.links import Links
from tidegate.engine.state import SiteState

POLL = 3600.0
PUSH_BOUND = 15.0
"""The most a pushed head may take to reach every follower (the poll is an hour)."""
SLOW = {"poll_interval": POLL, "announce_interval": 3600.0}


@dataclass
class Swarm:
    owner: Node
    followers: list[Node]
    address: str
    source: Path

    def state(self, engine: Node) -> SiteState:
        return engine.snapshot.sites[self.address]

    def links(self, engine: Node) -> Links:
        assert engine.sites is not None and engine.sites.links is not None
        return engine.sites.links

    def folder(self, engine: Node) -> Path:
        return engine.loaded.paths.data_dir / "sites" / self.address

    def publish(self, text: bytes) -> tuple[int, float]:
        (self.source / "index.html").write_bytes(text)
        started = time.monotonic()
        return self.owner.site_publish(self.address).result(60).height, started


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    tmp = tmp_path_factory.mktemp("push")
    with joined([site_engine(tmp / name, sites=SLOW) for name in "abcd"]) as engines:
        a, followers = engines[0], engines[1:]
        source = write_site(tmp / "src", {"index.html": b"v1"})
        address = a.site_new("pushed", str(source)).result(30).address
        a.site_publish(address).result(60)
        for f in followers:  # one after another: each finds the ones before in the DHT
            f.site_follow(address).result(10)
            try:
                wait_site(f, address, lambda s: s.height == 1 and s.links >= 1, 90)
            except TimeoutError:  # say where it stood
                raise AssertionError([e.snapshot.sites.get(address) for e in engines]) \
                    from None
        # the owner is linked back by every follower's hello
        wait_site(a, address, lambda s: s.links == 3, 30)
        yield Swarm(a, followers, address, source)


def test_a_published_head_reaches_every_follower_by_push(swarm: Swarm) -> None:
    checked = {f: swarm.state(f).checked for f in swarm.followers}
    height, started = swarm.publish(b"v2")
    assert height == 2
    took = []
    for f in swarm.followers:
        state = wait_site(f, swarm.address, lambda s: s.height == 2, PUSH_BOUND)
        took.append(time.monotonic() - started)
        assert state.checked == checked[f], "the DHT was asked: this was not the push"
        assert state.error == "" and state.links >= 1
        assert state.announced == 2
    assert swarm.state(swarm.owner).links == 3
    assert swarm.links(swarm.owner).counts["pushed"] == 3
    print(f"\nheight 2 on 3 followers {', '.join(f'{t:.2f}' for t in took)} s after "
          f"publishing (DHT poll every {POLL:g} s)")
    for f in swarm.followers:  # and its snapshot follows
        wait_site(f, swarm.address, lambda s: s.hosting.seq == 2, 60)


def _cut(swarm: Swarm, x: Node, y: Node) -> None:
    """No link between ``x`` and ``y`` (neither links the other again in this test)."""
    ports = {e: swarm.links(e).net.port for e in (x, y)}
    for me, other in ((x, y), (y, x)):
        links = swarm.links(me)
        assert me.sites is not None
        me.sites.post(lambda links=links, p=ports[other]: links.ignore(("127.0.0.1", p)))


def test_a_follower_without_a_link_to_the_owner_gets_the_head_forwarded(swarm: Swarm) -> None:
    b, c, d = swarm.followers
    _cut(swarm, swarm.owner, d)
    wait_site(swarm.owner, swarm.address, lambda s: s.links == 2, 10)
    wait_site(d, swarm.address, lambda s: s.links >= 1, 10)  # B and C
    owner_port = swarm.links(swarm.owner).net.port
    deadline = time.monotonic() + 5
    while ("127.0.0.1", owner_port) in swarm.links(d).net.peers:  # the sites thread drops it
        assert time.monotonic() < deadline
        time.sleep(0.1)
    checked = swarm.state(d).checked
    forwarded = sum(swarm.links(f).counts["forwarded"] for f in (b, c))
    height, started = swarm.publish(b"v3")
    assert height == 3
    state = wait_site(d, swarm.address, lambda s: s.height == 3, PUSH_BOUND)
    print(f"\nheight 3 on D (no link to the owner) {time.monotonic() - started:.2f} s after "
          "publishing, forwarded by B or C")
    assert state.checked == checked and state.error == ""
    assert sum(swarm.links(f).counts["forwarded"] for f in (b, c)) > forwarded
    assert swarm.links(swarm.owner).counts["pushed"] == 3 + 2


def _sender() -> tuple[zmq.Context[zmq.Socket[bytes]], list[zmq.Socket[bytes]]]:
    return zmq.Context(), []


def _send(ctx: zmq.Context[zmq.Socket[bytes]], socks: list[zmq.Socket[bytes]], port: int,
          *frames: bytes) -> None:
    s = ctx.socket(zmq.DEALER)
    s.linger = 1000
    s.connect(f"tcp://127.0.0.1:{port}")
    s.send_multipart(list(frames))
    socks.append(s)


def _push(item: SignedItem, link_port: int) -> bytes:
    return encode(Push(node=os.urandom(8), link_port=link_port, bt_port=0, k=item.public,
                       salt=item.salt, seq=item.seq, v=item.value, sig=item.sig))


def _refused(stream, reason: str, timeout: float = 15) -> SiteRefused:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = stream.get(timeout=0.5)
        if isinstance(event, SiteRefused) and event.reason == reason:
            return event
    raise AssertionError(f"no SiteRefused({reason}) within {timeout} s")


def test_forged_and_older_pushed_heads_are_refused_kept_and_not_forwarded(swarm: Swarm) -> None:
    b, c, d = swarm.followers
    wait_site(b, swarm.address, lambda s: s.height == 3, 30)
    key = SiteKey.load(swarm.folder(swarm.owner) / "key")
    log = b.site_log(swarm.address).result(10)
    events = b.subscribe()
    others = {f: swarm.state(f) for f in (c, d)}
    ctx, socks = _sender()
    port = swarm.links(b).net.port
    forwarded = swarm.links(b).counts["forwarded"]
    try:
        # 1. a head that claims the site's key, signed by another: bad_signature
        forged_head = Head(9, os.urandom(32), os.urandom(32))
        real = SignedItem.sign(key, SALT, 10**13, bencode_string(forged_head.encode()))
        forged = SignedItem(real.public, real.salt, real.seq, real.value,
                            SignedItem.sign(SiteKey.generate(), SALT, real.seq,
                                            real.value).sig)
        _send(ctx, socks, port, _push(forged, 40001))
        event = _refused(events, "bad_signature")
        assert "push from 127.0.0.1:40001" in event.message
        state = wait_site(b, swarm.address, lambda s: "bad_signature" in s.error, 10)
        assert state.height == 3 and "push from" in state.error

        # 2. an earlier head, validly signed by the site's key: a rollback
        older = SignedItem.sign(key, SALT, 10**13 + 1, bencode_string(
            Head(1, bytes.fromhex(log[1].hash), os.urandom(32)).encode()))
        _send(ctx, socks, port, _push(older, 40002))
        event = _refused(events, "rollback")
        state = wait_site(b, swarm.address, lambda s: "rollback" in s.error, 10)
        assert state.height == 3 and not state.equivocating
        assert state.error.startswith("push from 127.0.0.1:40002: rollback")

        # 3. the same bytes again: judged once (no second event, no second file)
        _send(ctx, socks, port, _push(older, 40002))
        time.sleep(1.0)
        kept = evidence.kept(swarm.folder(b))
        assert [k["reason"] for k in kept] == ["bad_signature", "rollback"]
        for k in kept:
            raw = Path(str(k["path"])).read_bytes()
            assert 0 < len(raw) == k["bytes"] and k["sender"].startswith("127.0.0.1:")
        # nothing of it went on: the other followers saw neither
        time.sleep(1.0)
        assert swarm.links(b).counts["forwarded"] == forwarded
        for f, before in others.items():
            now = swarm.state(f)
            assert now.error == before.error == "" and now.height == 3
            assert evidence.kept(swarm.folder(f)) == []
    finally:
        for s in socks:
            s.close(0)
        ctx.term()
        b.unsubscribe(events)


def test_malformed_bytes_on_the_link_port_break_nothing(swarm: Swarm) -> None:
    b = swarm.followers[1]
    links = swarm.links(b)
    port = links.net.port
    before = links.counts["malformed"]
    ctx, socks = _sender()
    try:
        _send(ctx, socks, port, b"")
        _send(ctx, socks, port, os.urandom(300))
        _send(ctx, socks, port, b"\x81\xa4type\xa4push")  # a push missing every field
        _send(ctx, socks, port, b"x" * 100_000)  # past ZMQ_MAXMSGSIZE: disconnected
        _send(ctx, socks, port, b"one", b"two", b"three")
        _send(ctx, socks, port, encode(Hello(node=os.urandom(8), link_port=1, bt_port=0,
                                             sites=[os.urandom(32)])))  # a site not held
        deadline = time.monotonic() + 10
        while links.counts["malformed"] < before + 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert links.counts["malformed"] >= before + 4
    finally:
        for s in socks:
            s.close(0)
        ctx.term()
    # still working: the next head arrives by push
    checked = swarm.state(b).checked
    height, _ = swarm.publish(b"v4")
    state = wait_site(b, swarm.address, lambda s: s.height == height, PUSH_BOUND)
    assert state.checked == checked


def test_a_second_head_for_a_held_height_is_equivocation(swarm: Swarm) -> None:
    """Last: it marks the follower's copy of the site equivocating for good."""
    c = swarm.followers[1]
    held = wait_site(c, swarm.address, lambda s: s.height >= 4, 30)
    key = SiteKey.load(swarm.folder(swarm.owner) / "key")
    events = c.subscribe()
    ctx, socks = _sender()
    try:
        fork = SignedItem.sign(key, SALT, 10**13 + 5, bencode_string(
            Head(held.height, os.urandom(32), os.urandom(32)).encode()))
        _send(ctx, socks, swarm.links(c).net.port, _push(fork, 40003))
        _refused(events, "equivocation")
        state = wait_site(c, swarm.address, lambda s: s.equivocating, 10)
        assert "push from 127.0.0.1:40003: equivocation" in state.error
        assert state.height == held.height
        assert [k["reason"] for k in evidence.kept(swarm.folder(c))] == ["equivocation"]
    finally:
        for s in socks:
            s.close(0)
        ctx.term()
        c.unsubscribe(events)
