"""BEP 52 pieces roots of files on disk, computed without libtorrent.

A pieces root is the SHA-256 merkle root of a file's 16 KiB blocks, the leaves padded
with zero hashes to a power of two. The chain's manifest holds one per file, so a file on
disk is checked against the chain by hashing it here: an independent check of what
libtorrent downloaded, and of what sits on disk later (``tidegate site verify``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from ..chain.entry import Update

BLOCK = 16 << 10
_READ = 1 << 20


def root_of_leaves(leaves: list[bytes]) -> bytes:
    width = 1
    while width < len(leaves):
        width *= 2
    layer = leaves + [bytes(32)] * (width - len(leaves))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest()
                 for i in range(0, len(layer), 2)]
    return layer[0]


def pieces_root(path: Path, progress: Callable[[int], None] | None = None) -> bytes | None:
    """The file's pieces root; None for an empty file (the manifest's convention)."""
    leaves: list[bytes] = []
    sha = hashlib.sha256
    with open(path, "rb") as f:
        while chunk := f.read(_READ):
            view = memoryview(chunk)
            leaves.extend(sha(view[i:i + BLOCK]).digest() for i in range(0, len(view), BLOCK))
            if progress is not None:
                progress(len(chunk))
    if not leaves:
        return None
    return root_of_leaves(leaves)


def verify_files(base: Path, entry: Update) -> list[str]:
    """Every file of the manifest, hashed on disk: empty when all match."""
    problems = []
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
        elif pieces_root(path) != f.root:
            problems.append(f"{name}: pieces root differs from the manifest")
    return problems
