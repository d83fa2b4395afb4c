"""The user's proxy token: what proves a request to the proxy is this user's own.

Every local user can connect to 127.0.0.1, so a URL that streams a torrent's files or
makes the node follow a site it does not follow yet carries this token
(``/torrent/<token>/...``, ``/visit/<token>/<address>``). It is 32 random bytes,
URL-safe, kept in ``<data>/proxy.token`` (0600, written atomically, in a folder made
0700 when we create it), and given to frontends in ``WebState.token`` (the engine API is
the user's alone: a 0600 socket, or CURVE keys). A file that is not a regular file of
ours, readable by nobody else, is replaced by a new token.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from ..regular import OPEN_FLAGS

FILE = "proxy.token"
_LENGTH = 43  # secrets.token_urlsafe(32)


def load_or_create(data_dir: Path) -> str:
    path = data_dir / FILE
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return _create(path)
    try:
        st = os.fstat(fd)
        token = os.read(fd, 256).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    private = stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and \
        not st.st_mode & 0o077
    if not private or len(token) != _LENGTH or not token.replace("-", "").replace(
            "_", "").isalnum():
        return _create(path)
    return token


def _create(path: Path) -> str:
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return token


def matches(given: str, token: str) -> bool:
    """Constant-time comparison (a wrong token must not tell how much of it was right)."""
    return bool(token) and hmac.compare_digest(given.encode("utf-8", "replace"),
                                               token.encode("ascii"))
