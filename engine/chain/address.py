"""A site's address: the Tor v3 onion address of its ed25519 public key.

``base32(pubkey || checksum || version) + ".onion"``, with version ``0x03`` and checksum
the first two bytes of ``SHA3-256(".onion checksum" || pubkey || version)`` (Tor's
rend-spec-v3, section 6). One key thus signs the chain and publishes the onion service.
"""

from __future__ import annotations

import base64
import hashlib

from .errors import ChainRejected

VERSION = b"\x03"
SUFFIX = ".onion"


def _checksum(pub: bytes) -> bytes:
    return hashlib.sha3_256(b".onion checksum" + pub + VERSION).digest()[:2]


def address_of(pub: bytes) -> str:
    """``<56 base32 characters>.onion`` for a 32-byte ed25519 public key."""
    if len(pub) != 32:
        raise ValueError(f"an ed25519 public key is 32 bytes, not {len(pub)}")
    return base64.b32encode(pub + _checksum(pub) + VERSION).decode().lower() + SUFFIX


def key_of_address(address: str) -> bytes:
    """The public key inside ``address`` (with or without ``.onion``), checksum verified."""
    text = address.strip().lower().removesuffix(SUFFIX)
    if len(text) != 56:
        raise ChainRejected("bad_address", f"{address!r}: a site address has 56 base32 "
                                           f"characters before .onion, not {len(text)}")
    try:
        raw = base64.b32decode(text.upper())
    except ValueError as exc:
        raise ChainRejected("bad_address", f"{address!r}: not base32 ({exc})") from None
    pub, checksum, version = raw[:32], raw[32:34], raw[34:]
    if version != VERSION:
        raise ChainRejected("bad_address", f"{address!r}: onion version {version.hex()}, "
                                           "only v3 addresses name sites")
    if checksum != _checksum(pub):
        raise ChainRejected("bad_address", f"{address!r}: checksum does not match (a typo?)")
    return pub
