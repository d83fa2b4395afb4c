"""The node's comment author: one ed25519 seed that signs both ways.

The seed is ``<data_dir>/comments/author.key`` (32 raw bytes, 0600, created once and
never overwritten). It signs tidegate's attestation with ed25519 (PyCA cryptography) and,
through a secp256k1 secret derived from it (``int(sha256(b"tidegate-nostr-v1" + seed))``
mod n, never zero), the Nostr event with BIP-340 Schnorr (coincurve).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from coincurve import PrivateKey, PublicKeyXOnly
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ATTESTATION = b"tidegate-comment-v1"
"""What the ed25519 signature covers: this, then the 32 bytes of the event id."""


class AuthorKeyError(Exception):
    """The author key file cannot be read or made; the message names it."""


def _secp_secret(seed: bytes) -> bytes:
    value = int.from_bytes(hashlib.sha256(b"tidegate-nostr-v1" + seed).digest(), "big")
    value %= SECP256K1_N
    if value == 0:  # probability 2^-256; the rule says nonzero
        value = 1
    return value.to_bytes(32, "big")


@dataclass(frozen=True)
class AuthorKey:
    """An ed25519 seed and the secp256k1 key derived from it."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise AuthorKeyError(f"an author seed is 32 bytes, not {len(self.seed)}")

    @property
    def _ed(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def _secp(self) -> PrivateKey:
        return PrivateKey(_secp_secret(self.seed))

    @property
    def ed25519_public(self) -> str:
        """Hex of the 32-byte ed25519 public key (the ``tidegate`` tag)."""
        return self._ed.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    @property
    def nostr_public(self) -> str:
        """Hex of the 32-byte x-only secp256k1 public key (the event's ``pubkey``)."""
        return PublicKeyXOnly.from_secret(_secp_secret(self.seed)).format().hex()

    def sign_event(self, event_id: bytes) -> bytes:
        """BIP-340 Schnorr signature of the event id (64 bytes)."""
        return self._secp.sign_schnorr(event_id, os.urandom(32))

    def attest(self, event_id: bytes) -> bytes:
        """tidegate's ed25519 signature over ``ATTESTATION + event_id``."""
        return self._ed.sign(ATTESTATION + event_id)


def load_or_create(path: Path) -> AuthorKey:
    """The author key at ``path``, made (0600, its folder 0700) when there is none. An
    existing file is never overwritten: a file of the wrong size is an error naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        seed = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by another process: use that one
            return load_or_create(path)
        try:
            os.write(fd, seed)
            os.fsync(fd)
        finally:
            os.close(fd)
        return AuthorKey(seed)
    except OSError as exc:
        raise AuthorKeyError(f"cannot read the author key {path}: {exc.strerror}") from None
    if len(data) != 32:
        raise AuthorKeyError(f"the author key {path} is {len(data)} bytes, not 32: "
                             "move it away to make a new one")
    return AuthorKey(data)
