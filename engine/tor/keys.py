"""The key material tor's control port wants for a site's onion service.

A site's identity is a 32-byte ed25519 seed (see :mod:`engine.chain.keys`). ``ADD_ONION
ED25519-V3:<blob>`` does not take the seed but tor's 64-byte *expanded* secret key: the
SHA-512 of the seed with the scalar half clamped (rend-spec-v3, appendix; tor's
``ed25519_secret_key_from_seed``). The onion address tor answers with is then the site's
address, :func:`engine.chain.address.address_of` of the seed's public key.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..chain.address import address_of
from ..errors import TidegateError

SEED_BYTES = 32


def _check_seed(seed: bytes) -> bytes:
    if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_BYTES:
        size = len(seed) if isinstance(seed, bytes | bytearray) else type(seed).__name__
        raise TidegateError(f"onion service key: an ed25519 seed is {SEED_BYTES} bytes, "
                            f"not {size}")
    return bytes(seed)


def expanded_key(seed: bytes) -> bytes:
    """The 64-byte expanded ed25519 secret key (clamped SHA-512 of the 32-byte seed)."""
    h = bytearray(hashlib.sha512(_check_seed(seed)).digest())
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def onion_key_blob(seed: bytes) -> str:
    """Base64 of :func:`expanded_key`: the ``ED25519-V3:`` key content of ``ADD_ONION``."""
    return base64.b64encode(expanded_key(seed)).decode("ascii")


def onion_address(seed: bytes) -> str:
    """``<56 base32 characters>.onion``: the address tor gives the service of ``seed``."""
    public = Ed25519PrivateKey.from_private_bytes(_check_seed(seed)).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return address_of(public)
