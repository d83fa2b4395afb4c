"""Hashing v2 and hybrid torrents on every core, with libtorrent's output byte for byte.

libtorrent's ``set_piece_hashes`` hashes a hybrid torrent's SHA-1 pieces and SHA-256
merkle trees on one thread (0.65 GB/s here, while two cores hash ~2.5 GB/s), and the 2.1
binding has no ``set_hash2`` to hand it v2 hashes computed elsewhere. So this module reads
each piece once on :data:`HASH_THREADS` threads (hashlib and ``os.preadv`` let go of the
GIL), hashes it both ways, and writes the torrent itself:

* the layout (file order, pad files, piece count) is libtorrent's own ``create_torrent``;
* the v1 hashes go to it with ``set_hash`` and it generates the torrent without its v2
  parts (it does so when not every v2 hash is set; for a v2-only torrent the v1 hashes are
  zeros and the v1 keys are dropped after);
* the ``file tree``, ``meta version`` and ``piece layers`` are added here as libtorrent
  writes them (a file no larger than one piece padded to the next power of two of its
  blocks, piece layers only for files of more than one piece), and the whole bencoded
  (keys sorted at every level, as libtorrent 2.1 orders them too).

``tests/engine/test_create_v2.py`` compares the bytes with ``set_piece_hashes``'s for a
corpus of layouts; a layout it does not cover (symlinks) goes to libtorrent.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import fastbencode
import libtorrent as lt

BLOCK = 16384
ZERO = bytes(32)
_PIECES_PER_TASK = 16


def merkle_root(leaves: list[bytes], pad: bytes = ZERO) -> bytes:
    """The root over ``leaves`` padded with ``pad`` to the next power of two."""
    n = 1
    while n < len(leaves):
        n *= 2
    layer = leaves + [pad] * (n - len(leaves))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest()
                 for i in range(0, len(layer), 2)]
    return layer[0] if layer else pad


def merkle_pad(leaves: int) -> bytes:
    """The root of a subtree of ``leaves`` zero leaves."""
    pad = ZERO
    while leaves > 1:
        pad = hashlib.sha256(pad + pad).digest()
        leaves //= 2
    return pad


@dataclass
class _File:
    index: int
    """In libtorrent's layout (``ct.files()``)."""
    size: int
    path: str
    first_piece: int
    """In the order of :func:`ordered` (pieces are file-aligned: no piece holds two)."""

    @property
    def pieces(self) -> int:
        return -(-self.size // self.first_piece_len) if self.size else 0

    first_piece_len: int = 1


def _parts(path: str) -> list[bytes]:
    return path.encode().split(b"/")


def ordered(fs: lt.file_storage) -> list[int]:
    """The files (pad files left out) in the order of the ``file tree``: by path component
    by component, bytewise. libtorrent lays files out by whole path instead, and where the
    two differ ("docs.html" beside "docs/", '.' < '/') the hybrid it makes does not load
    ("the v1 and v2 file metadata does not match"); the ``files`` list is then written in
    this order (:func:`generate`)."""
    return sorted((i for i in range(fs.num_files())
                   if not fs.file_flags(i) & lt.file_storage.flag_pad_file),
                  key=lambda i: _parts(fs.file_path(i)))


def _layout(ct: lt.create_torrent, base: str) -> list[_File]:
    """Every file of ``ct`` in :func:`ordered` order, each starting a piece (BEP 52)."""
    fs = ct.files()
    plen = ct.piece_length()
    out, piece = [], 0
    for i in ordered(fs):
        f = _File(i, fs.file_size(i), os.path.join(base, fs.file_path(i)), piece, plen)
        out.append(f)
        piece += f.pieces
    return out


def hash_pieces(ct: lt.create_torrent, base: str, on_piece: Callable[[int], None],
                threads: int, v1: bool) -> dict[int, list[bytes]]:
    """SHA-1 every piece (``v1``: set on ``ct``, in the :func:`ordered` layout) and the
    SHA-256 root of every piece of each file; returns file index -> its piece roots.
    ``on_piece`` runs on this thread in piece order; when it raises, the remaining work is
    cancelled and the error propagates."""
    plen = ct.piece_length()
    files = [f for f in _layout(ct, base) if f.size]

    def work(f: _File, first: int, last: int) -> list[tuple[bytes, bytes]]:
        buf = bytearray(plen)
        view = memoryview(buf)
        blocks = -(-f.size // BLOCK)
        padded = 1
        while padded < blocks:
            padded *= 2
        leaves_per_piece = plen // BLOCK if f.size >= plen else padded
        out = []
        fd = os.open(f.path, os.O_RDONLY)
        try:
            for p in range(first, last):
                pos = p * plen
                n = min(plen, f.size - pos)
                if os.preadv(fd, [view[:n]], pos) != n:
                    raise OSError(f"{f.path}: file is shorter than when it was listed")
                leaves = [hashlib.sha256(view[i:min(i + BLOCK, n)]).digest()
                          for i in range(0, n, BLOCK)]
                root = merkle_root(leaves + [ZERO] * (leaves_per_piece - len(leaves)))
                sha1 = b""
                if v1:  # a whole piece (the pad file after it) but a single file's last
                    size = ct.piece_size(f.first_piece + p)
                    view[n:size] = bytes(size - n)
                    sha1 = hashlib.sha1(view[:size]).digest()
                out.append((sha1, root))
        finally:
            os.close(fd)
        return out

    roots: dict[int, list[bytes]] = {f.index: [] for f in files}
    with ThreadPoolExecutor(threads, thread_name_prefix="tidegate-hash") as pool:
        tasks: list[tuple[_File, int, Future[list[tuple[bytes, bytes]]]]] = [
            (f, first, pool.submit(work, f, first, min(first + _PIECES_PER_TASK, f.pieces)))
            for f in files for first in range(0, f.pieces, _PIECES_PER_TASK)]
        try:
            for f, first, fut in tasks:
                for p, (sha1, root) in enumerate(fut.result(), first):
                    if v1:
                        ct.set_hash(f.first_piece + p, sha1)
                    roots[f.index].append(root)
                    on_piece(f.first_piece + p)
        except BaseException:
            for _, _, fut in tasks:
                fut.cancel()
            raise
    return roots


def generate(ct: lt.create_torrent, roots: dict[int, list[bytes]], v1: bool) -> bytes:
    """The torrent ``ct`` (made as a hybrid: ``flags`` 0) describes, with its v2 parts
    made from the file ``roots`` (and its v1 parts when ``v1``), as
    ``create_torrent::generate_buf`` writes it."""
    fs = ct.files()
    if not v1:  # v2 only: libtorrent generates only with every v1 hash set; dropped below
        for i in range(ct.num_pieces()):
            ct.set_hash(i, b"\x01" * 20)  # (all zeros reads as "not set")
    top = fastbencode.bdecode(bytes(lt.bencode(ct.generate())))
    info = top.pop(b"info")
    if not v1:
        for key in (b"files", b"length", b"pieces", b"attr"):
            info.pop(key, None)
    elif b"files" in info:
        info[b"files"] = _v1_files(ct)
    pad = merkle_pad(ct.piece_length() // BLOCK)
    file_roots = {i: merkle_root(r, pad) for i, r in roots.items()}
    info[b"meta version"] = 2
    info[b"file tree"] = _file_tree(fs, file_roots)
    top[b"info"] = info
    top[b"piece layers"] = {file_roots[i]: b"".join(r) for i, r in roots.items()
                            if len(r) > 1}
    return bytes(fastbencode.bencode(top))


def _v1_files(ct: lt.create_torrent) -> list[dict[bytes, object]]:
    """The v1 ``files`` list in :func:`ordered` order, each file followed by the pad file
    that fills its last piece (as libtorrent writes it: ``attr`` "p", ``.pad/<size>``)."""
    fs = ct.files()
    plen = ct.piece_length()
    files = ordered(fs)
    tail = bool(fs.file_flags(fs.num_files() - 1) & lt.file_storage.flag_pad_file)
    out: list[dict[bytes, object]] = []
    for i in files:
        entry: dict[bytes, object] = {b"length": fs.file_size(i),
                                      b"path": _parts(fs.file_path(i))[1:]}
        attr = _attr(fs.file_flags(i))
        if attr:
            entry[b"attr"] = attr
        out.append(entry)
        pad = -fs.file_size(i) % plen
        if pad and (tail or i != files[-1]):  # (one file alone has none after it)
            out.append({b"attr": b"p", b"length": pad, b"path": [b".pad", b"%d" % pad]})
    return out


def _attr(flags: int) -> bytes:
    attr = b""
    if flags & lt.file_storage.flag_hidden:
        attr += b"h"
    if flags & lt.file_storage.flag_executable:
        attr += b"x"
    return attr


def _file_tree(fs: lt.file_storage, file_roots: dict[int, bytes]) -> dict[bytes, Any]:
    """The ``file tree`` dict: one dict per directory, each file's entry under ``""``."""
    multifile = fs.num_files() > 1 or "/" in fs.file_path(0)
    tree: dict[bytes, Any] = {}
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        parts = fs.file_path(i).encode().split(b"/")
        node = tree
        for part in parts[1:] if multifile else parts:
            node = node.setdefault(part, {})
        entry: dict[bytes, object] = {b"length": fs.file_size(i)}
        attr = _attr(fs.file_flags(i))
        if attr:
            entry[b"attr"] = attr
        if fs.file_size(i):
            entry[b"pieces root"] = file_roots[i]
        node[b""] = entry
    return tree
