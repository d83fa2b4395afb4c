"""The ``[comments]`` section: the comment endpoint (docs/comments.md; the ranges are
checked in ``load._CHECKS``). Off by default: a node opts in."""

from __future__ import annotations

import hashlib

import msgspec

PUBLIC_NETWORK = hashlib.sha256(b"tidegate-comments-v1").hexdigest()
"""The public comment network's id (``network_id = ""``)."""


class CommentsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Comments on any URL: the endpoint, spam control, the network."""

    enabled: bool = False
    """Keep and serve comments (the daemon and the TUI's embedded engine)."""
    listen: str = "127.0.0.1"
    """Address the comment endpoint binds (an IP address; loopback serves this computer
    only, ``0.0.0.0`` every interface)."""
    port: int = 0
    """Port of the comment endpoint; 0 picks a free one (``tidegate comment`` and the
    TUI find it in the node's state)."""
    difficulty: int = 20
    """NIP-13 bits of work a comment needs (0 to 32). 20 by measurement: ~0.7 s of one
    core on average in Python (16 bits is ~0.04 s, too cheap to slow a spammer);
    docs/comments.md has the numbers."""
    allow_authors: list[str] = msgspec.field(default_factory=list)
    """Hex ed25519 or Nostr public keys: when any, only their comments are admitted and
    no work is required."""
    max_body: int = 16 * 1024
    """Largest POST body read, bytes (1024 to 1 MiB; a record is at most 16 KiB)."""
    network_id: str = ""
    """The comment network this node syncs with: "" is the public one
    (sha256(b"tidegate-comments-v1")), else 64 hex digits."""
    sync_interval: float = 30.0
    """Seconds between syncs with the network's other nodes (1 to 86400)."""
    announce_interval: float = 900.0
    """Seconds between announcements of this node on the DHT (60 to 86400)."""
    peers: list[str] = msgspec.field(default_factory=list)
    """Comment servers always synced with besides those the DHT finds: ``"host:port"``
    each (``"[v6]:port"`` for IPv6), at most 64 (docs/comments.md "The comments network")."""

    @property
    def network(self) -> str:
        """The network id in force."""
        return self.network_id or PUBLIC_NETWORK
