"""Creating .torrent files: v1, v2 or hybrid, with progress and cancellation.

This runs outside the engine thread (it never touches the session): hashing a
large folder takes a while and must not stall the session. Progress is
reported per piece; setting the ``cancel`` event stops hashing at the next
piece with :class:`~engine.errors.CancelledError`.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import libtorrent as lt

from ..errors import CancelledError, CreateError
from ..requests import check_tracker_url
from . import create_v2
from .describe import payload_size
from .names import as_loaded

Format = Literal["v1", "v2", "hybrid"]
_FLAGS = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}


@dataclass(frozen=True, slots=True)
class CreateSpec:
    """What to build."""

    path: str
    format: Format = "hybrid"
    trackers: tuple[str, ...] = ()
    web_seeds: tuple[str, ...] = ()
    comment: str = ""
    private: bool = False
    piece_size: int = 0
    """Bytes; 0 picks a size from the total (libtorrent's rule)."""
    creator: str = ""
    """Left empty by default: no dates or creator strings, so creation is reproducible."""


@dataclass(frozen=True, slots=True)
class Created:
    data: bytes
    """The .torrent file."""
    info_hash_v1: str | None
    info_hash_v2: str | None
    magnet: str
    name: str
    total_size: int
    """The bytes of the files, pad files left out."""
    num_files: int
    num_pieces: int
    piece_size: int
    save_path: str
    """The folder to seed from: the torrent's files are found relative to it."""


class _Cancelled(Exception):
    pass


def create_torrent(
    spec: CreateSpec,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Created:
    """Hash ``spec.path`` and return the torrent.

    Args:
        spec: what to build.
        progress: called as ``progress(pieces_done, pieces_total)``.
        cancel: set it from another thread to stop.
    """
    root = Path(spec.path).expanduser()
    if not root.exists():
        raise CreateError(f"{spec.path}: no such file or folder")
    if spec.piece_size and (spec.piece_size < 16384 or spec.piece_size & (spec.piece_size - 1)):
        raise CreateError(f"piece size {spec.piece_size} must be a power of two >= 16 KiB")
    trackers = [check_tracker_url(u) for u in spec.trackers]
    root = root.resolve()
    try:
        entries = lt.list_files(str(root))
    except (RuntimeError, OSError) as exc:
        raise CreateError(f"{spec.path}: cannot list files: {exc}") from None
    if not entries or sum(e.size for e in entries) == 0:
        raise CreateError(f"{spec.path}: nothing to share (no data in it)")
    try:
        ct = lt.create_torrent(entries, spec.piece_size, _FLAGS[spec.format])
        ours = _plain_files(ct.files())  # hashed here, not by libtorrent (faster)
        if ours and spec.format == "v2":  # create_v2 generates it from a hybrid's layout
            ct = lt.create_torrent(entries, ct.piece_length(), _FLAGS["hybrid"])
    except (RuntimeError, ValueError) as exc:
        raise CreateError(f"{spec.path}: {exc}") from None
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    for url in spec.web_seeds:
        ct.add_url_seed(check_tracker_url(url) if url.startswith("udp") else url)
    if spec.comment:
        ct.set_comment(spec.comment)
    if spec.creator:
        ct.set_creator(spec.creator)
    ct.set_priv(spec.private)
    total = ct.num_pieces()
    done = 0

    def on_piece(_index: int) -> None:
        nonlocal done
        if cancel is not None and cancel.is_set():
            raise _Cancelled()
        done += 1
        if progress is not None:
            progress(done, total)

    try:
        if ours and spec.format == "v1":
            _hash_v1(ct, str(root.parent), on_piece)
            data = lt.bencode(ct.generate())
        elif ours:  # v2, hybrid: on every core, create_v2.py
            v1 = spec.format == "hybrid"
            roots = create_v2.hash_pieces(ct, str(root.parent), on_piece, HASH_THREADS, v1)
            data = create_v2.generate(ct, roots, v1)
        else:
            lt.set_piece_hashes(ct, str(root.parent), on_piece)
            data = lt.bencode(ct.generate())
    except _Cancelled:
        raise CancelledError(f"creating a torrent from {spec.path} was cancelled") from None
    except (RuntimeError, OSError) as exc:
        raise CreateError(f"{spec.path}: cannot read data: {exc}") from None
    try:
        ti = lt.torrent_info(data)
    except RuntimeError as exc:  # (libtorrent's own hybrids of some layouts: create_v2.py)
        raise CreateError(f"{spec.path}: the torrent made does not load: {exc}") from None
    ih = ti.info_hashes()
    # A folder holding one file becomes a single-file torrent in v2 (the folder
    # name is dropped), so the data then lives inside ``root`` itself.
    first = ti.layout().file_path(0)
    # (libtorrent's name for the folder: it drops joiners and bidi marks, names.py)
    save_path = root.parent if first.split("/")[0] == as_loaded(root.name) and \
        (root.is_file() or "/" in first) else root
    return Created(
        data=data,
        info_hash_v1=str(ih.v1) if ih.has_v1() else None,
        info_hash_v2=str(ih.v2) if ih.has_v2() else None,
        magnet=lt.make_magnet_uri(ti),
        name=ti.name(),
        total_size=payload_size(ti.layout()),  # pad files left out
        num_files=sum(1 for i in range(ti.num_files())
                      if not ti.layout().file_flags(i) & lt.file_storage.flag_pad_file),
        num_pieces=ti.num_pieces(),
        piece_size=ti.piece_length(),
        save_path=str(save_path),
    )


HASH_THREADS = max(1, min(4, os.cpu_count() or 1))
"""Threads hashing a v1 torrent (libtorrent's set_piece_hashes uses one)."""
_PIECES_PER_TASK = 16


def _plain_files(fs: lt.file_storage) -> bool:
    """True if every file is a regular file or a pad file (no symlinks)."""
    return not any(fs.file_flags(i) & lt.file_storage.flag_symlink for i in range(fs.num_files()))


def _hash_v1(ct: lt.create_torrent, base: str, on_piece: Callable[[int], None]) -> None:
    """SHA-1 every piece of a v1 torrent on :data:`HASH_THREADS` threads.

    The same hashes as ``lt.set_piece_hashes``, about twice as fast on two cores: hashlib
    and ``os.preadv`` let go of the GIL, so the threads hash in parallel
    (docs/BENCHMARKS.md, "Creating a torrent"). ``on_piece`` is called on this thread, in
    piece order; when it raises, the remaining work is cancelled and the error propagates.
    """
    fs = ct.files()
    piece_len = ct.piece_length()
    num_pieces = ct.num_pieces()
    # (offset in the torrent, size, path or None for a pad file), in torrent order
    files = [(fs.file_offset(i), fs.file_size(i),
              None if fs.file_flags(i) & lt.file_storage.flag_pad_file
              else os.path.join(base, fs.file_path(i)))
             for i in range(fs.num_files()) if fs.file_size(i)]
    ends = [off + size for off, size, _ in files]

    def hash_pieces(first: int, last: int) -> list[bytes]:
        buf = bytearray(piece_len)
        view = memoryview(buf)
        out = []
        fds: dict[str, int] = {}
        try:
            k = bisect.bisect_right(ends, first * piece_len)  # the file holding ``first``
            for index in range(first, last):
                start = index * piece_len
                size = ct.piece_size(index)
                filled = 0
                while filled < size:
                    off, fsize, path = files[k]
                    pos = start + filled - off
                    n = min(size - filled, fsize - pos)
                    if path is None:
                        view[filled:filled + n] = bytes(n)
                    else:
                        fd = fds.get(path)
                        if fd is None:
                            fd = fds[path] = os.open(path, os.O_RDONLY)
                        got = os.preadv(fd, [view[filled:filled + n]], pos)
                        if got != n:
                            raise OSError(f"{path}: file is shorter than when it was listed")
                    filled += n
                    if pos + n == fsize:
                        k += 1
                        if path is not None:
                            os.close(fds.pop(path))
                out.append(hashlib.sha1(view[:size]).digest())
            return out
        finally:
            for fd in fds.values():
                os.close(fd)

    with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="tidegate-hash") as pool:
        tasks: list[tuple[int, Future[list[bytes]]]] = [
            (first, pool.submit(hash_pieces, first, min(first + _PIECES_PER_TASK, num_pieces)))
            for first in range(0, num_pieces, _PIECES_PER_TASK)]
        try:
            for first, fut in tasks:
                for i, digest in enumerate(fut.result(), first):
                    ct.set_hash(i, digest)
                    on_piece(i)
        except BaseException:
            for _, fut in tasks:
                fut.cancel()
            raise
