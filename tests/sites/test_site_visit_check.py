"""A visit makes a follower look for a newer head (real engines, real proxy).

The follower polls the DHT only every 600 s and has no links (no pushes), so within these
tests only a visit through its proxy can make it look the head up: without one it stays on
version 1, with one it serves version 2 within seconds. Many requests inside
``sites.visit_check_interval`` make one look-up, and the page is answered at once, not
after the look-up.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.sites_util import joined, site_engine, wait_site, write_site
from tidegate.engine.node import Node
from tidegate.engine.proxy.visit import Visitor
from tidegate.engine.state import SiteState

INTERVAL = 5.0
"""The follower's ``sites.visit_check_interval``."""
RESOURCES = {f"r/{i}.css": f"p{i} {{}}\n".encode() for i in range(50)}
BOUND = 30.0
"""The most a visit may take to bring version 2 (and the least time without a visit that
must leave version 1 in place)."""
QUIET = BOUND
"""How long the follower is watched without a visit (version 2 published)."""


@dataclass
class Sites:
    owner: Node
    follower: Node
    address: str
    source: Path

    def host(self, engine: Node) -> str:
        return f"{self.address.removesuffix('.onion')}.localhost:{engine.snapshot.web.port}"

    def get(self, engine: Node, path: str) -> tuple[int, bytes, float]:
        """GET ``path`` of the site through ``engine``'s proxy: status, body, seconds."""
        start = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", engine.snapshot.web.port, timeout=10)
        try:
            conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self.host(engine))
            conn.endheaders()
            r = conn.getresponse()
            return r.status, r.read(), time.monotonic() - start
        finally:
            conn.close()

    def state(self, engine: Node) -> SiteState:
        return engine.snapshot.sites[self.address]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    tmp = tmp_path_factory.mktemp("visit")
    # no links: a push would bring version 2 without a visit (test_site_push.py)
    slow = {"poll_interval": 600.0, "visit_check_interval": INTERVAL, "links": False}
    with joined([site_engine(tmp / "a", sites=slow),
                 site_engine(tmp / "b", sites=slow)]) as (a, b):
        source = write_site(tmp / "src", {"index.html": b"v1", **RESOURCES})
        address = a.site_new("live", str(source)).result(30).address
        a.site_publish("live").result(60)
        wait_site(a, address, lambda s: s.hosting.seq == 1, 30)
        b.site_follow(address).result(30)  # the first look-up is at once, the next in 600 s
        wait_site(b, address, lambda s: s.hosting.seq == 1 and s.checked > 0, 90)
        yield Sites(a, b, address, source)


def test_a_visit_brings_the_new_version_and_none_does_not(sites: Sites) -> None:
    b = sites.follower
    checked = sites.state(b).checked
    (sites.source / "index.html").write_bytes(b"v2")
    published = time.monotonic()
    assert sites.owner.site_publish(sites.address).result(60).height == 2
    wait_site(sites.owner, sites.address, lambda s: s.hosting.seq == 2, 30)

    # no visit: nothing makes the follower look (its next poll is in 600 s)
    while time.monotonic() - published < QUIET:
        state = sites.state(b)
        assert state.height == 1 and state.checked == checked, state
        time.sleep(0.5)
    quiet = time.monotonic() - published

    # a visit: served at once from version 1, and version 2 follows within the bound
    visited = time.monotonic()
    status, body, took = sites.get(b, "/")
    assert (status, body) == (200, b"v1") and took < 1.0, (status, body, took)
    while body != b"v2":
        assert time.monotonic() - visited < BOUND, f"still {body!r}: {sites.state(b)}"
        time.sleep(0.5)
        status, body, _ = sites.get(b, "/")
        assert status == 200
    brought = time.monotonic() - visited
    state = sites.state(b)
    assert state.height == 2 and state.checked > checked
    print(f"\nversion 1 still served {quiet:.1f} s after publishing without a visit; "
          f"version 2 served {brought:.1f} s after the visit "
          f"({time.monotonic() - published:.1f} s after publishing)")


def test_many_requests_make_one_lookup_and_none_waits(sites: Sites) -> None:
    b = sites.follower
    while time.time() - (start := sites.state(b).checked) < INTERVAL + 0.5:
        time.sleep(0.5)  # until a look-up is due (the last one ended over INTERVAL ago)
    seen = {start}
    began = time.monotonic()
    slowest = 0.0
    requests = 0
    while time.monotonic() - began < INTERVAL - 1.0:  # a page and its 50 resources, again
        for path in ("/", *(f"/{name}" for name in RESOURCES)):
            status, _, took = sites.get(b, path)
            assert status == 200
            slowest, requests = max(slowest, took), requests + 1
            seen.add(sites.state(b).checked)
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:  # the look-up asked for ends
        time.sleep(0.2)
        seen.add(sites.state(b).checked)
    assert len(seen) == 2, f"{len(seen) - 1} look-ups for {requests} requests"
    # each request was answered from what is held, while the look-up ran (a DHT get)
    assert slowest < 1.0, slowest
    print(f"\n{requests} requests, 1 look-up, slowest answer {slowest * 1000:.0f} ms")

    # the owner's own site: served, never looked up
    for path in ("/", "/r/0.css", "/r/1.css"):
        assert sites.get(sites.owner, path)[0] == 200
    time.sleep(2)
    assert sites.state(sites.owner).checked == 0.0


def _state(checked: float, owner: bool = False) -> SiteState:
    return SiteState(address="x.onion", name="x", owner=owner, height=1, head="",
                     head_time=0, checked=checked)


def test_visitor_asks_once_per_interval_and_never_for_an_owned_site() -> None:
    now = [1000.0]
    states = {"f.onion": _state(0.0), "o.onion": _state(0.0, owner=True)}
    asked: list[str] = []
    v = Visitor(lambda a: None, states.get, 30.0, check_hostname=asked.append,
                check_interval=10.0, dedup=5.0, clock=lambda: now[0], wall=lambda: now[0])
    for _ in range(50):
        v.held("f.onion")
        v.held("o.onion")
        v.held("unknown.onion")
    assert asked == ["f.onion"]
    now[0] += 6.0  # past the bus window, not past the interval: the look-up may run still
    v.held("f.onion")
    assert asked == ["f.onion"]
    states["f.onion"] = _state(now[0])  # it ended: checked now
    now[0] += 9.0
    v.held("f.onion")
    assert asked == ["f.onion"]
    now[0] += 1.0  # 10 s since the look-up
    v.held("f.onion")
    assert asked == ["f.onion", "f.onion"] and v.checks == 2
    v.held("o.onion")
    assert asked.count("o.onion") == 0
    assert Visitor(lambda a: None, states.get, 30.0).held("f.onion") is None  # no sender
