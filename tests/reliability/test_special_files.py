"""A FIFO (or socket, device, folder) where a torrent's file goes never reaches libtorrent.

Measured first (../shared/FACTS.md): a seed-mode torrent over a FIFO stays "checking" for
ever in libtorrent 2.1, and so does every torrent added after it in the same session. A
hosted site's snapshot is seeded in seed mode, so one FIFO planted in it stopped every
check on the node (issue 20). Real FIFOs, a real engine, a real site below.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import build_engine, make_payload, make_torrent
from tests.helpers.sites_util import site_engine, wait_site, write_site
from tidegate.engine import AddRequest, Engine
from tidegate.engine.errors import InputError
from tidegate.engine.state import Phase, Snapshot
from tidegate.engine.torrents.special import HELD


def payload(tmp: Path, name: str) -> tuple[Path, bytes]:
    folder = make_payload(tmp / f"src-{name}", name=name, sizes=(300_000, 200_000))
    return folder, make_torrent(folder, fmt="v1").data


def checks_promptly(eng: Engine, tmp: Path, name: str) -> None:
    """Another torrent, added now, is checked and seeds: the disk threads are free."""
    folder, data = payload(tmp, name)
    tid = eng.add(AddRequest(torrent=data, save_path=str(folder.parent))).result(10)
    eng.wait_for(lambda s: s.torrents[tid].phase == Phase.SEEDING, 30)


def plant_fifo(path: Path) -> bytes:
    """Put a FIFO where ``path`` was; give back what the file held."""
    data = path.read_bytes()
    path.unlink()
    os.mkfifo(path)
    return data


def test_add_over_a_fifo_is_refused(tmp_path: Path) -> None:
    folder, data = payload(tmp_path, "one")
    target = folder / "file1.bin"
    plant_fifo(target)
    eng = build_engine(tmp_path / "home").start()
    try:
        for seed_mode in (True, False):
            with pytest.raises(InputError) as err:
                eng.add(AddRequest(torrent=data, save_path=str(folder.parent),
                                   seed_mode=seed_mode)).result(10)
            assert err.value.source == str(target)
            assert "a FIFO (named pipe), not a regular file" in str(err.value)
        assert eng.snapshot.torrents == {}
        checks_promptly(eng, tmp_path, "two")
    finally:
        eng.stop()
    assert eng.crash is None


def test_restored_torrent_over_a_fifo_is_held_until_moved_away(tmp_path: Path) -> None:
    folder, data = payload(tmp_path, "one")
    home = tmp_path / "home"
    eng = build_engine(home).start()
    try:
        tid = eng.add(AddRequest(torrent=data, save_path=str(folder.parent),
                                 seed_mode=True)).result(10)
        eng.wait_for(lambda s: s.torrents[tid].phase == Phase.SEEDING, 20)
    finally:
        eng.stop()
    target = folder / "file0.bin"
    original = plant_fifo(target)

    eng = build_engine(home).start()
    try:
        snap: Snapshot = eng.wait_for(lambda s: tid in s.torrents, 20)
        held = snap.torrents[tid]
        assert held.paused and held.error.startswith(HELD + str(target)), held.error
        assert "a FIFO (named pipe)" in held.error
        checks_promptly(eng, tmp_path, "two")
        # resume and recheck say why they cannot, naming the file
        for command in (eng.resume, eng.recheck):
            with pytest.raises(InputError) as err:
                command(tid).result(10)
            assert err.value.source == str(target)
        assert eng.snapshot.torrents[tid].paused
        # moved away and put back: resumed, checked, seeding
        target.unlink()
        target.write_bytes(original)
        eng.resume(tid).result(10)
        eng.wait_for(lambda s: s.torrents[tid].phase == Phase.SEEDING
                     and s.torrents[tid].error == "", 30)
    finally:
        eng.stop()
    assert eng.crash is None


def test_fifo_planted_in_a_hosted_snapshot(tmp_path: Path) -> None:
    home = tmp_path / "owner"
    src = write_site(tmp_path / "src", {"index.html": b"<p>hi</p>" * 500,
                                        "big.bin": os.urandom(400_000)})
    eng = site_engine(home).start()
    try:
        address = eng.site_new("planted", str(src)).result(30).address
        eng.site_publish(address).result(120)
        wait_site(eng, address, lambda s: s.hosting.seq == 1, 60)
        seeded = {t.id for t in eng.snapshot.torrents.values() if t.phase == Phase.SEEDING}
    finally:
        eng.stop()
    files = [p for p in home.rglob("big.bin") if "snapshots" in p.parts]
    assert len(files) == 1, files
    target = files[0]
    plant_fifo(target)

    started = time.monotonic()
    eng = site_engine(home).start()
    try:
        snap = eng.wait_for(lambda s: any(t.error.startswith(HELD)
                                          for t in s.torrents.values()), 30)
        held = [t for t in snap.torrents.values() if t.error.startswith(HELD)]
        assert [t.id for t in held] == [held[0].id] and held[0].id in seeded
        assert str(target) in held[0].error
        checks_promptly(eng, tmp_path, "other")  # the rest of the node goes on
        assert eng.site_list().result(10)
    finally:
        eng.stop()
    assert eng.crash is None
    assert time.monotonic() - started < 120  # stop did not wait on a blocked disk thread
    shutil.rmtree(home, ignore_errors=True)
