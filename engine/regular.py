"""Opening files the proxy serves or trusts: never through a symlink in the last
component, never blocking, and only regular files (a FIFO planted in place of a file
would hang a plain ``open`` until someone writes to it, and with it every read that
waits on the same threads)."""

from __future__ import annotations

import errno
import os
import stat

OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | \
    getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)


def read_regular(path: str, limit: int) -> bytes:
    """Up to ``limit`` bytes of the regular file at ``path``, opened without following a
    symlink in its last component and without blocking (a FIFO planted there would hang
    a plain ``open`` until someone writes to it). OSError for anything else."""
    fd = os.open(path, OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
