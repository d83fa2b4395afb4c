"""What the comment commands answer: plain values for the wire (no crypto imported)."""

from __future__ import annotations

import msgspec


class CommentView(msgspec.Struct, frozen=True, kw_only=True):
    """One verified comment as frontends show it."""

    id: str
    url: str
    content: str
    created_at: int
    author: str
    """The attested ed25519 key (hex), "" for a plain Nostr comment."""
    nostr: str
    """The event's Nostr pubkey (hex)."""
    parent: str = ""
    """The parent comment's id, "" for a comment on the URL itself."""
    work: int = 0
    """Leading zero bits of the id (NIP-13)."""


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """One imported record: accepted (``id``) or refused (``error``, ``reason``)."""

    index: int
    id: str = ""
    error: str = ""
    """The refusal's class (``ForgedComment``, ...), "" when accepted."""
    reason: str = ""


class CommentsInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The comment endpoint of a node."""

    url: str
    """The endpoint (``http://127.0.0.1:PORT/``), "" when it is not serving."""
    network: str
    difficulty: int
    allow_authors: int
    """How many authors the allow-list names (0: open to anyone who does the work)."""
    count: int
    author: str
    """This node's author key (ed25519, hex)."""
    nostr: str
    """The same author's Nostr pubkey (hex)."""
    failure: str = ""
    """Why the endpoint is not serving ("" when it is)."""


MAX_DEPTH = 12
"""Deepest indentation shown; deeper replies are shown at this depth."""


def threaded(comments: list[CommentView]) -> list[tuple[int, CommentView]]:
    """(depth, comment) in thread order: each comment followed by its replies, oldest
    first at every level; a reply whose parent is not held is shown at the top."""
    ids = {c.id for c in comments}
    children: dict[str, list[CommentView]] = {}
    for c in comments:
        children.setdefault(c.parent if c.parent in ids else "", []).append(c)
    out: list[tuple[int, CommentView]] = []
    stack = [(0, c) for c in reversed(children.get("", []))]
    seen: set[str] = set()
    while stack:  # iterative: a long chain of replies cannot exhaust the Python stack
        depth, c = stack.pop()
        if c.id in seen:
            continue
        seen.add(c.id)
        out.append((depth, c))
        stack.extend((min(depth + 1, MAX_DEPTH), r) for r in reversed(children.get(c.id, [])))
    return out
