"""The comment store on a real SQLite file: replay refused, order, since/head/digest,
a restart keeps everything, a corrupt file is set aside and reported."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from tidegate.engine.comments.event import ReplayedComment
from tidegate.engine.comments.store import CommentStore

from .util import URL, comment


def test_add_list_since_digest_and_replay(tmp_path: Path) -> None:
    store = CommentStore(tmp_path / "c.db", 8)
    try:
        first = comment("one", now=time.time() - 10)
        second = comment("two", parent=first)
        other = comment("elsewhere", url="https://example.org/")
        assert store.head() == 0 and store.count() == 0
        for c in (second, first, other):  # inserted out of order
            store.add(c.raw)
        with pytest.raises(ReplayedComment, match=first.id):
            store.add(first.raw)
        assert store.count() == 3 and store.head() == 3
        assert [c.id for c in store.for_url(first.url_hash)] == [first.id, second.id]
        assert store.get(second.id) == second and store.get("00" * 32) is None
        assert [s for s, _ in store.since(1, 10)] == [2, 3]
        assert store.since(0, 1) == [(1, second.raw)]
        ids = sorted(bytes.fromhex(c.id) for c in (first, second, other))
        assert store.digest() == hashlib.sha256(b"".join(ids)).hexdigest()
        empty = CommentStore(tmp_path / "other.db", 8)
        for c in (other, first, second):
            empty.add(c.raw)
        assert empty.digest() == store.digest()
        empty.close()
    finally:
        store.close()


def test_the_store_survives_a_restart(tmp_path: Path) -> None:
    c = comment("kept")
    store = CommentStore(tmp_path / "c.db", 8)
    store.add(c.raw)
    store.close()
    again = CommentStore(tmp_path / "c.db", 8)
    try:
        assert again.problem == ""
        assert again.for_url(c.url_hash) == [c]
        with pytest.raises(ReplayedComment):
            again.add(c.raw)
    finally:
        again.close()
    assert oct((tmp_path / "c.db").stat().st_mode & 0o777) == "0o600"


def test_a_corrupt_database_is_set_aside_and_reported(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store = CommentStore(db, 8)
    store.add(comment("lost").raw)
    store.close()
    for side in tmp_path.glob("c.db-*"):
        side.unlink()
    data = bytearray(db.read_bytes())
    data[:100] = b"\xff" * 100  # the header gone
    db.write_bytes(bytes(data))
    store = CommentStore(db, 8)
    try:
        assert "could not be read" in store.problem and "c.db.corrupt" in store.problem
        assert (tmp_path / "c.db.corrupt").read_bytes() == bytes(data)
        assert store.count() == 0
        fresh = comment("new life", url=URL)
        store.add(fresh.raw)
        assert store.for_url(fresh.url_hash) == [fresh]
    finally:
        store.close()
