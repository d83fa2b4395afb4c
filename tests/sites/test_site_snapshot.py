"""Deterministic site snapshots: same content, same info-hash; manifests carry BEP 52 roots."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tidegate.engine.chain import SiteKey, sign_genesis, sign_update
from tidegate.engine.chain.codec import decode_chain, encode_chain
from tidegate.engine.chain.entry import entry_hash
from tidegate.engine.errors import CreateError
from tidegate.engine.sites.snapshot import differences, piece_size_for, snapshot

BLOCK = 16 << 10


def pieces_root(data: bytes) -> bytes:
    """BEP 52, computed here independently of libtorrent: SHA-256 merkle root of the
    file's 16 KiB blocks, leaves padded with zero hashes to a power of two."""
    layer = [hashlib.sha256(data[i:i + BLOCK]).digest() for i in range(0, len(data), BLOCK)]
    width = 1
    while width < len(layer):
        width *= 2
    layer += [bytes(32)] * (width - len(layer))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest()
                 for i in range(0, len(layer), 2)]
    return layer[0]


CONTENT = {
    "index.html": b"<h1>hello</h1>" * 100,
    "css/site.css": os.urandom(70_000),
    "img/a/b/logo.png": os.urandom(16 << 10),
    "empty.txt": b"",
}


def write(folder: Path, content: dict[str, bytes], order: list[str]) -> Path:
    for name in order:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content[name])
    return folder


def test_same_content_same_torrent_whatever_the_folder(tmp_path: Path) -> None:
    names = list(CONTENT)
    a = write(tmp_path / "first", CONTENT, names)
    b = write(tmp_path / "second folder", CONTENT, names[::-1])  # other name, other order
    os.utime(b / "index.html", (1, 1))  # other times
    os.chmod(b / "css/site.css", 0o755)  # other permissions
    (b / ".tidegate").mkdir()  # a stale chain folder in the source is ignored
    (b / ".tidegate" / "chain").write_bytes(b"old")
    chain = encode_chain([b"entry zero"])
    one = snapshot(a, chain, tmp_path / "stage-a")
    two = snapshot(b, chain, tmp_path / "stage-b")
    assert one.data == two.data and one.magnet == two.magnet
    assert one.piece_size == piece_size_for(sum(map(len, CONTENT.values())) + len(chain))
    assert (tmp_path / "stage-a" / "site" / ".tidegate" / "chain").read_bytes() == chain
    other = dict(CONTENT, **{"index.html": b"changed"})
    three = snapshot(write(tmp_path / "third", other, names), chain, tmp_path / "stage-c")
    assert three.info_hash_v2 != one.info_hash_v2


def test_manifest_roots_are_bep52_pieces_roots(tmp_path: Path) -> None:
    folder = write(tmp_path / "src", CONTENT, list(CONTENT))
    snap = snapshot(folder, encode_chain([]), tmp_path / "stage")
    by_path = {"/".join(f.path): f for f in snap.files}
    assert set(by_path) == set(CONTENT) | {".tidegate/chain"}
    for name, data in CONTENT.items():
        record = by_path[name]
        assert record.size == len(data)
        assert record.root == (pieces_root(data) if data else None), name
    assert [f.path for f in snap.files] == sorted((f.path for f in snap.files),
                                                 key=lambda p: [c.encode() for c in p])


def test_piece_size_rule() -> None:
    assert piece_size_for(0) == piece_size_for(16 << 20) == 16 << 10
    assert piece_size_for((16 << 20) + 1) == 32 << 10
    assert piece_size_for(1 << 40) == 4 << 20


def test_links_and_special_files_are_refused_by_name(tmp_path: Path) -> None:
    folder = write(tmp_path / "src", CONTENT, list(CONTENT))
    (folder / "sneaky").symlink_to("/etc/passwd")
    with pytest.raises(CreateError, match="sneaky: a symlink"):
        snapshot(folder, encode_chain([]), tmp_path / "stage")


def test_a_rebuild_from_source_matches_the_chain_and_names_what_differs(
        tmp_path: Path) -> None:
    key = SiteKey.generate()
    genesis = sign_genesis(key, 1000, "site")
    folder = write(tmp_path / "src", CONTENT, list(CONTENT))
    chain_file = encode_chain([genesis.raw])
    published = snapshot(folder, chain_file, tmp_path / "published")
    update = sign_update(key, 1, entry_hash(genesis.raw), 1001, published.magnet,
                         published.files)
    # anyone with the source and the chain rebuilds the same snapshot
    assert decode_chain(chain_file, "chain") == [genesis.raw]
    rebuilt = snapshot(folder, encode_chain([genesis.raw]), tmp_path / "rebuilt")
    assert differences(update.files, update.magnet, rebuilt) == []
    (folder / "css" / "site.css").write_bytes(b"tampered")
    (folder / "extra.js").write_bytes(b"x")
    tampered = snapshot(folder, chain_file, tmp_path / "tampered")
    assert differences(update.files, update.magnet, tampered) == [
        f"css/site.css: content differs ({len(CONTENT['css/site.css'])} bytes in the chain, "
        "8 here)", "extra.js: not in the chain's snapshot"]


def test_a_site_with_docs_beside_docs_html_builds(tmp_path: Path) -> None:
    """libtorrent's own hybrid of a folder holding ``docs/`` and ``docs.html`` does not load
    ("the v1 and v2 file metadata does not match": it lays files out by whole path, '.' <
    '/', and writes the file tree per component), so such a site could not be published.
    The snapshot lists its files in the file tree's order: it builds, and each file's root
    is its BEP 52 root."""
    content = {"docs/index.html": os.urandom(5000), "docs.html": os.urandom(70_000),
               "docs-old/a.txt": os.urandom(40_000), "index.html": b"<a href=docs.html>"}
    folder = write(tmp_path / "src", content, list(content))
    snap = snapshot(folder, encode_chain([]), tmp_path / "stage")
    by_path = {"/".join(f.path): f for f in snap.files}
    for name, data in content.items():
        assert by_path[name].root == pieces_root(data), name
    again = snapshot(folder, encode_chain([]), tmp_path / "stage2")
    assert again.data == snap.data  # still reproducible
