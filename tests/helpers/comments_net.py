"""Nodes with comments on, in one private DHT on 127.0.0.1, and waits for their convergence."""

from __future__ import annotations

import itertools
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import LOOPBACK, merge
from tidegate.engine.comments.author import AuthorKey
from tidegate.engine.comments.event import make_comment
from tidegate.engine.comments.net_state import CommentsNetState
from tidegate.engine.comments.service import CommentService
from tidegate.engine.comments.store import CommentStore
from tidegate.engine.config import LoadedConfig, from_dict
from tidegate.engine.node import Node
from tidegate.engine.paths import resolve_paths

DIFFICULTY = 8
_names = itertools.count()


def comment_node(home: Path, **comments: Any) -> Node:
    """An unstarted node (no sites) with comments on at low difficulty, a private DHT."""
    next(_names)
    cfg = from_dict(merge(LOOPBACK, {
        "network": {"enable_dht": True, "dht_private_network": True,
                    "dht_bootstrap_nodes": []},
        "comments": {"enabled": True, "difficulty": DIFFICULTY, "sync_interval": 1.0,
                     "announce_interval": 60.0, **comments},
    }))
    paths = resolve_paths({"TIDEGATE_HOME": str(home)})
    return Node(LoadedConfig(cfg, paths, frozenset(), False), sites=False)


def service(node: Node) -> CommentService:
    svc = node.comments
    assert svc is not None, "comments are not running on this node"
    return svc


def store(node: Node) -> CommentStore:
    return service(node).store


def net_state(node: Node) -> CommentsNetState:
    net = node.comments_net
    assert net is not None
    return net.state


def post_http(node: Node, author: AuthorKey, url: str, text: str) -> str:
    """POST a new comment to ``node``'s endpoint; its id (the answer must be 201)."""
    c = make_comment(author, url, text, parent=None, now=time.time(), difficulty=DIFFICULTY)
    req = urllib.request.Request(f"http://127.0.0.1:{service(node).port}/{c.url_hash}",
                                 data=c.raw, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 201, resp.status
    return c.id


def post_status(node: Node, url_hash: str, raw: bytes) -> int:
    """The HTTP status of POSTing ``raw`` to ``node``."""
    req = urllib.request.Request(f"http://127.0.0.1:{service(node).port}/{url_hash}",
                                 data=raw, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def digests(nodes: list[Node]) -> list[tuple[int, str]]:
    return [(store(n).count(), store(n).digest()) for n in nodes]


def wait_converged(nodes: list[Node], count: int, timeout: float) -> float:
    """Seconds until every node holds ``count`` records with one digest (polled every 50 ms;
    AssertionError with every node's count, digest and peers after ``timeout``)."""
    started = time.monotonic()
    while True:
        now = digests(nodes)
        if all(c == count for c, _ in now) and len({d for _, d in now}) == 1:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not converged on {count} after {timeout} s: {now}\n"
                                 + "\n".join(repr(net_state(n)) for n in nodes))
        time.sleep(0.05)
