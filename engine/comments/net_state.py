"""What the comments network part shows: our announce and every peer we pull from (values)."""

from __future__ import annotations

import msgspec


class CommentPeerState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One comment server this node pulls from."""

    endpoint: str
    """``host:port`` of its comment endpoint."""
    source: str
    """How this node first heard of it: ``"dht"`` (a peer of the network's topic),
    ``"config"`` (``comments.peers``), ``"incoming"`` (it pulled from us and told its
    port) or ``"saved"`` (its cursor was kept from the last run)."""
    in_dht: bool = False
    """A DHT lookup named it."""
    last_sync: float = 0.0
    """Wall time of its last successful sync (0 = never)."""
    last_error: str = ""
    """Why its last sync failed ("" after a success)."""
    failures: int = 0
    """Failed syncs in a row (it is backed off meanwhile)."""
    received: int = 0
    """Records it sent (pages since our cursor; ones held already included)."""
    pulled: int = 0
    """Records taken from it that this node lacked."""
    refused: int = 0
    """Records it sent that this node refused (forged, oversized, ...; held ones not counted)."""
    refusals: tuple[str, ...] = ()
    """The kinds of refusal it caused (``ForgedComment``, ``OversizedComment``, ...)."""
    cursor: int = 0
    """Its local seq pulled up to."""


class CommentsNetState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The comments network: discovery through the DHT and the pulls."""

    network: str = ""
    """The network id (64 hex)."""
    topic: str = ""
    """Its DHT topic (40 hex: sha1 of the id)."""
    announced_at: float = 0.0
    """Wall time of our last DHT announce (0 = not yet: the DHT has no nodes)."""
    announce_error: str = ""
    """Why the last announce or lookup failed ("" if it did not)."""
    looked_up_at: float = 0.0
    """Wall time of the last lookup of the topic's peers."""
    peers: tuple[CommentPeerState, ...] = ()
    """Every peer known, by endpoint."""
    cursor_error: str = ""
    """Why the persisted cursors could not be read at start ("" if they could)."""
    config_error: str = ""
    """``comments.peers`` entries left out, and why ("" when none)."""
