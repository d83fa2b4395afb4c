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
