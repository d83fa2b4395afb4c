"""The ``[comments]`` section's defaults and range checks, and the node's side: off by
default (the commands say how to turn it on), a corrupt database reported as a Log event
while the node starts with a fresh one, the store kept across a node restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.automation.test_rss import make_node
from tidegate.engine import commands as cmds
from tidegate.engine.config import from_dict
from tidegate.engine.config.comments import PUBLIC_NETWORK
from tidegate.engine.errors import ConfigError
from tidegate.engine.events import Log

from .util import URL, comment, node_with_comments


def test_defaults_and_network_id() -> None:
    c = from_dict({}).comments
    assert (c.enabled, c.listen, c.port, c.difficulty, c.max_body) == \
        (False, "127.0.0.1", 0, 20, 16384)
    assert c.network == PUBLIC_NETWORK == \
        "eda5290821cee0637ef6ed758759ff538ed781a9f03ff399ef92829f0b4b971f"
    assert from_dict({"comments": {"network_id": "ab" * 32}}).comments.network == "ab" * 32


@pytest.mark.parametrize(("section", "key"), [
    ({"difficulty": 33}, "comments.difficulty"),
    ({"port": 70000}, "comments.port"),
    ({"listen": "localhost"}, "comments.listen"),
    ({"allow_authors": ["not hex"]}, "comments.allow_authors"),
    ({"max_body": 10}, "comments.max_body"),
    ({"network_id": "AB" * 32}, "comments.network_id"),
    ({"sync_interval": 0.0}, "comments.sync_interval"),
    ({"announce_interval": float("inf")}, "comments.announce_interval"),
])
def test_bad_values_are_refused_naming_the_key(section: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from_dict({"comments": section})


def test_comments_are_off_unless_enabled(tmp_path: Path) -> None:
    with make_node(tmp_path / "n") as node:
        assert node.comments is None
        with pytest.raises(Exception, match="comments.enabled = true"):
            node.run(cmds.CommentList(URL)).result(10)


def test_a_corrupt_database_is_reported_and_the_node_starts(tmp_path: Path) -> None:
    home = tmp_path / "n"
    kept = comment("kept across restarts")
    with node_with_comments(home) as node:
        assert node.comments is not None
        node.comments.store.add(kept.raw)
    with node_with_comments(home) as node:  # a restart keeps it
        assert [c.id for c in node.run(cmds.CommentList(URL)).result(10)] == [kept.id]
        db = node.comments.store.path if node.comments else None
    assert db is not None
    for side in db.parent.glob("comments.db-*"):
        side.unlink()
    db.write_bytes(b"this is not a database" * 100)
    node = node_with_comments(home)
    stream = node.subscribe()
    with node:
        deadline = time.monotonic() + 10
        logs: list[str] = []
        while not any("set aside" in m for m in logs) and time.monotonic() < deadline:
            event = stream.get(timeout=0.5)
            if isinstance(event, Log):
                logs.append(event.message)
        assert any("comments.db.corrupt" in m for m in logs), logs
        assert node.run(cmds.CommentList(URL)).result(10) == []
        assert node.run(cmds.CommentStatus()).result(10).count == 0
    node.unsubscribe(stream)
