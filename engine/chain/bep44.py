"""BEP 44 mutable items as signed values that travel on their own (sans-IO).

A mutable item is ``(k, salt, seq, v, sig)``: ``sig`` is the ed25519 signature by ``k``
of the bencoded fragment ``4:salt<len>:<salt>3:seqi<seq>e1:v<bencoded v>`` (the salt part
only when the salt is not empty). Whoever holds the five parts can hand the item on
(a follower re-putting the owner's head, a node forwarding a pushed head) without the
owner's key, and whoever receives it checks it against ``k`` alone: an item is trusted
for its signature, never for where it came from.

``v`` is kept **bencoded** (:attr:`SignedItem.value`), exactly as signed: libtorrent's
Python binding stores a plain string (so ``value`` is ``b"<len>:<bytes>"``), a BEP 46
item is a dict (``d2:ih20:...e``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import fastbencode
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .keys import SiteKey

MAX_VALUE = 1000
"""BEP 44: a bencoded ``v`` is at most 1000 bytes."""
MAX_SALT = 64
"""BEP 44: a salt is at most 64 bytes."""
MAX_SEQ = 2**63 - 1
"""``seq`` is a signed 64-bit integer on the wire (libtorrent's ``std::int64_t``)."""


def signing_bytes(salt: bytes, seq: int, value: bytes) -> bytes:
    """What ``k`` signs: the salt (when there is one), the seq and the bencoded ``v``."""
    head = b"4:salt%d:%s" % (len(salt), salt) if salt else b""
    return head + b"3:seqi%de1:v" % seq + value


def target(public: bytes, salt: bytes) -> bytes:
    """The 20-byte DHT key an item is stored under: SHA-1 of ``k`` then ``salt``."""
    return hashlib.sha1(public + salt).digest()


def bencode_string(data: bytes) -> bytes:
    """``v`` as libtorrent's binding stores a value given as bytes."""
    return b"%d:%s" % (len(data), data)


@dataclass(frozen=True, slots=True)
class SignedItem:
    """One BEP 44 mutable item, as signed by ``public``."""

    public: bytes
    salt: bytes
    seq: int
    value: bytes
    """``v`` bencoded, exactly the bytes covered by the signature."""
    sig: bytes

    @classmethod
    def sign(cls, key: SiteKey, salt: bytes, seq: int, value: bytes) -> SignedItem:
        """``value`` (bencoded) signed by ``key`` at ``seq``."""
        check_shape(key.public, salt, seq, value, b"\0" * 64)
        return cls(key.public, salt, seq, value, key.sign(signing_bytes(salt, seq, value)))

    def valid(self) -> bool:
        """True when the shape is BEP 44's and ``sig`` is ``public``'s over the rest."""
        try:
            check_shape(self.public, self.salt, self.seq, self.value, self.sig)
            Ed25519PublicKey.from_public_bytes(self.public).verify(
                self.sig, signing_bytes(self.salt, self.seq, self.value))
        except (ValueError, InvalidSignature):
            return False
        return True

    def decoded(self) -> object:
        """``v`` decoded (``bytes`` for a string value, a dict for BEP 46)."""
        return fastbencode.bdecode(self.value)

    @property
    def target(self) -> bytes:
        return target(self.public, self.salt)


def check_shape(public: bytes, salt: bytes, seq: int, value: bytes, sig: bytes) -> None:
    """Raises ValueError naming the part of an item that breaks BEP 44's sizes."""
    if len(public) != 32:
        raise ValueError(f"k must be 32 bytes, not {len(public)}")
    if len(salt) > MAX_SALT:
        raise ValueError(f"salt must be at most {MAX_SALT} bytes, not {len(salt)}")
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"seq {seq} is out of range")
    if not 0 < len(value) <= MAX_VALUE:
        raise ValueError(f"v must be 1 to {MAX_VALUE} bytes bencoded, not {len(value)}")
    if len(sig) != 64:
        raise ValueError(f"sig must be 64 bytes, not {len(sig)}")
    try:
        decoded = fastbencode.bdecode(value)
    except Exception:
        raise ValueError("v is not bencoded") from None
    if bytes(fastbencode.bencode(decoded)) != value:
        raise ValueError("v is not canonically bencoded")
