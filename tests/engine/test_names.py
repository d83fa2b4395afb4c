"""Files are written and looked for under the names the .torrent gives them.

libtorrent 2.1 drops joiners and bidi marks from names (engine/torrents/names.py): a
seed of a folder with such names found 0% of its data, and downloads lost the
characters. Real engines on 127.0.0.1 and the real ``tidegate share``/``download``
(other clients: tests/interop/test_names_interop.py)."""

from __future__ import annotations

import unicodedata
import warnings
from pathlib import Path

import fastbencode
import libtorrent as lt
import pytest

from tests.cli.test_cli import Proc, free_port, home_with_config, procs, read_json_line, run
from tests.conftest import EngineFactory, make_torrent, port_of, tree_bytes
from tidegate.engine import AddRequest
from tidegate.engine.torrents.names import DROPPED

__all__ = ["procs"]  # the fixture

JOINED = {
    "👩\u200d💻.txt": b"woman technologist",            # ZWJ sequence
    "🇫🇷.txt": b"flag",                                 # regional indicators
    "🏳\ufe0f\u200d🌈.txt": b"rainbow flag",              # a flag joined by ZWJ
    "\u200fmark.txt": b"right-to-left mark",
    "x\u202ey.txt": b"override",
    "word\u2060joiner\ufeff.txt": b"word joiner, BOM",
    "dir\u200d/in\u200c.txt": b"joiner in a folder name",
    "plain.txt": b"nothing special",
}


def _folder(root: Path, files: dict[str, bytes], name: str = "pay\u200dload") -> Path:
    folder = root / name
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data * 3000)
    return folder


def test_libtorrent_drops_exactly_these_code_points() -> None:
    """The measured fact names.DROPPED relies on (re-measured here for a new libtorrent)."""
    cands = [c for c in range(0x20, 0x30000) if not 0xD800 <= c <= 0xDFFF and
             (unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp", "Zs", "Me")
              or 0x1F1E6 <= c <= 0x1F1FF or 0xFE00 <= c <= 0xFE0F)]
    cands += list(range(0xE0000, 0xE0080))
    files = [{b"length": 1, b"path": [f"a{i}".encode() + chr(c).encode() + b"b"]}
             for i, c in enumerate(cands)]
    info = {b"files": files, b"name": b"n", b"piece length": 16384, b"pieces": b"\0" * 20}
    ti = lt.torrent_info(fastbencode.bencode({b"info": info}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fs = ti.files()
    dropped = {c for i, c in enumerate(cands) if fs.file_path(i) == f"n/a{i}b"}
    kept = {c for i, c in enumerate(cands) if fs.file_path(i) == f"n/a{i}{chr(c)}b"}
    assert dropped == DROPPED
    assert dropped | kept == set(cands)


@pytest.mark.parametrize("fmt", ["v1", "v2", "hybrid"])
@pytest.mark.parametrize("by", ["torrent", "magnet"])
def test_seed_and_download_keep_joined_names(make_engine: EngineFactory, tmp_path: Path,
                                             fmt: str, by: str) -> None:
    folder = _folder(tmp_path / "src", JOINED)
    created = make_torrent(folder, fmt)
    seed, leech = make_engine("seed"), make_engine("leech")
    sid = seed.add(AddRequest(torrent=created.data, save_path=created.save_path)).result(10)
    snap = seed.wait_for(lambda s: sid in s.torrents and s.torrents[sid].phase
                         not in ("checking", "metadata"), 15)
    assert snap.torrents[sid].progress == 1.0, "the seed finds all of its data"
    assert snap.torrents[sid].phase == "seeding"
    dest = tmp_path / "dl"
    peers = (f"127.0.0.1:{port_of(seed)}",)
    req = AddRequest(torrent=created.data, save_path=str(dest), peers=peers) \
        if by == "torrent" else AddRequest(uri=created.magnet, save_path=str(dest), peers=peers)
    tid = leech.add(req).result(10)
    leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 30)
    assert tree_bytes(dest / folder.name) == tree_bytes(folder), "the exact names, every byte"
    shown = {f.path for f in leech.details(tid).result(10).files}
    assert shown == {f"{folder.name}/{rel}" for rel in JOINED}, "show lists what is written"


def test_share_then_download_keep_joined_names(tmp_path: Path, procs: list[Proc]) -> None:
    folder = _folder(tmp_path / "src", JOINED)
    port = free_port()
    seeder = Proc(["share", str(folder), "--listen", f"127.0.0.1:{port}", "--json"],
                  home_with_config(tmp_path / "h1"))
    procs.append(seeder)
    magnet = read_json_line(seeder)["magnet"]
    res = run(["download", magnet, "-d", str(tmp_path / "dl"), "--peer", f"127.0.0.1:{port}",
               "--timeout", "30", "--json"], home_with_config(tmp_path / "h2"))
    assert res.returncode == 0, res.stderr
    assert tree_bytes(tmp_path / "dl" / folder.name) == tree_bytes(folder)
    assert seeder.stop() == 0
