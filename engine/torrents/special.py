"""Files libtorrent must not open: a FIFO, socket, device or folder where a torrent's file goes.

libtorrent opens a torrent's files on its disk threads to check them. A FIFO in place of a
file blocks that open until a writer comes, and every other torrent's checking in the
session waits behind it (measured: a seed-mode torrent over a FIFO stays "checking" for
ever, and so does any torrent added after it; docs/RELIABILITY.md). A hosted site's
snapshot is added in seed mode, so a FIFO planted in one stopped the whole node.

So before libtorrent is given a torrent whose file list is known (an add, a restore,
metadata received from a peer, a resume, a recheck), every file the torrent would open is
looked at with ``stat`` (which follows links, as libtorrent's open does). A torrent with a
file that is not a regular file is refused, or held paused with the reason as its error,
until the file is moved away. What is planted while a torrent runs is not caught here: a
check is a look at one moment; the state folders are 0700 so that nobody else can.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Callable, Mapping
from typing import NamedTuple

import libtorrent as lt

from ..errors import InputError

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def kind_of(mode: int) -> str | None:
    """What a file of ``mode`` is, when it is not a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


class Found(NamedTuple):
    """A file of a torrent that is there and is not a regular file."""

    path: str
    kind: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}, not a regular file"


def not_regular(save_path: str, ti: lt.torrent_info,
                renamed: Mapping[int, str] | None = None) -> Found | None:
    """The first of ``ti``'s files (under ``save_path``, with ``renamed`` applied) that
    exists and is not a regular file; None if there is none.

    Missing files are fine (they will be downloaded); so is a file that cannot be looked
    at (libtorrent then reports its own error for it, without blocking).
    """
    names = renamed or {}
    files = disk_files(ti)
    return _first(save_path, files, lambda i: names[i] if i in names else files.file_path(i))


def problem_of(handle: lt.torrent_handle) -> Found | None:
    """:func:`not_regular` for a torrent in the session (its files as renamed)."""
    ti = handle.torrent_file()
    if ti is None:
        return None
    st = handle.status()  # every field: save_path and renamed_files are asked for by flags
    files, renamed = disk_files(ti), st.renamed_files
    return _first(st.save_path, files, lambda i: renamed.file_path(files, i))


def disk_files(ti: lt.torrent_info) -> lt.file_storage:
    """``ti``'s files as libtorrent writes them (de-duplicated, unlike ``layout()``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return ti.files()


def _first(save_path: str, files: lt.file_storage, path_of: Callable[[int], str]) -> Found | None:
    for i in range(files.num_files()):
        if files.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        try:
            path = os.path.join(save_path, path_of(i))
        except UnicodeDecodeError:
            continue  # a name libtorrent cannot give back: engine/torrents/names.py
        try:
            mode = os.stat(path).st_mode
        except (OSError, ValueError):
            continue
        kind = kind_of(mode)
        if kind is not None:
            return Found(path, kind)
    return None


HELD = "held paused: "
"""The start of the error of a torrent held because of a file libtorrent must not open."""


WHY = "libtorrent would wait on it for ever, and every torrent's check with it"


def held_message(found: Found) -> str:
    """The error of a torrent held paused because of ``found``."""
    return f"{HELD}{found}; {WHY}. Move it away, then resume"


def refusal(found: Found, then: str) -> InputError:
    """The error of a command refused because of ``found``; ``then``: what to do after."""
    return InputError(found.path, f"{found.kind}, not a regular file; {WHY}. "
                                  f"Move it away, then {then}")
