"""Torrents made by one program and used by another: ``tidegate create`` in transmission
and aria2; transmission-create and mktorrent in ``tidegate info`` and ``tidegate download``.

Every torrent is read by each side's own parser (``transmission-show``, ``aria2c
--show-files``, ``tidegate info --json``) and then downloaded byte-exact from a seed of
another client, through opentracker.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.daemon_util import TIDEGATE, env_for, short_home

from ..conftest import EngineFactory, make_payload
from .aria2 import Aria2
from .opentracker import Opentracker
from .procs import require, stop, tree_sha256, wait_until
from .quirks import ARIA2_WRONG_HYBRID_HASH, TRANSMISSION_NO_HYBRID, aria2_hybrid_hash
from .swarms import SIZES, seed_torrent, tidegate
from .transmission import Transmission


def transmission_show(torrent: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("transmission-show"), str(torrent)], capture_output=True,
                          text=True, timeout=30)


def shown_hash(text: str, label: str) -> str:
    m = re.search(rf"{label}:\s*([0-9a-fA-F]{{40}})", text)
    assert m, f"no {label} in:\n{text}"
    return m.group(1).lower()


def aria2_show(torrent: Path) -> str:
    r = subprocess.run([require("aria2c"), "--no-conf", "--show-files=true", str(torrent)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def tidegate_info(home: Path, torrent: Path) -> dict[str, object]:
    return dict(json.loads(tidegate(home, "info", str(torrent), "--json").stdout))


def tidegate_download(home: Path, torrent: Path, dest: Path,
                      while_running: Callable[[], None] = lambda: None) -> None:
    """``tidegate download TORRENT -d DEST`` with no ``--peer``: the tracker's peers only.
    Exit 0 means every byte is downloaded, checked and on disk."""
    p = subprocess.Popen(TIDEGATE + ["download", str(torrent), "-d", str(dest)],
                         env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        while_running()
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, f"tidegate download exited {p.returncode}: {err}"
    finally:
        stop(p)


@pytest.mark.slow
def test_tidegate_create_in_transmission_and_aria2(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
        transmission: Callable[[], Transmission], aria2: Callable[[], Aria2]) -> None:
    home = short_home()
    folder = make_payload(tmp_path / "src", sizes=SIZES)
    trk = opentracker()
    v1 = tmp_path / "v1.torrent"
    made = json.loads(tidegate(home, "create", str(folder), "-o", str(v1), "--v1",
                               "--tracker", trk.http, "--json").stdout)
    ih = made["info_hash_v1"]
    trk.allow(ih).start()

    shown = transmission_show(v1)
    assert shown.returncode == 0, shown.stderr
    assert shown_hash(shown.stdout, "Hash") == ih
    assert all(f"{folder.name}/file{i}.bin" in shown.stdout for i in range(3))
    assert trk.http in shown.stdout
    assert shown_hash(aria2_show(v1), "Info Hash") == ih

    # both download it from a tidegate seed
    seed = make_engine("seed")
    data = v1.read_bytes()
    seed_torrent(seed, data, folder.parent)
    tr, ar = transmission(), aria2()
    (tmp_path / "tr").mkdir()
    assert tr.add(torrent=data, download_dir=str(tmp_path / "tr")) == ih
    gid = ar.download(torrent=data, folder=tmp_path / "ar")
    tr.wait_announced(ih, 10)
    seed.add_peers(ih, [tr.peer]).result(5)  # transmission does not dial loopback peers
    tr.rechoke_now(ih, seeding=False)
    tr.wait_complete(ih, 40)
    ar.wait_complete(gid, 40)
    want = tree_sha256(folder)
    assert tree_sha256(tmp_path / "tr" / folder.name) == want
    assert tree_sha256(tmp_path / "ar" / folder.name) == want
    wait_until("opentracker to count three seeds",
               lambda: (s := trk.scrape(ih)) is not None and s.complete == 3, 10)

    # tidegate's default, hybrid, is what these two cannot read (tests/interop/quirks.py)
    hybrid = tmp_path / "hybrid.torrent"
    made = json.loads(tidegate(home, "create", str(folder), "-o", str(hybrid),
                               "--json").stdout)
    assert made["info_hash_v2"]
    if tr.version.startswith(TRANSMISSION_NO_HYBRID):
        shown = transmission_show(hybrid)
        assert "Error parsing .torrent file" in shown.stdout + shown.stderr
    if ar.version.startswith(ARIA2_WRONG_HYBRID_HASH):
        assert shown_hash(aria2_show(hybrid), "Info Hash") == aria2_hybrid_hash(
            hybrid.read_bytes()) != made["info_hash_v1"]


@pytest.mark.slow
def test_transmission_create_in_tidegate(opentracker: Callable[[], Opentracker],
                                         tmp_path: Path,
                                         transmission: Callable[[], Transmission]) -> None:
    home = short_home()
    folder = make_payload(tmp_path / "src", sizes=SIZES)
    trk = opentracker()
    made = tmp_path / "tc.torrent"
    r = subprocess.run([require("transmission-create"), "-o", str(made), "-t", trk.udp,
                        "-c", "made by transmission-create", str(folder)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    ih = shown_hash(transmission_show(made).stdout, "Hash")
    trk.allow(ih).start()

    info = tidegate_info(home, made)
    assert (info["info_hash_v1"], info["info_hash_v2"]) == (ih, None)
    assert info["trackers"] == [trk.udp]
    assert info["comment"] == "made by transmission-create"
    assert str(info["creator"]).startswith("Transmission/")
    assert info["files"] == [{"path": f"{folder.name}/file{i}.bin", "size": size}
                             for i, size in enumerate(SIZES)]

    tr = transmission()
    assert tr.seed(made.read_bytes(), folder.parent) == ih
    dest = tmp_path / "dl"
    tidegate_download(home, made, dest, lambda: tr.rechoke_now(ih, seeding=True))
    assert tree_sha256(dest / folder.name) == tree_sha256(folder)


def test_mktorrent_in_tidegate(opentracker: Callable[[], Opentracker], tmp_path: Path,
                               aria2: Callable[[], Aria2]) -> None:
    """A single-file torrent with 32 KiB pieces, made by mktorrent, seeded by aria2."""
    home = short_home()
    folder = make_payload(tmp_path / "src", sizes=(SIZES[0],))
    single = folder / "file0.bin"
    trk = opentracker()
    made = tmp_path / "mk.torrent"
    r = subprocess.run([require("mktorrent"), "-a", trk.http, "-l", "15", "-o", str(made),
                        str(single)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    ih = shown_hash(aria2_show(made), "Info Hash")
    trk.allow(ih).start()

    info = tidegate_info(home, made)
    assert (info["info_hash_v1"], info["name"], info["piece_size"]) == (ih, "file0.bin", 32768)
    assert str(info["creator"]).startswith("mktorrent")
    assert info["files"] == [{"path": "file0.bin", "size": SIZES[0]}]

    ar = aria2()
    ar.seed(made.read_bytes(), folder)
    wait_until("aria2's announce", lambda: trk.scrape(ih), 10)
    dest = tmp_path / "dl"
    tidegate_download(home, made, dest)
    assert tree_sha256(dest) == tree_sha256(folder)
