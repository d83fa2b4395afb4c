"""The payloads of the download benchmarks: many small files, and SHA-256 digests of a
downloaded tree or file that must equal the source's (bench/download_vs_clients.py,
bench/settings_study.py, bench/suite.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree_digest(root: Path) -> str:
    """SHA-256 over every file's relative path and contents, in sorted order."""
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(16 << 20):
                h.update(block)
        h.update(b"\0")
    h.update(str(len(files)).encode())
    return h.hexdigest()


def make_small_payload(folder: Path, files: int, file_size: int) -> None:
    """``files`` files of random bytes in 20 sub-folders."""
    for i in range(files):
        sub = folder / f"d{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(os.urandom(file_size))
    os.sync()


def tree_digest_file(path: Path) -> str:
    """tree_digest of a folder holding only this file, computed for the file itself."""
    h = hashlib.sha256()
    h.update(path.name.encode() + b"\0")
    with open(path, "rb") as fh:
        while block := fh.read(16 << 20):
            h.update(block)
    h.update(b"\0")
    h.update(b"1")
    return h.hexdigest()
