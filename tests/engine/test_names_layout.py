"""Names other clients write as they are: Windows-reserved names (``CON``), paths that
differ by case or by Unicode normalization. ``tidegate info`` lists exactly the paths
that will be written (after libtorrent's de-duplication) and sizes without pad files;
a seed of a folder laid out by another client finds all of it; a download writes the
same names. Torrents made by mktorrent and transmission-create; real engines and the
real ``tidegate info``."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import fastbencode
import pytest

from tests.cli.test_cli import home_with_config, run
from tests.conftest import EngineFactory, port_of, tree_bytes
from tidegate.engine import AddRequest
from tidegate.engine import units as fmt
from tidegate.engine.metainfo import CreateSpec, create_torrent

LAYOUT = [
    "CON", "aux.txt", "nul.tar.gz", "COM1", "lpt9.log", "prn/inner.txt",
    "Readme", "README", "readme",                     # differ by case only
    unicodedata.normalize("NFC", "café.txt"),         # differ by normalization only
    unicodedata.normalize("NFD", "café.txt"),
    "dir/con", "DIR/x", "Dir.1",                      # a file next to case-twin folders
    "plain.bin",
]


def _folder(root: Path) -> Path:
    folder = root / "laid-out"
    for n, rel in enumerate(LAYOUT):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(hashlib.sha256(rel.encode()).digest() * (50 + 40 * n))
    return folder


def _make(tool: str, folder: Path, out: Path) -> bytes:
    exe = shutil.which(tool)
    assert exe, f"{tool} is required (apt-get install {tool})"
    args = [exe, "-l", "15", "-o", str(out), str(folder)] if tool == "mktorrent" else \
        [exe, "-s", "32", "-o", str(out), str(folder)]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return out.read_bytes()


def _listed_paths(stdout: str) -> list[str]:
    """The paths of ``info``'s file table (each row: a size, its unit, the path)."""
    block = re.split(r"\n *size +path *\n", stdout, maxsplit=1)[1].split("\nmagnet:", 1)[0]
    return [line.split(None, 2)[2].rstrip() for line in block.strip("\n").splitlines()]


@pytest.mark.parametrize("tool", ["mktorrent", "transmission-create"])
def test_seed_a_folder_laid_out_by_another_client(make_engine: EngineFactory, tmp_path: Path,
                                                  tool: str) -> None:
    folder = _folder(tmp_path / "src")
    torrent = tmp_path / "t.torrent"
    data = _make(tool, folder, torrent)
    on_disk = sorted(f"{folder.name}/{rel}" for rel in tree_bytes(folder))

    res = run(["info", str(torrent)], home_with_config(tmp_path / "h"))
    assert res.returncode == 0, res.stderr
    assert sorted(_listed_paths(res.stdout)) == on_disk, res.stdout
    size = sum(len(b) for b in tree_bytes(folder).values())
    assert f"size:        {fmt.size(size)} in {len(LAYOUT)} files" in res.stdout

    seed, leech = make_engine("seed"), make_engine("leech")
    sid = seed.add(AddRequest(torrent=data, save_path=str(folder.parent))).result(10)
    snap = seed.wait_for(lambda s: sid in s.torrents and s.torrents[sid].phase
                         not in ("checking", "metadata"), 15)
    assert snap.torrents[sid].progress == 1.0, "the seed finds every file another client wrote"
    dest = tmp_path / "dl"
    tid = leech.add(AddRequest(torrent=data, save_path=str(dest),
                               peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 30)
    assert tree_bytes(dest / folder.name) == tree_bytes(folder)
    shown = sorted(f.path for f in leech.details(tid).result(10).files)
    assert shown == on_disk, "show and info list the same paths, the ones on disk"


def test_info_lists_the_deduplicated_paths_that_are_written(make_engine: EngineFactory,
                                                           tmp_path: Path) -> None:
    """The same path twice in one torrent: libtorrent writes the second as ``x.1``, and
    ``info`` says so (it listed ``x`` twice)."""
    blobs = [b"a" * 20000, b"b" * 30000, b"c" * 5000]
    files = [{b"length": len(blobs[0]), b"path": [b"x"]},
             {b"length": len(blobs[1]), b"path": [b"x"]},
             {b"length": len(blobs[2]), b"path": [b"CON"]}]
    joined = b"".join(blobs)
    pieces = b"".join(hashlib.sha1(joined[i:i + 16384]).digest()
                      for i in range(0, len(joined), 16384))
    info = {b"files": files, b"name": b"twice", b"piece length": 16384, b"pieces": pieces}
    torrent = tmp_path / "twice.torrent"
    torrent.write_bytes(fastbencode.bencode({b"info": info}))
    res = run(["info", str(torrent)], home_with_config(tmp_path / "h"))
    assert res.returncode == 0, res.stderr
    assert _listed_paths(res.stdout) == ["twice/x", "twice/x.1", "twice/CON"]

    # what a download writes: exactly those
    src = tmp_path / "src" / "twice"
    src.mkdir(parents=True)
    for name, blob in zip(("x", "x.1", "CON"), blobs, strict=True):
        (src / name).write_bytes(blob)
    seed, leech = make_engine("seed"), make_engine("leech")
    sid = seed.add(AddRequest(torrent=torrent.read_bytes(), save_path=str(src.parent))).result(10)
    seed.wait_for(lambda s: sid in s.torrents and s.torrents[sid].phase == "seeding", 15)
    dest = tmp_path / "dl"
    tid = leech.add(AddRequest(torrent=torrent.read_bytes(), save_path=str(dest),
                               peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 30)
    assert tree_bytes(dest / "twice") == tree_bytes(src)


def test_sizes_leave_pad_files_out(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder = tmp_path / "src" / "many"
    folder.mkdir(parents=True)
    for i in range(300):
        (folder / f"f{i:03}").write_bytes(bytes([i % 256]) * (1000 + i))
    data_size = sum(1000 + i for i in range(300))
    created = create_torrent(CreateSpec(path=str(folder), format="hybrid"))
    assert created.total_size == data_size
    torrent = tmp_path / "hybrid.torrent"
    torrent.write_bytes(created.data)
    res = run(["info", str(torrent)], home_with_config(tmp_path / "h"))
    assert res.returncode == 0, res.stderr
    assert f"size:        {fmt.size(data_size)} in 300 files" in res.stdout, res.stdout
    assert not any(".pad" in p for p in _listed_paths(res.stdout))
    seed = make_engine("seed")
    sid = seed.add(AddRequest(torrent=created.data, save_path=created.save_path)).result(10)
    snap = seed.wait_for(lambda s: sid in s.torrents and s.torrents[sid].phase == "seeding", 15)
    assert snap.torrents[sid].total_size == data_size  # what ls and show print
