"""Five comment servers find each other through a private DHT on 127.0.0.1 and converge
(real Nodes: libtorrent's DHT, the comment endpoints over HTTP, SQLite stores).

Nodes A and B are also configured (``comments.peers``) with five hostile servers
(tests/helpers/hostile_comments.py): one serving forged, oversized, malformed and
duplicated records among one valid one, one serving nothing but refused records (its
store "new" every time), one answering garbage, one a 10 MiB body, one never answering.
The honest nodes must keep converging meanwhile.

Measured numbers are printed (``-s``) and written in docs/comments.md "The comments network".
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.comments_net import (
    DIFFICULTY,
    comment_node,
    digests,
    net_state,
    post_http,
    post_status,
    store,
    wait_converged,
)
from tests.helpers.hostile_comments import HostileCommentPeer
from tests.helpers.sites_util import join_dht
from tidegate.engine import commands as cmds
from tidegate.engine.comments.author import AuthorKey, load_or_create
from tidegate.engine.comments.event import make_comment
from tidegate.engine.node import Node

URL = "https://example.org/article"
CONVERGE_BOUND = 120.0
"""Seconds all five may take to agree (sync_interval is 1 s; the machine is loaded)."""


@dataclass
class Net:
    nodes: list[Node]
    homes: list[Path]
    author: AuthorKey
    hostile: dict[str, HostileCommentPeer]
    hostile_ids: dict[str, str]
    """kind -> the event id each bad record claims."""
    joined: float
    """When (monotonic) the nodes joined the DHT."""
    held: int = 0
    """Records every node must hold now."""


def _summary(nodes: list[Node]) -> str:
    """Each node's peers in a line each (what an assertion shows)."""
    lines = []
    for n in nodes:
        st = net_state(n)
        lines.append(f"node :{n.comments.port if n.comments else 0} announced {st.announced_at}"
                     f" {st.announce_error!r}")
        lines += [f"   {p.endpoint} {p.source} sync={p.last_sync:.0f} err={p.last_error!r} "
                  f"got={p.received}/{p.pulled}/{p.refused}" for p in st.peers]
    return "\n".join(lines)


def _hostile_records(author: AuthorKey) -> tuple[list[bytes], dict[str, str]]:
    now = time.time()
    valid = make_comment(author, URL, "valid, from a hostile server", parent=None, now=now,
                         difficulty=DIFFICULTY)
    original = make_comment(author, URL, "original text", parent=None, now=now,
                            difficulty=DIFFICULTY)
    forged = original.raw.replace(b"original text", b"forged!! text")
    sig = json.loads(original.raw)
    sig["event"]["sig"] = ("0" if sig["event"]["sig"][0] != "0" else "1") + \
        sig["event"]["sig"][1:]
    bad_sig = json.dumps(sig, separators=(",", ":")).encode()
    big = json.loads(original.raw)
    big["event"]["content"] = "x" * 9000
    oversized = json.dumps(big, separators=(",", ":")).encode()
    malformed = b'{"event": {"kind": 1111}}'
    records = [forged, valid.raw, bad_sig, oversized, malformed, valid.raw]
    return records, {"forged": original.id, "valid": valid.id}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    tmp = tmp_path_factory.mktemp("commentsnet")
    author = load_or_create(tmp / "author.key")
    records, ids = _hostile_records(author)
    hostile = {"records": HostileCommentPeer("records", records),
               "junk": HostileCommentPeer("reset", [records[0], records[3]])}
    for mode in ("garbage", "huge", "slow"):
        hostile[mode] = HostileCommentPeer(mode)
    bad_peers = [h.endpoint for h in hostile.values()]
    homes = [tmp / name for name in "abcde"]
    nodes = [comment_node(home, peers=bad_peers if i < 2 else []) for i, home in
             enumerate(homes)]
    started: list[Node] = []
    try:
        for n in nodes:
            started.append(n.start())
        join_dht(nodes)
        yield Net(nodes, homes, author, hostile, ids, time.monotonic())
    finally:
        for n in [*started, *nodes]:
            if n.running:
                n.stop()
        for h in hostile.values():
            h.close()


def test_five_nodes_find_each_other_in_the_dht_and_converge(net: Net) -> None:
    # discovery: every node finds the four others through the DHT (none is configured
    # with them) and syncs with each; the hostile server's one valid record (pulled by A
    # and B) reaches all meanwhile
    def synced_with_all(node: Node) -> bool:
        st = net_state(node)
        return st.announced_at > 0 and len(
            [p for p in st.peers if p.in_dht and p.last_sync > 0]) >= 4
    deadline = net.joined + CONVERGE_BOUND
    while not all(synced_with_all(n) for n in net.nodes):
        assert time.monotonic() < deadline, _summary(net.nodes)
        time.sleep(0.1)
    print(f"\ndiscovery: every node synced with the 4 others "
          f"{time.monotonic() - net.joined:.2f} s after joining the DHT")
    net.held = 1
    wait_converged(net.nodes, net.held, CONVERGE_BOUND)
    for node in net.nodes:
        own = f"127.0.0.1:{node.comments.port}" if node.comments else ""
        shown = node.run(cmds.CommentPeers()).result(10)  # what `comment peers` shows
        assert own not in {p.endpoint for p in shown.peers}, _summary(net.nodes)
        assert shown.topic == hashlib.sha1(bytes.fromhex(shown.network)).hexdigest()

    for i, node in enumerate(net.nodes):  # two comments on each node: HTTP or the command
        for j in range(2):
            text = f"comment {j} on node {'abcde'[i]}"
            if i % 2:
                node.run(cmds.CommentPost(URL, text)).result(60)
            else:
                post_http(node, net.author, URL, text)
    net.held += 10
    took = wait_converged(net.nodes, net.held, CONVERGE_BOUND)
    print(f"converged: 5 nodes, {net.held} comments, {took:.2f} s after the last post")
    assert took < CONVERGE_BOUND


