"""Where a torrent's data may be moved, and whether libtorrent really moved it.

libtorrent's ``move_storage`` treats "no such file or directory" as "this file is not on
disk yet" and skips it, so a target where folders cannot be made (``/proc/self``, ``/sys``)
"succeeds" without moving a byte, and the torrent then points at a folder holding none of
its data. So the target is checked first (a real folder, not on a kernel file system, in
which a folder and a file can be made), and after ``storage_moved_alert`` the files that
were in the old folder are looked for in the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import InputError

SPECIAL = (Path("/proc"), Path("/sys"), Path("/dev"))
"""Kernel file systems: never a place for data."""
SAMPLE = 256
"""Files of a torrent looked for after a move (the first ones found before it)."""


def check_target(path: str) -> Path:
    """``path`` as a folder the data can be moved into (created if needed), or InputError
    naming it and why not."""
    target = Path(path).expanduser()
    if not target.is_absolute():
        raise InputError(path, "target folder must be an absolute path")
    real = Path(os.path.realpath(target))
    for special in SPECIAL:
        if real == special or special in real.parents:
            raise InputError(path, f"{real} is on the kernel's {special} file system, not a "
                                   f"folder for data")
    if target.exists() and not target.is_dir():
        raise InputError(path, "is not a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(path, f"cannot create folder: {exc.strerror or exc}") from None
    try:
        probe = Path(tempfile.mkdtemp(prefix=".tidegate-move-", dir=target))
        try:
            fd = os.open(probe / "probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"x")
            finally:
                os.close(fd)
            os.unlink(probe / "probe")
        finally:
            os.rmdir(probe)
    except OSError as exc:
        raise InputError(path, f"cannot write in this folder: {exc.strerror or exc}") from None
    return target


def present(folder: Path, files: list[str]) -> list[str]:
    """Up to :data:`SAMPLE` of ``files`` (relative) that are in ``folder`` now."""
    out = []
    for rel in files:
        if (folder / rel).is_file():
            out.append(rel)
            if len(out) >= SAMPLE:
                break
    return out


def left_behind(old: Path, new: Path, files: list[str]) -> list[str]:
    """Of ``files`` (present in ``old`` before the move), those still only in ``old``."""
    return [rel for rel in files if (old / rel).is_file() and not (new / rel).is_file()]
