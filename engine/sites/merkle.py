"""BEP 52 pieces roots of files on disk, computed without libtorrent.

A pieces root is the SHA-256 merkle root of a file's 16 KiB blocks, the leaves padded
with zero hashes to a power of two. The chain's manifest holds one per file, so a file on
disk is checked against the chain by hashing it here: an independent check of what
libtorrent downloaded, and of what sits on disk later (``tidegate site verify``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

import fastbencode

from ..chain.entry import Update

BLOCK = 16 << 10
LAYERS_FILE = "layers"
"""Next to a snapshot's ``site/`` folder: its files' piece layers (written by Hosting)."""
_READ = 1 << 20


def _fold(row: list[bytes]) -> bytes:
    """Hash a row (a power of two long) pairwise up to its root."""
    while len(row) > 1:
        row = [hashlib.sha256(row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
    return row[0]


def _width(n: int) -> int:
    """The smallest power of two >= n."""
    return 1 << max(0, n - 1).bit_length()


def subtree_root(leaves: list[bytes], width: int) -> bytes:
    """Root of ``width`` leaves (a power of two): ``leaves`` then zero hashes."""
    return _fold(leaves + [bytes(32)] * (width - len(leaves)))


def root_of_leaves(leaves: list[bytes]) -> bytes:
    return subtree_root(leaves, _width(len(leaves)))


def leaves_of(data: bytes | memoryview) -> list[bytes]:
    view = memoryview(data)
    sha = hashlib.sha256
    return [sha(view[i:i + BLOCK]).digest() for i in range(0, len(view), BLOCK)]


def read_leaves(f: BinaryIO) -> list[bytes]:
    """The 16 KiB block hashes of everything left to read in ``f``."""
    leaves: list[bytes] = []
    while chunk := f.read(_READ):
        leaves.extend(leaves_of(chunk))
    return leaves


def file_leaves(path: Path) -> list[bytes]:
    with open(path, "rb") as f:
        return read_leaves(f)


def verify_files(base: Path, entry: Update) -> list[str]:
    """Every file of the manifest, hashed on disk: empty when all match."""
    return verify_with_layers(base, entry, _NO_LAYERS)[0]


_NO_LAYERS = 1 << 62
"""A piece length no file reaches: :func:`verify_with_layers` then keeps no layer."""


# ---------------------------------------------------------------------- piece layers
#
# A v2 torrent's piece layer is the row of the file's merkle tree whose nodes each cover
# one piece. The Smart Proxy checks a piece of a file against its hash in the layer, and the
# layer against the file's pieces root in the chain, so a Range request reads only the
# pieces it serves. A layer comes from anywhere (Hosting writes them when it verifies a
# snapshot); it is trusted only once its root equals the manifest's.


def piece_hash(data: bytes | memoryview, piece_length: int) -> bytes:
    """A piece's node in the file's tree: its blocks' root, padded to a whole piece."""
    return subtree_root(leaves_of(data), piece_length // BLOCK)


def piece_layer(leaves: list[bytes], piece_length: int) -> list[bytes]:
    """The piece layer of a file whose 16 KiB block hashes are ``leaves``."""
    per = piece_length // BLOCK
    return [subtree_root(leaves[i:i + per], per) for i in range(0, len(leaves), per)]


def root_from_layer(layer: list[bytes], piece_length: int) -> bytes:
    """The pieces root a piece layer stands for (BEP 52: zero leaves beyond the end)."""
    pad = subtree_root([], piece_length // BLOCK)
    return _fold(layer + [pad] * (_width(len(layer)) - len(layer)))


def encode_layers(piece_length: int, layers: dict[bytes, list[bytes]]) -> bytes:
    """The layers file: bencoded ``{"piece length": L, "piece layers": {root: hashes}}``,
    the shape BEP 52 gives them in a .torrent."""
    return bytes(fastbencode.bencode({
        b"piece length": piece_length,
        b"piece layers": {root: b"".join(layer) for root, layer in layers.items()}}))


def decode_layers(data: bytes) -> tuple[int, dict[bytes, list[bytes]]]:
    """Inverse of :func:`encode_layers`; ValueError when malformed (nothing is trusted
    before its root is checked anyway)."""
    try:
        raw = fastbencode.bdecode(data)
        length = raw[b"piece length"]
        layers = raw[b"piece layers"]
    except Exception as exc:
        raise ValueError(f"not a layers file: {exc}") from None
    if not isinstance(length, int) or length < BLOCK or length & (length - 1):
        raise ValueError("bad piece length")
    if not isinstance(layers, dict):
        raise ValueError("piece layers is not a dict")
    out: dict[bytes, list[bytes]] = {}
    for root, blob in layers.items():
        if not isinstance(blob, bytes) or len(blob) % 32 or len(root) != 32:
            raise ValueError("bad piece layer")
        out[root] = [blob[i:i + 32] for i in range(0, len(blob), 32)]
    return length, out


def verify_with_layers(base: Path, entry: Update, piece_length: int
                       ) -> tuple[list[str], dict[bytes, list[bytes]]]:
    """:func:`verify_files`, also returning the piece layer of every file longer than
    a piece (by pieces root)."""
    problems = []
    layers: dict[bytes, list[bytes]] = {}
    for f in entry.files:
        path = base.joinpath(*f.path)
        name = "/".join(f.path)
        try:
            size = path.stat().st_size
        except OSError:
            problems.append(f"{name}: missing")
            continue
        if size != f.size:
            problems.append(f"{name}: {size} bytes, the manifest says {f.size}")
            continue
        if f.root is None:
            continue
        leaves = file_leaves(path)
        if root_of_leaves(leaves) != f.root:
            problems.append(f"{name}: pieces root differs from the manifest")
        elif size > piece_length:
            layers[f.root] = piece_layer(leaves, piece_length)
    return problems, layers
