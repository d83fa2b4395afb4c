"""Writing and deleting files of an owned site's source folder for a program
(``site_write``, ``site_delete``; docs/program-api.md).

The path is checked as text first (relative, ``/``-separated, no empty, ``.`` or ``..``
segment, no backslash or NUL, bounded), then walked one folder at a time from the source
folder with ``O_NOFOLLOW | O_DIRECTORY`` descriptors (:mod:`.folder` reads it the same
way at publish), so a symlink anywhere on the way, even one swapped in after a check, is
refused and never followed out of the folder. A whole-file write goes to a new temporary
file in the target's folder, is fsynced and renamed over the name (atomic: a publish
sees the old file or the new one); a write at an offset changes the regular file in
place. Runs on the sites thread, so a write never races a publish.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from ..commands_apps import MAX_WRITE
from ..errors import InputError, SiteError
from .snapshot import RESERVED

MAX_PATH = 1024
MAX_SEGMENT = 255
MAX_FILE = 1 << 40
"""An offset plus data past this is refused (a sparse file of a petabyte is no site)."""
_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_EDIT = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
TEMP_PREFIX = ".tidegate-write-"


def check_path(path: str, where: str) -> list[str]:
    """The segments of a site path, or InputError naming what is wrong."""
    if not path or len(path.encode("utf-8", "surrogatepass")) > MAX_PATH:
        raise InputError(where, f"path {path!r}: 1 to {MAX_PATH} bytes")
    if path.startswith("/"):
        raise InputError(where, f"path {path!r} is absolute: give it relative to the site")
    if "\\" in path or "\x00" in path or any(ord(c) < 0x20 for c in path):
        raise InputError(where, f"path {path!r} has a backslash or a control character")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise InputError(where, f"path {path!r} has an empty, '.' or '..' segment "
                                    "(nothing outside the site's folder is reached)")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_SEGMENT:
            raise InputError(where, f"path {path!r}: a name over {MAX_SEGMENT} bytes")
    if parts[0] == RESERVED:
        raise InputError(where, f"path {path!r}: {RESERVED}/ is not published")
    return parts


def _open_dir(folder: Path, parts: list[str], create: bool, where: str) -> int:
    """A descriptor of the folder holding ``parts[-1]``, every step ``O_NOFOLLOW``."""
    try:
        fd = os.open(folder, _DIR)
    except OSError as exc:
        raise SiteError(str(folder), f"{where}: the source folder cannot be opened "
                                     f"({exc.strerror})") from None
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                nxt = os.open(part, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise InputError(where, f"{'/'.join(parts[:i + 1])} is a symlink or "
                                            "not a folder: not followed") from None
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(folder: Path, path: str, data: bytes, offset: int | None = None,
               truncate: bool = False) -> int:
    """Write ``data`` as the whole file (``offset`` None: atomic) or at ``offset``
    (``truncate``: cut the file after it); returns the file's size after the write."""
    where = "site_write"
    parts = check_path(path, where)
    if len(data) > MAX_WRITE:
        raise InputError(where, f"data: {len(data)} bytes, at most {MAX_WRITE} per call "
                                "(write the rest at offsets)")
    if offset is not None and not (0 <= offset and offset + len(data) <= MAX_FILE):
        raise InputError(where, f"offset {offset}: 0 to {MAX_FILE} minus the data")
    try:
        dfd = _open_dir(folder, parts, True, where)
    except OSError as exc:
        raise SiteError(path, f"{where}: {exc.strerror}") from None
    name = parts[-1]
    try:
        if offset is None:
            return _replace(dfd, name, data, path)
        return _edit(dfd, name, data, offset, truncate, path)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENOTDIR, errno.ENXIO):
            raise InputError(where, f"{path} is a symlink, a folder or not a regular file: "
                                    "not written") from None
        raise SiteError(path, f"{where}: {exc.strerror}") from None
    finally:
        os.close(dfd)


def _replace(dfd: int, name: str, data: bytes, path: str) -> int:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
            raise IsADirectoryError(errno.EISDIR, "a folder", path)
    temp = TEMP_PREFIX + secrets.token_hex(8)
    fd = os.open(temp, _NEW, 0o644, dir_fd=dfd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dfd)
        raise
    os.fsync(dfd)
    return len(data)


def _edit(dfd: int, name: str, data: bytes, offset: int, truncate: bool, path: str) -> int:
    fd = os.open(name, _EDIT, 0o644, dir_fd=dfd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENXIO, "not a regular file", path)
        view = memoryview(data)
        pos = offset
        while view:
            n = os.pwrite(fd, view, pos)
            view, pos = view[n:], pos + n
        if truncate:
            os.ftruncate(fd, offset + len(data))
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def delete_file(folder: Path, path: str) -> None:
    """Remove a file (never a folder, never through a symlink on the way)."""
    where = "site_delete"
    parts = check_path(path, where)
    try:
        dfd = _open_dir(folder, parts, False, where)
    except FileNotFoundError:
        raise InputError(where, f"{path}: no such file in the site's folder") from None
    except OSError as exc:
        raise SiteError(path, f"{where}: {exc.strerror}") from None
    try:
        st = os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(where, f"{path} is a folder: delete its files")
        os.unlink(parts[-1], dir_fd=dfd)
        os.fsync(dfd)
    except FileNotFoundError:
        raise InputError(where, f"{path}: no such file in the site's folder") from None
    finally:
        os.close(dfd)


def remove_leftovers(folder: Path, limit: int = 10_000) -> list[str]:
    """Remove what a write cut short by a crash left in ``folder``: files named
    ``.tidegate-write-*`` (writes and publishes run one at a time on the sites thread, so
    none is in flight when a publish calls this). Symlinks are never followed; at most
    ``limit`` folders are looked at. Returns the paths removed, relative to ``folder``."""
    removed: list[str] = []
    seen = 0
    for top, dirs, files in os.walk(folder, followlinks=False):
        seen += 1
        if seen > limit:
            break
        here = Path(top)
        if here == folder:
            dirs[:] = [d for d in dirs if d != RESERVED]
        for name in files:
            if not name.startswith(TEMP_PREFIX):
                continue
            path = here / name
            with contextlib.suppress(OSError):
                if stat.S_ISREG(path.lstat().st_mode):
                    path.unlink()
                    removed.append(str(path.relative_to(folder)))
    return removed
