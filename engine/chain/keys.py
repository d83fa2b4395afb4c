"""A site's signing key (ed25519, PyCA cryptography) and its key file.

The key file holds the 32-byte seed as text, ``tidegate-site-key-v1 <base64>``, and is
created with mode 0600 and ``O_EXCL``: an existing identity is never overwritten, so a lost
or moved data folder can never silently turn into a new identity for an existing site.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import TidegateError
from ..paths import private_dir
from .address import address_of

MAGIC = "tidegate-site-key-v1"


class SiteKey:
    """An ed25519 private key and the site address it defines."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.address = address_of(self.public)

    @classmethod
    def generate(cls) -> SiteKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SiteKey:
        if len(seed) != 32:
            raise ValueError(f"an ed25519 seed is 32 bytes, not {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def seed(self) -> bytes:
        return self._private.private_bytes(serialization.Encoding.Raw,
                                           serialization.PrivateFormat.Raw,
                                           serialization.NoEncryption())

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def save(self, path: Path) -> None:
        """Write the key file (0600); refuses to replace an existing one."""
        private_dir(path.parent)
        text = f"{MAGIC} {base64.b64encode(self.seed).decode()}\n".encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise TidegateError(f"{path}: a site key is already there; refusing to replace "
                                "an identity") from None
        try:
            os.write(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)

    @classmethod
    def load(cls, path: Path) -> SiteKey:
        try:
            text = path.read_text()
        except OSError as exc:
            raise TidegateError(f"cannot read site key {path}: {exc}") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, where: str) -> SiteKey:
        """A key file's text (``where`` names it in errors)."""
        magic, _, data = text.strip().partition(" ")
        if magic != MAGIC:
            raise TidegateError(f"{where}: not a tidegate site key file")
        try:
            seed = base64.b64decode(data, validate=True)
            return cls.from_seed(seed)
        except ValueError as exc:
            raise TidegateError(f"{where}: damaged site key ({exc})") from None


def verify_signature(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
