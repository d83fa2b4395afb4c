"""What nodes holding a site say to each other over their links (sans-IO).

One ZeroMQ frame holds one msgpack map, a tagged union of two kinds, decoded strictly
(unknown keys, wrong types, out-of-range numbers and oversized fields are refused) and
at most :data:`MAX_MESSAGE` bytes:

* :class:`Hello`: "I link to you for these sites" (``sites``: their public keys), sent
  when a link is made, so the other side links back without a DHT lookup of its own.
* :class:`Push`: a site's head as a BEP 44 mutable item (``k``, ``salt``, ``seq``, ``v``
  bencoded, ``sig``), exactly what the owner signs. It is trusted for its signature under
  ``k`` alone, never for who sent it.

Both carry the sender's ``node`` (random per run: a node that reached itself drops the
link), its ``link_port`` (the receiver learns the sender's link endpoint from the
connection's address and this port) and its BitTorrent ``bt_port`` (the receiver adds the
sender as a peer of the chain torrent it fetches; 0: unknown).
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec

MAX_MESSAGE = 4096
"""Bytes in one link message: a push is under 1.3 KiB, a hello under 2.4 KiB."""
MAX_SITES = 64
"""Sites named in one hello."""
TOPIC_PREFIX = b"tidegate-link-v1"

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
LinkPort = Annotated[int, msgspec.Meta(ge=1, le=65535)]
NodeId = Annotated[bytes, msgspec.Meta(min_length=8, max_length=8)]
PublicKey = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class Hello(msgspec.Struct, tag="hello", frozen=True, forbid_unknown_fields=True):
    node: NodeId
    link_port: LinkPort
    bt_port: Port
    sites: Annotated[list[PublicKey], msgspec.Meta(max_length=MAX_SITES)]


class Push(msgspec.Struct, tag="push", frozen=True, forbid_unknown_fields=True):
    """The item's parts are bounded here only by size; whether they make a BEP 44 item
    signed by ``k`` is checked by the receiver (:class:`engine.chain.bep44.SignedItem`), so
    a push that breaks it is still known to name its site (and is kept as evidence)."""

    node: NodeId
    link_port: LinkPort
    bt_port: Port
    k: PublicKey
    salt: Annotated[bytes, msgspec.Meta(max_length=64)]
    seq: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    v: Annotated[bytes, msgspec.Meta(max_length=1000)]
    sig: Annotated[bytes, msgspec.Meta(max_length=64)]


Message = Hello | Push

_decoder = msgspec.msgpack.Decoder(Message)
_encoder = msgspec.msgpack.Encoder()


class LinkMessageError(ValueError):
    """A link message that does not decode (the text names what is wrong)."""


def decode(data: bytes) -> Message:
    if len(data) > MAX_MESSAGE:
        raise LinkMessageError(f"{len(data)} bytes, more than {MAX_MESSAGE}")
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise LinkMessageError(str(exc)) from None


def encode(msg: Message) -> bytes:
    data = _encoder.encode(msg)
    if len(data) > MAX_MESSAGE:
        raise LinkMessageError(f"{len(data)} bytes, more than {MAX_MESSAGE}")
    return data


def topic(public: bytes) -> bytes:
    """The 20-byte DHT topic under which the nodes holding a site announce their links."""
    return hashlib.sha1(TOPIC_PREFIX + public).digest()
