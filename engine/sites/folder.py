"""Copying a site's source folder without following links, each file opened once.

The source folder may be writable by others (a shared web root). A check by path followed by
a second open by path lets someone swap a file for a symlink in between and get a file only
the publisher can read into the signed snapshot. So every folder is opened relative to its
parent's descriptor with ``O_NOFOLLOW | O_DIRECTORY``, every file with ``O_NOFOLLOW |
O_NONBLOCK`` relative to its folder's descriptor, and what is copied is what that one
descriptor reads, after ``fstat`` says it is a regular file. A symlink, FIFO, socket or
device is an error naming its path, and a FIFO is never waited on.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import CreateError

_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | \
    getattr(os, "O_NOCTTY", 0)
_OUT_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20
ONLY_REGULAR = "snapshots hold regular files only"


def kind_of(mode: int) -> str:
    """What a non-regular file is, for error messages."""
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _refused(path: Path, mode: int) -> CreateError:
    return CreateError(f"{path}: {kind_of(mode)}; {ONLY_REGULAR}")


def _open_at(name: str, flags: int, dir_fd: int | None, path: Path) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            # O_NOFOLLOW met a symlink (or a folder turned into something else)
            try:
                mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            except OSError:
                mode = stat.S_IFLNK
            raise _refused(path, mode) from None
        raise CreateError(f"{path}: cannot be opened ({exc.strerror})") from None


@contextmanager
def _fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def copy_tree(folder: Path, dest: Path, skip_top: frozenset[str] = frozenset(),
              link: bool = False, opened: Callable[[Path], None] | None = None) -> int:
    """Copy every regular file under ``folder`` to ``dest`` (created, must not exist),
    refusing links and special files by path; returns the number of files.

    ``skip_top`` names top-level entries left out. ``link`` hard-links instead of copying
    where it can (the link is checked after it is made, so it is never one to a symlink).
    ``opened(path)`` is called after a file is opened and checked, before it is read (a
    test's hook to change the folder at the worst moment)."""
    try:
        root = os.open(folder, _DIR_FLAGS)
    except OSError as exc:
        raise CreateError(f"{folder}: not a folder ({exc.strerror})") from None
    with _fd(root):
        return _copy_dir(root, folder, dest, skip_top, link, opened)


def _copy_dir(dfd: int, here: Path, dest: Path, skip: frozenset[str], link: bool,
              opened: Callable[[Path], None] | None) -> int:
    os.mkdir(dest, 0o700)
    count = 0
    with os.scandir(dfd) as it:
        names = sorted(e.name for e in it)
    for name in names:
        if name in skip:
            continue
        path = here / name
        try:
            mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue  # gone since the listing
        if stat.S_ISDIR(mode):
            sub = _open_at(name, _DIR_FLAGS, dfd, path)
            with _fd(sub):
                count += _copy_dir(sub, path, dest / name, frozenset(), link, opened)
            continue
        if not stat.S_ISREG(mode):
            raise _refused(path, mode)
        if link and _link(dfd, name, path, dest / name):
            count += 1
            continue
        src = _open_at(name, _FILE_FLAGS, dfd, path)
        with _fd(src):
            st = os.fstat(src)
            if not stat.S_ISREG(st.st_mode):
                raise _refused(path, st.st_mode)
            if opened is not None:
                opened(path)
            _copy_fd(src, path, dest / name)
        count += 1
    return count


def _copy_fd(src: int, path: Path, target: Path) -> None:
    os.set_blocking(src, True)
    out = os.open(target, _OUT_FLAGS, 0o600)
    with _fd(out):
        try:
            while chunk := os.read(src, _CHUNK):
                _write_all(out, chunk)
        except OSError as exc:
            raise CreateError(f"{path}: cannot be read ({exc.strerror})") from None


def _link(dfd: int, name: str, path: Path, target: Path) -> bool:
    """Hard-link ``name`` (never following a symlink) to ``target``; True when the link is
    a regular file. A symlink linked by a race is removed again and refused."""
    try:
        os.link(name, target, src_dir_fd=dfd, follow_symlinks=False)
    except OSError:
        return False
    mode = os.lstat(target).st_mode
    if not stat.S_ISREG(mode):
        os.unlink(target)
        raise _refused(path, mode)
    return True