def test_hostile_records_are_refused_and_counted_per_peer(net: Net) -> None:
    a, b = net.nodes[0], net.nodes[1]
    records_ep = net.hostile["records"].endpoint

    def slow_failed(node: Node) -> bool:  # the slowest of the bad ones: a read timeout
        peers = {p.endpoint: p for p in net_state(node).peers}
        slow = peers.get(net.hostile["slow"].endpoint)
        return slow is not None and slow.failures >= 1
    deadline = time.monotonic() + 90
    while not (slow_failed(a) and slow_failed(b)):
        assert time.monotonic() < deadline, net_state(a)
        time.sleep(0.2)
    for node in (a, b):
        peers = {p.endpoint: p for p in net_state(node).peers}
        rec = peers[records_ep]
        assert rec.refused == 4, rec  # forged id, forged sig, oversized, malformed
        assert set(rec.refusals) == {"ForgedComment", "OversizedComment", "BadComment"}, rec
        assert rec.received == 6 and rec.last_error == "", rec  # its duplicate: held, not refused
        # only refused records, "started anew" before every pull: a failure, backed off
        junk = peers[net.hostile["junk"].endpoint]
        assert junk.refused >= 2 and junk.pulled == 0 and junk.failures >= 1, junk
        assert "all 2 records of a page were refused" in junk.last_error, junk
        assert set(junk.refusals) == {"ForgedComment", "OversizedComment"}, junk
        assert "digest answer" in peers[net.hostile["garbage"].endpoint].last_error
        assert "bytes" in peers[net.hostile["huge"].endpoint].last_error
        assert "Timeout" in peers[net.hostile["slow"].endpoint].last_error
        for bad in ("garbage", "huge", "slow"):
            assert peers[net.hostile[bad].endpoint].last_sync == 0
    # backed off (doubling) rather than pulled every second: two requests a sync, two nodes
    elapsed = time.monotonic() - net.joined
    print(f"\nthe all-refused server: {net.hostile['junk'].hits} requests in {elapsed:.1f} s")
    assert net.hostile["junk"].hits <= 4 * (math.log2(elapsed) + 3), \
        (net.hostile["junk"].hits, elapsed)
    # nothing forged anywhere; the one valid record everywhere; nothing stored twice
    for node in net.nodes:
        assert store(node).get(net.hostile_ids["forged"]) is None
        assert store(node).get(net.hostile_ids["valid"]) is not None
    counts = digests(net.nodes)
    assert {c for c, _ in counts} == {net.held} and len({d for _, d in counts}) == 1
    # a replay of a held record over HTTP: refused as replayed, nothing added
    valid = store(a).get(net.hostile_ids["valid"])
    assert valid is not None
    assert post_status(net.nodes[3], valid.url_hash, valid.raw) == 409
    assert store(net.nodes[3]).count() == net.held


def test_a_stopped_node_catches_up_when_it_comes_back(net: Net) -> None:
    a_to_d, e = net.nodes[:4], net.nodes[4]
    e.stop()  # the partition: E is gone
    for i, node in enumerate(a_to_d):
        for j in range(2):
            post_http(node, net.author, URL, f"while E was away: {j} on {'abcd'[i]}")
    net.held += 8
    took = wait_converged(a_to_d, net.held, CONVERGE_BOUND)
    print(f"\nconverged without E: 4 nodes, {net.held} comments, {took:.2f} s")
    # healing: E again from its data folder (a new comment port: found through the DHT)
    e2 = comment_node(net.homes[4])
    net.nodes[4] = e2
    started = time.monotonic()
    e2.start()
    join_dht(net.nodes)
    post_http(e2, net.author, URL, "E is back")
    net.held += 1
    healed = wait_converged(net.nodes, net.held, CONVERGE_BOUND)
    since_start = time.monotonic() - started
    print(f"healed: 5 nodes, {net.held} comments, {healed:.2f} s after E's post, "
          f"{since_start:.2f} s after E's start")
    # E pulled only what it lacked: its cursors survived the restart
    deadline = time.monotonic() + 30  # the state is published as each peer's sync ends
    while sum(p.pulled for p in net_state(e2).peers) < 8 and time.monotonic() < deadline:
        time.sleep(0.1)
    received = sum(p.received for p in net_state(e2).peers)
    assert received <= 4 * (8 + 1) + 4, _summary([e2])
    assert sum(p.pulled for p in net_state(e2).peers) == 8, _summary([e2])


def test_sync_goes_on_after_the_comment_service_restarts(net: Net) -> None:
    a = net.nodes[0]
    svc = a.comments
    assert svc is not None
    port, restarted = svc.port, time.time()
    svc.restart()  # what the daemon's watcher does when the thread died
    assert svc.alive() and svc.port == port
    post_http(net.nodes[2], net.author, URL, "after A's service restarted")
    net.held += 1
    took = wait_converged(net.nodes, net.held, CONVERGE_BOUND)
    print(f"after a service restart: all equal {took:.2f} s after the post")
    assert any(p.last_sync > restarted for p in net_state(a).peers), _summary([a])
