"""Durable file writes shared by resume data and site chains: fsync data, rename, fsync
the folder, so a crash leaves the old or the new content, never a torn file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it and rename it over ``path``.

    The folder still needs :func:`sync_folder` for the rename to be durable.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def sync_folder(folder: Path) -> None:
    """Make the folder's entries (new names, renames) durable."""
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
