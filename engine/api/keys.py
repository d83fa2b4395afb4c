"""CURVE key pairs for tcp endpoints, stored the way ZeroMQ's tools read them.

``zmq.auth.create_certificates`` writes secret keys with mode 0644, so keys are
generated with ``zmq.curve_keypair`` and written here: the secret file is
created 0600 in a 0700 folder, through a temp file and an atomic rename, so a
crash never leaves half a key and no other user can read it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth

from ..errors import ConfigError
from ..paths import private_dir

Z85_ALPHABET = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A CURVE key pair in Z85 text (40 characters each)."""

    public: str
    secret: str


def check_public_key(text: str, where: str) -> str:
    """A Z85 CURVE public key, or a ConfigError naming ``where``."""
    key = text.strip()
    if len(key) != 40 or not set(key) <= Z85_ALPHABET:
        raise ConfigError(f"{text!r} is not a CURVE public key (40 Z85 characters, as printed "
                          "by `tidegate daemon --show-keys`)", key=where)
    return key


def load_or_create(folder: Path, name: str) -> KeyPair:
    """The key pair ``name`` in ``folder``, generated on first use.

    Raises:
        ConfigError: the secret key file is unreadable, malformed, or readable by others.
    """
    secret_file = folder / f"{name}.key_secret"
    if not secret_file.exists():
        _create(folder, name)
    mode = secret_file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"secret key {secret_file} is readable by other users "
                          f"(mode {stat.S_IMODE(mode):o}); run `chmod 600` on it")
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read key file {secret_file}: {exc}") from None
    if not secret or not public:
        raise ConfigError(f"key file {secret_file} has no secret key")
    return KeyPair(public.decode("ascii"), secret.decode("ascii"))


def _create(folder: Path, name: str) -> None:
    private_dir(folder)
    public, secret = (k.decode("ascii") for k in zmq.curve_keypair())
    body = ("#   ****  tidegate CURVE key pair: keep the secret file private  ****\n"
            "metadata\ncurve\n"
            f'    public-key = "{public}"\n')
    _write(folder / f"{name}.key", body, 0o644)
    _write(folder / f"{name}.key_secret", body + f'    secret-key = "{secret}"\n', 0o600)


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
