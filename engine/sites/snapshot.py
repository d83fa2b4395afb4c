"""Deterministic site snapshots: the same folder content always gives the same torrent.

A snapshot is a hybrid (v1 + v2) torrent named ``site`` holding the folder's regular files
plus ``.tidegate/chain`` (the chain's entries 0..n-1 for snapshot n, so a newcomer verifies
from genesis with one download). What makes it reproducible, so anyone can rebuild a
snapshot from the site's source and compare it with the chain:

* files in canonical order (libtorrent sorts the v2 file tree; pad files follow from it);
* the piece size from the total size alone (:func:`piece_size_for`);
* no creation date, creator, comment, trackers, file attributes or modification times;
* only regular files: a symlink or special file is an error naming it, never followed.

The folder's own ``.tidegate`` folder, if any, is ignored: that name is the snapshot's.
The manifest for the chain comes from the torrent itself: each file's path, size and BEP 52
pieces root.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt

from ..chain import FileRecord
from ..chain.entry import magnet_for, path_key
from ..errors import CreateError
from ..torrents import create_v2
from ..torrents.create import HASH_THREADS
from .folder import copy_tree, kind_of

NAME = "site"
RESERVED = ".tidegate"
CHAIN_FILE = (RESERVED, "chain")
MIN_PIECE = 16 << 10
MAX_PIECE = 4 << 20
TARGET_PIECES = 1024


def piece_size_for(total: int) -> int:
    """The smallest power of two from 16 KiB to 4 MiB giving at most 1,024 pieces."""
    size = MIN_PIECE
    while size < MAX_PIECE and total > size * TARGET_PIECES:
        size *= 2
    return size


@dataclass(frozen=True, slots=True)
class SiteSnapshot:
    data: bytes
    """The .torrent file."""
    info_hash_v2: bytes
    info_hash_v1: bytes
    magnet: str
    files: tuple[FileRecord, ...]
    """The manifest, in the chain's order (sorted by path), the chain file included."""
    piece_size: int
    save_path: Path
    """The folder to seed from (it holds ``site/``)."""


def scan(folder: Path, reserved: bool = False) -> list[tuple[tuple[str, ...], Path]]:
    """``(path components, file)`` for every regular file under ``folder``, sorted;
    the top-level ``.tidegate`` folder only with ``reserved`` (a staged snapshot's)."""
    if not folder.is_dir():
        raise CreateError(f"{folder}: not a folder")
    found: list[tuple[tuple[str, ...], Path]] = []
    for top, dirs, files in os.walk(folder, followlinks=False):
        here = Path(top)
        rel = here.relative_to(folder).parts
        if not rel and not reserved:
            dirs[:] = [d for d in dirs if d != RESERVED]
        for name in dirs:
            if (here / name).is_symlink():
                raise CreateError(f"{here / name}: a symlink; snapshots hold regular files "
                                  "only")
        for name in files:
            path = here / name
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode):
                raise CreateError(f"{path}: {kind_of(mode)}; snapshots hold regular files "
                                  "only")
            found.append(((*rel, name), path))
    found.sort(key=lambda item: path_key(item[0]))
    return found


def stage(folder: Path, chain_file: bytes, dest: Path, link: bool = False,
          opened: Callable[[Path], None] | None = None) -> None:
    """Lay out ``dest/site/`` from ``folder`` plus the chain file.

    Files are copied, so editing the source in place later cannot change a published
    snapshot under its seeders; ``link`` hard-links instead (a throw-away rebuild). Each
    source file is opened once, without following links at any component, and what that
    descriptor reads is what is copied (:mod:`.folder`): a file swapped for a symlink after
    the listing is refused, never read. ``opened`` is :func:`.folder.copy_tree`'s hook."""
    site = dest / NAME
    if site.exists():
        shutil.rmtree(site)
    dest.mkdir(parents=True, exist_ok=True)
    copy_tree(folder, site, frozenset({RESERVED}), link, opened)
    chain = site.joinpath(*CHAIN_FILE)
    chain.parent.mkdir(parents=True, exist_ok=True)
    chain.write_bytes(chain_file)


