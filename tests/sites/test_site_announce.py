"""Announcing when it can land, and lookups that say what happened: real engines on a
private DHT on 127.0.0.1.

libtorrent's DHT takes a BEP 44 put only once it has nodes (a put at start-up lands
nowhere), and hands an empty value for an item nobody stored. The owner must try again as
soon as the DHT has nodes, not an ``announce_interval`` later; a follower must say "not
found" or "unreachable", not ``bad_encoding``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.refusing_dht_node import PUT_REFUSED, SEQ_TOO_LOW, RefusingDhtNode
from tests.helpers.sites_util import join_dht, site_engine, wait_site, write_site
from tidegate.cli.commands.sites import _announced
from tidegate.engine import Engine
from tidegate.engine.chain import SiteKey, address_of
from tidegate.engine.events import Event, Log, SiteRefused
from tidegate.engine.sites.announcer import NO_NODES, NOT_STORED
from tidegate.engine.sites.handler import NOT_FOUND, UNREACHABLE
from tidegate.tui.screens.site_cells import stored_text

LONG = {"announce_interval": 600.0}
"""Far longer than any wait here: only the early retries can make a head land in time."""

FILES = {"index.html": b"<h1>live</h1>\n" * 100, "css/site.css": b"body { margin: 0 }\n" * 50}


def test_owner_alone_says_no_nodes_then_lands_when_a_node_joins(tmp_path: Path) -> None:
    source = write_site(tmp_path / "src", FILES)
    owner = site_engine(tmp_path / "owner", sites=LONG).start()
    node = site_engine(tmp_path / "node", sites=LONG).start()
    engines: list[Engine] = [owner, node]
    try:
        address = owner.site_new("blog", str(source)).result(30).address
        assert owner.site_publish("blog").result(60).height == 1
        alone = wait_site(owner, address, lambda s: s.error == NO_NODES, 15)
        assert alone.error != NOT_STORED and alone.stored_nodes == 0 and alone.stored_at == 0
        assert owner.snapshot.stats.dht_nodes == 0

        joined_at = time.monotonic()
        before = time.time()
        join_dht([owner, node])
        landed = wait_site(owner, address, lambda s: s.stored_nodes >= 1, 15)
        took = time.monotonic() - joined_at
        assert landed.error == "" and before <= landed.stored_at <= time.time()
        assert landed.height == 1
        print(f"head stored {took:.2f} s after a node joined")
        # what the owner is shown: `site ls` and the TUI's sites view
        assert _announced(alone, time.time()).plain == "1, not stored yet"
        assert stored_text(alone).plain == "the head is not stored in the DHT yet"
        n = landed.stored_nodes
        nodes = f"{n} node{'s' * (n > 1)}"
        assert _announced(landed, time.time()).plain == f"1, {nodes} 0 s ago"
        assert stored_text(landed).plain.startswith(f"head stored on {nodes} at ")

        # a fresh follower finds the head and fetches the site
        follower = site_engine(tmp_path / "follower").start()
        engines.append(follower)
        join_dht([owner, node, follower])
        follower.site_follow(address).result(10)
        got = wait_site(follower, address, lambda s: s.height == 1 and s.hosting.seq == 1, 90)
        assert got.error == "" and got.name == "blog"
    finally:
        for e in engines:
            e.stop()


def test_restarted_owner_is_found_by_a_new_follower_at_once(tmp_path: Path) -> None:
    """The DHT has forgotten the head (items expire; here the only other node restarted,
    and DHT storage lives in memory). The owner restarts on the same data folder with a
    follower running; a new follower finds the site within 30 s, not announce_interval
    later."""
    source = write_site(tmp_path / "src", FILES)
    owner = site_engine(tmp_path / "owner", sites=LONG).start()
    follower = site_engine(tmp_path / "follower").start()
    engines: list[Engine] = [owner, follower]
    try:
        join_dht([owner, follower])
        address = owner.site_new("blog", str(source)).result(30).address
        assert owner.site_publish("blog").result(60).height == 1
        follower.site_follow(address).result(10)
        wait_site(follower, address, lambda s: s.hosting.seq == 1, 90)
        owner.stop()
        follower.stop()  # forgets every stored item, keeps the site
        follower = site_engine(tmp_path / "follower").start()
        engines.append(follower)

        started = time.monotonic()
        owner = site_engine(tmp_path / "owner", sites=LONG).start()
        engines.append(owner)
        # its start-up put went nowhere: the case the early announce is for
        wait_site(owner, address, lambda s: s.error == NO_NODES, 15)
        join_dht([owner, follower])
        fresh = site_engine(tmp_path / "fresh").start()
        engines.append(fresh)
        join_dht([fresh, follower])
        fresh.site_follow(address).result(10)
        wait_site(fresh, address, lambda s: s.announced == 1 and s.height == 1, 30)
        found = time.monotonic() - started
        got = wait_site(fresh, address, lambda s: s.hosting.seq == 1, 60)
        hosted = time.monotonic() - started
        assert got.error == "" and got.name == "blog"
        # (the lookup may find the head before the owner's put has heard from every node)
        state = wait_site(owner, address, lambda s: s.stored_nodes >= 1, 30)
        assert state.error == ""
        print(f"restart to found: {found:.2f} s, to hosted: {hosted:.2f} s")
    finally:
        for e in engines:
            if e.running:
                e.stop()


def test_lookups_say_not_found_or_unreachable_not_bad_encoding(tmp_path: Path) -> None:
    source = write_site(tmp_path / "src", FILES)
    owner = site_engine(tmp_path / "owner").start()
    follower = site_engine(tmp_path / "follower").start()
    lone = site_engine(tmp_path / "lone").start()
    engines: list[Engine] = [owner, follower, lone]
    try:
        join_dht([owner, follower])
        events = follower.subscribe()
        nobody = address_of(SiteKey.generate().public)  # never published
        follower.site_follow(nobody).result(10)
        # (a lookup before the routing table filled says "unreachable" first)
        state = wait_site(follower, nobody, lambda s: s.error.startswith(NOT_FOUND), 15)
        assert state.error.startswith(f"{NOT_FOUND} yet (last asked "), state.error
        assert state.checked > 0 and not state.equivocating and state.height == -1
        seen: list[Event] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            event = events.get(timeout=0.2)
            if event is not None:
                seen.append(event)
            if any(isinstance(e, Log) and nobody in e.message and NOT_FOUND in e.message
                   for e in seen):
                break
        else:
            raise AssertionError(f"no event says not found: {seen}")
        assert not [e for e in seen if isinstance(e, SiteRefused)], seen

        # no DHT node at all: unreachable, for a site that exists too
        address = owner.site_new("blog", str(source)).result(30).address
        assert owner.site_publish("blog").result(60).height == 1
        lone.site_follow(nobody).result(10)
        lone.site_follow(address).result(10)
        for a in (nobody, address):
            assert wait_site(lone, a, lambda s: s.error == UNREACHABLE, 15).height == -1

        # nodes: the site is found (which clears the state) and fetched; the other is
        # not found
        join_dht([owner, follower, lone])
        got = wait_site(lone, address, lambda s: s.height == 1, 30)
        assert not got.error.startswith((UNREACHABLE, NOT_FOUND)), got
        wait_site(lone, address, lambda s: s.hosting.seq == 1 and s.error == "", 60)
        other = wait_site(lone, nobody, lambda s: s.error.startswith(NOT_FOUND), 15)
        assert other.height == -1
    finally:
        for e in engines:
            e.stop()


@pytest.mark.parametrize("code", [PUT_REFUSED, SEQ_TOO_LOW])
def test_nodes_that_store_nothing_say_not_stored_then_a_real_node_takes_it(
        tmp_path: Path, code: int) -> None:
    """The DHT has nodes but none stores the head (full, hostile): the owner is told so,
    distinctly from having no node, and the head lands once a node that stores joins.
    (SEQ_TOO_LOW: libtorrent's own put counted a node refusing its seq as storing it.)"""
    source = write_site(tmp_path / "src", FILES)
    with RefusingDhtNode(code) as refusing:
        owner = site_engine(tmp_path / "owner", sites=LONG).start()
        node = site_engine(tmp_path / "node", sites=LONG).start()
        engines: list[Engine] = [owner, node]
        try:
            owner.add_dht_node("127.0.0.1", refusing.port).result(5)
            owner.wait_for(lambda s: s.stats.dht_nodes >= 1, 15)
            events = owner.subscribe()
            address = owner.site_new("blog", str(source)).result(30).address
            assert owner.site_publish("blog").result(60).height == 1
            t0 = time.monotonic()
            refused = wait_site(owner, address, lambda s: s.error == NOT_STORED, 40)
            print(f"not stored after {time.monotonic() - t0:.1f} s; queries {refusing.queries}")
            assert refusing.puts >= 1, refusing.queries
            assert refused.stored_nodes == 0 and refused.stored_at == 0
            assert owner.snapshot.stats.dht_nodes >= 1  # nodes there: not "no nodes"
            warned = [e for e in _drain(events, 2) if isinstance(e, Log)
                      and address in e.message and NOT_STORED in e.message]
            assert warned and warned[0].level == "warning", warned
            assert _announced(refused, time.time()).plain == "1, not stored yet"

            join_dht([owner, node])  # a node that stores: the retry lands there
            t0 = time.monotonic()
            landed = wait_site(owner, address, lambda s: s.stored_nodes >= 1, 60)
            print(f"landed {time.monotonic() - t0:.1f} s after a node joined")
            assert landed.error == "" and landed.stored_at > 0
            assert any(isinstance(e, Log) and address in e.message and "head stored"
                       in e.message for e in _drain(events, 2))
        finally:
            for e in engines:
                e.stop()


def _drain(events: Any, seconds: float) -> list[Event]:
    seen: list[Event] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = events.get(timeout=0.1)
        if event is not None:
            seen.append(event)
    return seen
