"""Helpers for the comment tests: a node with comments on, records made by hand."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from tests.conftest import LOOPBACK, merge
from tidegate.engine.comments.author import AuthorKey
from tidegate.engine.comments.event import Comment, make_comment
from tidegate.engine.config import LoadedConfig, from_dict
from tidegate.engine.node import Node
from tidegate.engine.paths import resolve_paths

URL = "https://example.com/articles/1"


def node_with_comments(home: Path, **comments: Any) -> Node:
    """An unstarted node on loopback with ``[comments] enabled`` (difficulty 8 unless
    given) and no sites."""
    section = {"enabled": True, "difficulty": 8, **comments}
    cfg = from_dict(merge(merge(LOOPBACK, {"storage": {"download_dir": str(home / "dl")}}),
                          {"comments": section}))
    return Node(LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(home)}), frozenset(),
                             False), sites=False)


def author() -> AuthorKey:
    return AuthorKey(os.urandom(32))


def comment(text: str = "hello", *, url: str = URL, parent: Comment | None = None,
            difficulty: int = 8, now: float | None = None,
            key: AuthorKey | None = None) -> Comment:
    return make_comment(key or author(), url, text, parent=parent,
                        now=time.time() if now is None else now, difficulty=difficulty)


def record_of(c: Comment) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(c.raw)
    return out


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
