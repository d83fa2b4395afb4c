"""Shared steps of the interop tests: a payload with its torrent on a fresh opentracker,
a tidegate download, byte-exact comparisons, opentracker's count of seeds."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.helpers.daemon_util import TIDEGATE, env_for
from tidegate.engine import AddRequest, Engine
from tidegate.engine.metainfo import Created

from ..conftest import EngineFactory, make_payload, make_torrent
from .opentracker import Opentracker, tracked_hashes
from .procs import pad_files, tree_sha256, wait_until

SIZES = (1_000_000, 70_000, 5)
"""A 1 MB file, a 70 kB one and a 5-byte one: with 16 KiB pieces each ends mid-piece."""


def swarm(tmp_path: Path, opentracker: Callable[[], Opentracker], fmt: str,
          scheme: str) -> tuple[Path, Created, Opentracker]:
    """A payload, its torrent announcing to a fresh opentracker, the tracker started."""
    folder = make_payload(tmp_path / "src", sizes=SIZES)
    trk = opentracker()
    created = make_torrent(folder, fmt, trackers=(trk.url(scheme),))
    assert created.piece_size == 16384
    trk.allow(*tracked_hashes(created.info_hash_v1, created.info_hash_v2)).start()
    return folder, created, trk


def v1_hash(created: Created) -> str:
    assert created.info_hash_v1 is not None
    return created.info_hash_v1


def tidegate_downloads(make_engine: EngineFactory, created: Created, by: str,
                       dest: Path) -> str:
    """A tidegate engine downloads by .torrent or magnet, with no peer given: it finds the
    seed through the tracker. Returns once every wanted byte is on disk."""
    leech = make_engine("leech")
    req = AddRequest(torrent=created.data, save_path=str(dest)) if by == "torrent" \
        else AddRequest(uri=created.magnet, save_path=str(dest))
    tid = leech.add(req).result(10)
    snap = leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 40)
    payload = created.total_size  # pad files are not counted
    assert snap.torrents[tid].wanted_done == payload
    return tid


def same_payload(got: Path, folder: Path, created: Created) -> None:
    """``got`` holds exactly the payload's bytes; extra files may only be the torrent's
    BEP 47 pad files (which a client that does not know BEP 47 would write)."""
    have = tree_sha256(got)
    pads = {k: v for k, v in have.items() if k.startswith(".pad/")}
    assert {k: v for k, v in have.items() if k not in pads} == tree_sha256(folder)
    assert {f"{folder.name}/{k}" for k in pads} <= set(pad_files(created.data))


def both_seed(trk: Opentracker, created: Created) -> None:
    """opentracker counts two seeds and one completed download."""
    ih = v1_hash(created)
    wait_until("opentracker to count two seeds and a completed download",
               lambda: (s := trk.scrape(ih)) is not None and (s.complete, s.downloaded) == (2, 1),
               10)


def tidegate(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``tidegate ARGS`` (this tree's) with ``TIDEGATE_HOME=home``; must exit 0. Killed by
    its pid after ``timeout``."""
    r = subprocess.run(TIDEGATE + list(args), env=env_for(home), capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"tidegate {' '.join(args)} exited {r.returncode}: {r.stderr}"
    return r


def seed_torrent(engine: Engine, torrent: bytes, save_path: Path) -> str:
    """Add a .torrent whose data is in ``save_path`` to a tidegate engine; returns once it
    seeds (every piece checked)."""
    tid = engine.add(AddRequest(torrent=torrent, save_path=str(save_path))).result(10)
    engine.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding", 15)
    return tid
