"""Reading a site's bytes so that none leaves unverified.

A file no longer than one piece is read whole and its blocks' merkle root compared with
the manifest's pieces root. A longer file is read piece by piece: each piece's hash is
compared with the file's piece layer, and the layer (from the snapshot's layers file, or
rebuilt by hashing the file once when that is missing or wrong) was compared with the
pieces root before it is trusted. So a Range request reads and hashes only the pieces it
covers. Files are opened component by component with ``O_NOFOLLOW`` and must be regular
files of the manifest's size: a symlink, a folder or a FIFO planted in a snapshot is never
read.

Verified bytes are cached (bounded, least recently used) and keyed by the file's identity
on disk (device, inode, size, mtime and ctime), so a file changed on disk is read and
verified again.
"""

from __future__ import annotations

import collections
import os
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ..regular import OPEN_FLAGS as _OPEN_FLAGS
from ..regular import read_regular
from ..sites.merkle import (
    decode_layers,
    leaves_of,
    piece_hash,
    piece_layer,
    read_leaves,
    root_from_layer,
    root_of_leaves,
)
from ..sites.served import ServedFile, ServedSite

_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


class Mismatch(Exception):
    """Bytes on disk that do not match the chain (or cannot be read as its file)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


@dataclass(frozen=True, slots=True)
class _Layer:
    piece_length: int
    hashes: tuple[bytes, ...]


def open_regular(folder: str, path: str) -> int:
    """An fd for ``folder/path``, refusing symlinks at every component and anything but a
    regular file. Raises OSError (or Mismatch for a non-regular file)."""
    fd = os.open(folder, _DIR_FLAGS)
    try:
        parts = path.split("/")
        for part in parts[:-1]:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open(parts[-1], _OPEN_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)
    st = os.fstat(out)
    if not stat.S_ISREG(st.st_mode):
        os.close(out)
        raise Mismatch(path, "not a regular file")
    return out


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Verifier:
    """Verified reads for the proxy; thread-safe (reads run in a small thread pool)."""

    def __init__(self, cache_bytes: int):
        self.cache_bytes = cache_bytes
        self._cache: collections.OrderedDict[tuple[object, ...], bytes] = \
            collections.OrderedDict()
        self._cached = 0
        self._layers: dict[tuple[str, bytes], _Layer] = {}
        self._layer_files: dict[str, tuple[int, dict[bytes, list[bytes]]] | None] = {}
        """Layers files read so far (None: missing or unreadable)."""
        self._lock = threading.Lock()
        self.verified_bytes = 0
        """Bytes hashed and found to match (not counting cache hits)."""

    # ------------------------------------------------------------------ cache

    def _get(self, key: tuple[object, ...]) -> bytes | None:
        with self._lock:
            data = self._cache.get(key)
            if data is not None:
                self._cache.move_to_end(key)
            return data

    def _put(self, key: tuple[object, ...], data: bytes) -> None:
        if len(data) > self.cache_bytes // 8:
            return
        with self._lock:
            if key in self._cache:
                return
            self._cache[key] = data
            self._cached += len(data)
            while self._cached > self.cache_bytes:
                _, old = self._cache.popitem(last=False)
                self._cached -= len(old)

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cached = 0

    # ------------------------------------------------------------------ reads

    def open(self, site: ServedSite, f: ServedFile) -> tuple[int, tuple[int, ...]]:
        """An fd of the file and its identity; Mismatch when it cannot be the chain's file."""
        try:
            fd = open_regular(str(site.folder), f.path)
        except OSError as exc:
            raise Mismatch(f.path, f"cannot be opened ({exc.strerror})") from None
        st = os.fstat(fd)
        if st.st_size != f.size:
            os.close(fd)
            raise Mismatch(f.path, f"{st.st_size} bytes on disk, the chain says {f.size}")
        return fd, _identity(st)

    def cached_small(self, site: ServedSite, f: ServedFile) -> bytes | None:
        """A one-piece file's verified bytes from the cache, if the file on disk is still
        the one they were read from (one ``lstat``, no open); None otherwise."""
        if f.root is None or f.size > site.piece_length:
            return None
        try:
            st = os.stat(os.path.join(site.folder, f.path), follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return self._get((_identity(st), f.root, 0))

    def piece_length(self, site: ServedSite, f: ServedFile) -> int:
        """The unit :meth:`read_piece` works in for this file (its size if one piece)."""
        if f.size <= site.piece_length:
            return max(f.size, 1)
        return site.piece_length

    def read_piece(self, site: ServedSite, f: ServedFile, fd: int, ident: tuple[int, ...],
                   index: int) -> bytes:
        """Piece ``index`` of the file, verified; Mismatch if it differs from the chain."""
        if f.root is None:
            return b""
        key = (ident, f.root, index)
        data = self._get(key)
        if data is not None:
            return data
        if f.size <= site.piece_length:
            data = os.pread(fd, f.size, 0)
            if len(data) != f.size or root_of_leaves(leaves_of(data)) != f.root:
                raise Mismatch(f.path, "its content does not match the pieces root in the "
                                       f"chain at height {site.height}")
        else:
            layer = self._layer(site, f, fd)
            start = index * layer.piece_length
            want = min(layer.piece_length, f.size - start)
            data = os.pread(fd, want, start)
            if len(data) != want or piece_hash(data, layer.piece_length) != layer.hashes[index]:
                raise Mismatch(f.path, f"piece {index} does not match the chain at height "
                                       f"{site.height}")
        self.verified_bytes += len(data)
        self._put(key, data)
        return data

    def pieces(self, site: ServedSite, f: ServedFile, start: int, end: int
               ) -> Iterator[tuple[int, int, int]]:
        """``(piece, offset in piece, length)`` covering ``[start, end)``."""
        unit = self.piece_length(site, f)
        pos = start
        while pos < end:
            index = pos // unit
            off = pos - index * unit
            n = min(unit - off, end - pos)
            yield index, off, n
            pos += n

    # ------------------------------------------------------------------ layers

    def _layer(self, site: ServedSite, f: ServedFile, fd: int) -> _Layer:
        assert f.root is not None
        key = (str(site.layers), f.root)
        with self._lock:
            have = self._layers.get(key)
        if have is not None:
            return have
        layer = self._layer_from_file(site, f) or self._layer_from_data(site, f, fd)
        with self._lock:
            self._layers[key] = layer
        return layer

    def _layer_from_file(self, site: ServedSite, f: ServedFile) -> _Layer | None:
        path = str(site.layers)
        with self._lock:
            known = path in self._layer_files
            loaded = self._layer_files.get(path)
        if not known:
            try:
                loaded = decode_layers(read_regular(path, 64 << 20))
            except (OSError, ValueError):
                loaded = None
            with self._lock:
                self._layer_files[path] = loaded
        if not loaded:
            return None
        length, layers = loaded
        hashes = layers.get(f.root or b"")
        if length != site.piece_length:
            return None
        expected = -(-f.size // length) if length else 0
        if hashes is None or len(hashes) != expected or \
                root_from_layer(hashes, length) != f.root:
            return None
        return _Layer(length, tuple(hashes))

    def _layer_from_data(self, site: ServedSite, f: ServedFile, fd: int) -> _Layer:
        """No usable layer on disk: hash the whole file once (a full verification)."""
        with os.fdopen(os.dup(fd), "rb") as fh:
            leaves = read_leaves(fh)
        if root_of_leaves(leaves) != f.root:
            raise Mismatch(f.path, f"its content does not match the pieces root in the chain "
                                   f"at height {site.height}")
        return _Layer(site.piece_length, tuple(piece_layer(leaves, site.piece_length)))

