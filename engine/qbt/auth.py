"""Logins of the qBittorrent API: the stored password hash, sessions and bans.

What qBittorrent learned from CVE-2023-30801 (a default ``adminadmin`` that nobody
changed): there is no default password. At the first start without one a random
password is made, its hash stored, and the password itself handed back once for the
daemon to print; ``tidegate qbt password`` sets another. Only the hash is kept, in
qBittorrent's own format (``WebUI\\Password_PBKDF2``): PBKDF2-HMAC-SHA512, 100,000
iterations, a 16-byte salt and a 64-byte key, written ``base64(salt):base64(key)``, in
``<data>/qbt-password`` (0600). The file is read at every login, so a new password
counts at once.

Failed logins are counted per client address; after ``max_auth_fail_count`` the address
is banned for ``ban_duration`` seconds (qBittorrent: 5 and 3600 by default), and a banned
address gets 403 for every request, its login included. Sessions are random 32-character
ids (the ``SID`` cookie) that expire after ``session_timeout`` seconds without a request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

ITERATIONS = 100_000
SALT_BYTES = 16
KEY_BYTES = 64
FILE = "qbt-password"
MAX_SESSIONS = 256
"""Sessions kept at once; the one used least recently goes first."""
MAX_TRACKED = 10_000
"""Addresses whose failures are remembered at once (the oldest are forgotten first)."""
MAX_PASSWORD = 1024
"""Longest password accepted (hashing a megabyte would be a cheap way to burn CPU)."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    """qBittorrent's ``Password_PBKDF2`` value for ``password``."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, KEY_BYTES)
    return f"{base64.b64encode(salt).decode()}:{base64.b64encode(key).decode()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``base64(salt):base64(key)`` hash (constant time)."""
    salt_text, sep, key_text = stored.strip().partition(":")
    if not sep or len(password) > MAX_PASSWORD:
        return False
    try:
        salt = base64.b64decode(salt_text, validate=True)
        key = base64.b64decode(key_text, validate=True)
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, len(key) or 1)
    return hmac.compare_digest(got, key)


def password_file(data_dir: Path) -> Path:
    return data_dir / FILE


def store_password(data_dir: Path, password: str) -> Path:
    """Write the hash of ``password`` (0600, replacing the file whole)."""
    if not password or len(password) > MAX_PASSWORD:
        raise ValueError(f"a password has 1 to {MAX_PASSWORD} characters")
    path = password_file(data_dir)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, hash_password(password).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def read_hash(data_dir: Path) -> str:
    """The stored hash, "" when there is none."""
    try:
        return password_file(data_dir).read_text().strip()
    except FileNotFoundError:
        return ""


def ensure_password(data_dir: Path) -> str:
    """Make and store a password when none is stored; returns it ("" when one was)."""
    if read_hash(data_dir):
        return ""
    password = secrets.token_urlsafe(12)
    store_password(data_dir, password)
    return password


class Bans:
    """Failed logins per address, and the addresses banned for them."""

    def __init__(self, max_failures: int, duration: float,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.duration = duration
        self.clock = clock
        self._failures: dict[str, int] = {}
        self._banned: dict[str, float] = {}
        """address -> when its ban ends."""

    def banned(self, address: str) -> bool:
        until = self._banned.get(address)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self._banned[address]
        return False

    def failed(self, address: str) -> None:
        count = self._failures.pop(address, 0) + 1
        if count >= self.max_failures:
            self._banned[address] = self.clock() + self.duration
            while len(self._banned) > MAX_TRACKED:
                del self._banned[next(iter(self._banned))]
            return
        self._failures[address] = count
        while len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


class Sessions:
    """Logged-in sessions by SID, each expiring ``timeout`` seconds after its last use."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic):
        self.timeout = timeout
        self.clock = clock
        self._last: dict[str, float] = {}
        self.on_end: Callable[[str], None] = lambda sid: None
        """Told of every session that ends (logout, expiry or eviction)."""

    def new(self) -> str:
        sid = secrets.token_urlsafe(24)[:32]
        self._last[sid] = self.clock()
        while len(self._last) > MAX_SESSIONS:
            self.end(next(iter(self._last)))
        return sid

    def touch(self, sid: str | None) -> bool:
        """True (and the session kept alive) when ``sid`` is a live session."""
        if not sid:
            return False
        last = self._last.get(sid)
        if last is None:
            return False
        if self.clock() - last > self.timeout:
            self.end(sid)
            return False
        del self._last[sid]  # re-inserted last: the dict's order is least recently used
        self._last[sid] = self.clock()
        return True

    def end(self, sid: str) -> None:
        if self._last.pop(sid, None) is not None:
            self.on_end(sid)
