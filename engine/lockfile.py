"""One process per folder: an ``flock``-ed file that names its holder's pid."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import EngineLockedError
from .paths import private_dir


class PidLock:
    """An exclusive, non-blocking lock on ``path``, released when the process dies.

    Args:
        path: the lock file (created 0600).
        what: what the lock protects, for the error message.
    """

    def __init__(self, path: Path, what: str):
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> PidLock:
        """Take the lock or raise :class:`EngineLockedError` naming the holder's pid."""
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise EngineLockedError(
                f"{self.what} is in use by process {holder} (lock {self.path}); stop it or use "
                "another TIDEGATE_HOME") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
