"""Creating .torrent files: v1, v2 or hybrid, with progress and cancellation.

This runs outside the engine thread (it never touches the session): hashing a
large folder takes a while and must not stall the session. Progress is
reported per piece; setting the ``cancel`` event stops hashing at the next
piece with :class:`~engine.errors.CancelledError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import libtorrent as lt

from ..errors import CancelledError, CreateError
from ..requests import check_tracker_url

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
        lt.set_piece_hashes(ct, str(root.parent), on_piece)
    except _Cancelled:
        raise CancelledError(f"creating a torrent from {spec.path} was cancelled") from None
    except (RuntimeError, OSError) as exc:
        raise CreateError(f"{spec.path}: cannot read data: {exc}") from None
    data = lt.bencode(ct.generate())
    ti = lt.torrent_info(data)
    ih = ti.info_hashes()
    # A folder holding one file becomes a single-file torrent in v2 (the folder
    # name is dropped), so the data then lives inside ``root`` itself.
    first = ti.layout().file_path(0)
    save_path = root.parent if first.split("/")[0] == root.name and \
        (root.is_file() or "/" in first) else root
    return Created(
        data=data,
        info_hash_v1=str(ih.v1) if ih.has_v1() else None,
        info_hash_v2=str(ih.v2) if ih.has_v2() else None,
        magnet=lt.make_magnet_uri(ti),
        name=ti.name(),
        total_size=ti.total_size(),
        num_files=sum(1 for i in range(ti.num_files())
                      if not ti.layout().file_flags(i) & lt.file_storage.flag_pad_file),
        num_pieces=ti.num_pieces(),
        piece_size=ti.piece_length(),
        save_path=str(save_path),
    )