def build(dest: Path, progress: Callable[[int, int], None] | None = None) -> SiteSnapshot:
    """Hash ``dest/site/`` (laid out by :func:`stage`) into the snapshot torrent;
    ``progress(bytes done, total)`` is called as pieces are hashed."""
    entries = []
    for parts, path in scan(dest / NAME, reserved=True):
        entries.append(lt.create_file_entry("/".join((NAME, *parts)), path.stat().st_size))
    total = sum(e.size for e in entries)
    try:
        ct = lt.create_torrent(entries, piece_size_for(total), 0)  # hybrid
        ct.set_creation_date(0)
        piece = ct.piece_length()

        def on_piece(i: int) -> None:
            if progress is not None:
                progress(min(total, (i + 1) * piece), total)
        # on every core; the files listed in the file tree's order: libtorrent's own
        # hybrid of "docs/" beside "docs.html" does not load (create_v2.py)
        roots = create_v2.hash_pieces(ct, str(dest), on_piece, HASH_THREADS, v1=True)
        data = create_v2.generate(ct, roots, v1=True)
        ti = lt.torrent_info(data)
    except (RuntimeError, OSError, ValueError) as exc:
        raise CreateError(f"{dest / NAME}: cannot build the snapshot: {exc}") from None
    ih = ti.info_hashes()
    fs = ti.layout()
    files = []
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        parts = tuple(fs.file_path(i).split("/")[1:])
        size = fs.file_size(i)
        files.append(FileRecord(parts, size, fs.root(i).to_bytes() if size else None))
    files.sort(key=lambda f: path_key(f.path))
    v2, v1 = ih.v2.to_bytes(), ih.v1.to_bytes()
    return SiteSnapshot(data, v2, v1, magnet_for(v2, v1), tuple(files), ti.piece_length(),
                        dest)


def snapshot(folder: Path, chain_file: bytes, dest: Path, *, link: bool = False,
             progress: Callable[[int, int], None] | None = None,
             opened: Callable[[Path], None] | None = None) -> SiteSnapshot:
    """Stage ``folder`` with ``chain_file`` under ``dest`` and build its snapshot."""
    stage(folder, chain_file, dest, link, opened)
    return build(dest, progress)


def differences(expected: tuple[FileRecord, ...], magnet: str, built: SiteSnapshot) -> list[str]:
    """What differs between a chain entry's snapshot and one rebuilt from source: empty
    when the rebuild matches byte for byte (same magnet, same manifest)."""
    out = []
    want = {f.path: f for f in expected}
    got = {f.path: f for f in built.files}
    for path in sorted(want.keys() | got.keys()):
        a, b = want.get(path), got.get(path)
        name = "/".join(path)
        if a is None:
            out.append(f"{name}: not in the chain's snapshot")
        elif b is None:
            out.append(f"{name}: missing from the rebuilt folder")
        elif (a.size, a.root) != (b.size, b.root):
            out.append(f"{name}: content differs ({a.size} bytes in the chain, {b.size} here)")
    if not out and magnet != built.magnet:
        out.append(f"same files but another torrent: {built.magnet} instead of {magnet}")
    return out


METAINFO_LIMITS = {"max_buffer_size": 16 << 20, "max_pieces": 1 << 21,
                   "max_decode_depth": 100, "max_decode_tokens": 3_000_000}
"""Decoding limits for snapshot metainfo fetched from elsewhere."""


def metainfo_names(data: bytes, magnet: str) -> bool:
    """True when ``data`` is a torrent whose info-hashes give exactly ``magnet`` (the
    canonical snapshot magnet a verified UPDATE names). Anything else is False."""
    if not data.startswith(b"d") or len(data) > METAINFO_LIMITS["max_buffer_size"]:
        return False
    try:
        # the stubs type the second argument wrongly: the binding takes these keys
        atp = lt.load_torrent_buffer(data, METAINFO_LIMITS)  # type: ignore[call-overload]
        ti = atp.ti
        if ti is None or not ti.is_valid():
            return False
        ih = ti.info_hashes()
        if not ih.has_v2():
            return False
        v1 = ih.v1.to_bytes() if ih.has_v1() else None
        return magnet_for(ih.v2.to_bytes(), v1) == magnet
    except (RuntimeError, ValueError, TypeError):
        return False
