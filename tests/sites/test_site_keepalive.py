"""Followers keep heads alive: real engines, the owner gone for several item lifetimes.

libtorrent keeps BEP 44 items at least 2 h (it raises ``dht_item_lifetime`` to 7200 s), so
the DHT here is :class:`tests.helpers.dht_nodes.ExpiringDht`: storage nodes on 127.0.0.1
whose items expire after :data:`LIFETIME` seconds, as the real DHT's do after 2 h. The
engines join it read-only (``network.dht_read_only``), so nothing is stored elsewhere.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.dht_nodes import ExpiringDht
from tests.helpers.sites_util import site_engine, wait_site, write_site
from tidegate.cli.commands.sites import _announced
from tidegate.engine.chain import SiteKey
from tidegate.engine.chain.bep44 import SignedItem, target
from tidegate.engine.events import Log
from tidegate.engine.node import Node
from tidegate.engine.sites.handler import NOT_FOUND, TIMED_OUT, UNREACHABLE
from tidegate.engine.sites.head import SALT
from tidegate.engine.sites.keeper import Keeper
from tidegate.engine.sites.registry import Registry
from tidegate.engine.torrents.krpc import Krpc
from tidegate.tui.screens.site_cells import stored_text

LIFETIME = 8.0
"""Seconds an item lives in the test DHT after its last put."""
FILES = {"index.html": b"<h1>kept</h1>\n" * 200, "a/b.txt": b"still here\n" * 500}


@pytest.fixture
def dht() -> Iterator[ExpiringDht]:
    nodes = ExpiringDht(6, LIFETIME)
    yield nodes
    nodes.close()


def engine(home: Path, dht: ExpiringDht, reput: float, **extra: Any) -> Node:
    nodes = [f"127.0.0.1:{p}" for p in dht.ports]
    return site_engine(home, network={"dht_read_only": True, "dht_nodes": nodes},
                       sites={"reput_interval": reput, "announce_interval": 30.0}, **extra)


def owner_gone(tmp_path: Path, dht: ExpiringDht, reput: float) -> tuple[Node, str, dict[str, Any]]:
    """Owner publishes, two followers get the site, the owner stops and 3 lifetimes pass;
    then a new node follows the address. Returns it (running), the address, and what was
    measured."""
    source = write_site(tmp_path / "src", FILES)
    owner = engine(tmp_path / "owner", dht, 0).start()
    followers = [engine(tmp_path / f"f{i}", dht, reput).start() for i in (1, 2)]
    started = [owner, *followers]
    seen: dict[str, Any] = {}
    try:
        address = owner.site_new("blog", str(source)).result(30).address
        assert owner.site_publish("blog").result(60).height == 1
        for f in followers:
            f.site_follow(address).result(10)
        for f in followers:
            wait_site(f, address, lambda s: s.hosting.seq == 1, 90)
        key = owner.snapshot.sites[address].magnet.rpartition(":")[2]
        public = bytes.fromhex(key)
        with_krpc = Krpc("127.0.0.1")
        try:
            nodes = [("127.0.0.1", p) for p in dht.ports]
            seen["owner_item"] = with_krpc.get(nodes, public, SALT, 10).result(20).newest
            seen["bep46"] = with_krpc.get(nodes, public, b"", 10).result(20).newest
        finally:
            with_krpc.close()
        assert seen["owner_item"] is not None and seen["bep46"] is not None
        if reput:
            for f in followers:
                wait_site(f, address, lambda s: s.reput_nodes > 0, 30)
        owner.stop()
        gone = time.monotonic()
        time.sleep(3 * LIFETIME + 2)
        seen["head_holders"] = dht.held(target(public, SALT))
        seen["bep46_holders"] = dht.held(target(public, b""))
        seen["stored_items"] = [dht.items[p].get(target(public, SALT)) for p in dht.ports]
        fresh = engine(tmp_path / "fresh", dht, reput).start()
        started.append(fresh)
        fresh.site_follow(address).result(10)
        seen["gone_for"] = time.monotonic() - gone
        seen["fresh"] = fresh
        seen["followers"] = followers
        seen["public"] = public
        return fresh, address, seen
    except BaseException:
        for e in started:
            if e.running:
                e.stop()
        raise


def stop_all(seen: dict[str, Any]) -> None:
    for e in [seen["fresh"], *seen["followers"]]:
        if e.running:
            e.stop()


def test_followers_keep_the_site_resolvable_while_the_owner_is_gone(
        tmp_path: Path, dht: ExpiringDht) -> None:
    fresh, address, seen = owner_gone(tmp_path, dht, reput=2.0)
    try:
        t0 = time.monotonic()
        got = wait_site(fresh, address, lambda s: s.height == 1, 30)
        found = time.monotonic() - t0
        got = wait_site(fresh, address, lambda s: s.hosting.seq == 1 and s.error == "", 90)
        hosted = time.monotonic() - t0
        assert got.name == "blog" and got.lookup == "found"
        site = fresh.loaded.paths.data_dir / "sites" / address / "snapshots" / "1" / "site"
        for name, data in FILES.items():
            assert (site / name).read_bytes() == data
        # what the followers put back is the owner's item, byte for byte
        assert seen["head_holders"] >= 1 and seen["bep46_holders"] >= 1
        owner_item: SignedItem = seen["owner_item"]
        for stored in seen["stored_items"]:
            if stored is not None:
                assert stored[0] == owner_item  # seq, v and sig unchanged
        for f in seen["followers"]:
            state = f.snapshot.sites[address]
            assert state.reput_nodes >= 1 and state.reput_at > 0
            # `site ls` shows it (the Announced column)
            shown = str(_announced(state, time.time()))
            assert shown.startswith(f"1, re-put on {state.reput_nodes} node"), shown
            assert stored_text(state).plain.startswith("head re-put on ")  # the TUI's
        print(f"owner gone {seen['gone_for']:.1f} s ({seen['gone_for'] / LIFETIME:.1f} "
              f"lifetimes); head on {seen['head_holders']}/6 nodes; new node found the head "
              f"in {found:.2f} s, hosted the site in {hosted:.2f} s")
    finally:
        stop_all(seen)


def test_without_reputs_the_site_is_lost_when_items_expire(
        tmp_path: Path, dht: ExpiringDht) -> None:
    fresh, address, seen = owner_gone(tmp_path, dht, reput=0)
    try:
        assert seen["head_holders"] == 0 and seen["bep46_holders"] == 0
        state = wait_site(fresh, address, lambda s: s.error.startswith(NOT_FOUND), 20)
        assert state.height == -1 and state.lookup == "not_found"
        time.sleep(3)
        assert fresh.snapshot.sites[address].height == -1
    finally:
        stop_all(seen)


def test_a_bad_signature_is_never_held_nor_put(tmp_path: Path, dht: ExpiringDht) -> None:
    key = SiteKey.generate()
    good = SignedItem.sign(key, SALT, 5, b"5:hello")
    forged = SignedItem(key.public, SALT, 6, b"5:hellp", good.sig)  # newer, not signed
    # a node hands the forged item out: the lookup drops it and counts it
    for port in dht.ports:
        dht.items[port][good.target] = (forged, time.monotonic())
    client = Krpc("127.0.0.1")
    try:
        nodes = [("127.0.0.1", p) for p in dht.ports]
        found = client.get(nodes, key.public, SALT, 5).result(10)
        assert found.items == [] and found.bad >= 1 and found.answered >= 1
        with pytest.raises(ValueError, match="signature"):
            client.put(nodes, forged, 5)
        for port in dht.ports:
            dht.items[port].clear()
        assert client.put(nodes, good, 5).result(10).stored >= 1
        again = client.get(nodes, key.public, SALT, 5).result(10)
        assert again.newest == good  # as signed: seq, v, sig
    finally:
        client.close()
    # the follower's keeper takes only the site's own, verified, newer items
    from tidegate.engine.sites.registry import BEP46_SALT

    registry = Registry(tmp_path / "sites")
    rec = registry.create(key.address, "", False, "")
    cfg = site_engine(tmp_path / "unused").config.sites
    keeper = Keeper(None, registry, cfg, True, lambda fn: fn(), lambda e: None)  # type: ignore[arg-type]
    assert not keeper.hold(rec, forged)
    other = SignedItem.sign(SiteKey.generate(), SALT, 9, b"5:hello")
    assert not keeper.hold(rec, other)
    assert keeper.hold(rec, good) and rec.held[SALT] == good
    assert not keeper.hold(rec, SignedItem.sign(key, SALT, 4, b"5:older"))
    assert not keeper.hold(rec, SignedItem.sign(key, SALT, 5, b"5:fork!"))
    assert BEP46_SALT not in rec.held
    kept = Registry(tmp_path / "sites")  # a restart keeps what it held
    kept.load()
    assert kept.sites[key.address].held == {SALT: good}
    # a tampered site.json is not trusted either
    meta = json.loads((rec.folder / "site.json").read_text())
    meta["held"][SALT.hex()]["v"] = b"5:hellp".hex()
    meta["held"]["zz"] = {"seq": "not a number"}  # damaged: dropped, the site still loads
    (rec.folder / "site.json").write_text(json.dumps(meta))
    reloaded = Registry(tmp_path / "sites")
    reloaded.load()
    assert reloaded.sites[key.address].held == {}


def test_lookups_say_not_found_unreachable_or_timed_out(tmp_path: Path,
                                                        dht: ExpiringDht) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a node that never answers
    silent.bind(("127.0.0.1", 0))
    nobody = SiteKey.generate().address
    answering = engine(tmp_path / "a", dht, 0).start()
    lone = site_engine(tmp_path / "lone").start()
    mute = site_engine(tmp_path / "mute", network={
        "dht_nodes": [f"127.0.0.1:{silent.getsockname()[1]}"]}).start()
    engines = [answering, lone, mute]
    try:
        streams = {id(e): e.subscribe() for e in engines}
        for e in engines:
            e.site_follow(nobody).result(10)
        cases = [(answering, "not_found", NOT_FOUND), (lone, "unreachable", UNREACHABLE),
                 (mute, "timed_out", TIMED_OUT)]
        for e, kind, message in cases:
            state = wait_site(e, nobody, lambda s, k=kind: s.lookup == k, 20)
            assert state.error.startswith(message), (kind, state.error)
            assert state.height == -1
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                ev = streams[id(e)].get(timeout=0.2)
                if isinstance(ev, Log) and nobody in ev.message and message in ev.message:
                    break
            else:
                raise AssertionError(f"no event says {message}")
        print({k: e.snapshot.sites[nobody].error for e, k, _ in cases})
    finally:
        for e in engines:
            e.stop()
        silent.close()


def test_behind_a_proxy_lookups_go_through_libtorrent_with_signatures() -> None:
    """With a proxy set, tidegate's own UDP would bypass it: lookups use libtorrent's get
    (items built from its alerts, seq and signature included, checked again) and items
    signed elsewhere are refused, not put around the proxy."""
    from concurrent.futures import Future

    from tests.sites.test_site_bep46 import plain_session
    from tidegate.engine.torrents.dht import DhtItems

    sessions = [plain_session(), plain_session()]
    for s in sessions:
        for o in sessions:
            if o is not s:
                s.add_dht_node(("127.0.0.1", o.listen_port()))
    items = [DhtItems(s, "127.0.0.1", direct=False) for s in sessions]

    def pump(i: int, fut: Future[Any]) -> Any:
        deadline = time.monotonic() + 30
        while not fut.done() and time.monotonic() < deadline:
            sessions[i].wait_for_alert(200)
            for a in sessions[i].pop_alerts():
                handler = items[i].handlers().get(type(a))
                if handler is not None:
                    handler(a)
            items[i].expire(time.monotonic())
        return fut.result(0)
    try:
        key = SiteKey.generate()
        time.sleep(1)
        put: Future[int] = Future()
        items[0].put(key.seed, key.public, SALT, b"hello", 20, put)
        assert pump(0, put) >= 1
        got: Future[Any] = Future()
        items[1].lookup(key.public, SALT, 20, [], got)
        found = pump(1, got)
        assert found.answered >= 1 and len(found.items) == 1
        item = found.items[0]
        assert item.valid() and item.value == b"5:hello" and item.seq >= 1
        with pytest.raises(ValueError, match="proxy"):
            items[1].put_signed(item, 5, [], Future())
        missing: Future[Any] = Future()
        items[1].lookup(SiteKey.generate().public, SALT, 20, [], missing)
        assert pump(1, missing).items == []
    finally:
        for d in items:
            d.close()
