"""Engine faults the crash harness found, each pinned by a direct test."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from tests.helpers.sites_util import site_engine, wait_site, write_site
from tidegate.engine import AddRequest, Engine
from tidegate.engine.errors import InputError
from tidegate.engine.events import Log

from ..conftest import EngineFactory, build_engine, make_payload, make_torrent, tree_bytes


def test_removing_a_magnet_without_metadata_and_its_data_succeeds(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    """libtorrent reports torrent_delete_failed_alert with error 0 ("Success") when the
    torrent has no storage yet (a magnet still without metadata): nothing to delete is not
    a failure."""
    engine = make_engine("e")
    magnet = "magnet:?xt=urn:btih:" + "ab" * 20
    tid = engine.add(AddRequest(uri=magnet, save_path=str(tmp_path / "dl"))).result(10)
    engine.remove(tid, delete_data=True).result(10)
    assert tid not in engine.wait_for(lambda s: tid not in s.torrents, 10).torrents


def _resume_file(home: Path, tid: str) -> Path:
    return home / "data" / "resume" / f"{tid}.resume"


def _saved(home: Path, tid: str) -> tuple[lt.add_torrent_params, dict[str, Any]]:
    raw = _resume_file(home, tid).read_bytes()
    extras = json.loads(lt.bdecode(raw).get(b"tidegate", b"{}"))
    return lt.read_resume_data(raw), extras


def test_an_acknowledged_command_is_already_in_the_resume_file(tmp_path: Path) -> None:
    """The harness killed the daemon a few ms after an acknowledged add (gone after the
    restart) and after an acknowledged move (back in the old folder, its pieces lost): the
    reply came before the resume file was written. Now each such reply waits for the file,
    so reading it the moment the reply arrives shows the change."""
    payload = make_payload(tmp_path / "src", sizes=(400_000, 3))
    created = make_torrent(payload, fmt="v1", piece_size=32768)
    home = tmp_path / "h"
    engine = build_engine(home).start()
    try:
        for round_ in range(5):  # the race was lost most of the time; five in a row
            tid = engine.add(AddRequest(torrent=created.data,
                                        save_path=str(tmp_path / f"dl{round_}"),
                                        paused=True)).result(10)
            params, _ = _saved(home, tid)
            assert params.save_path == str(tmp_path / f"dl{round_}")
            engine.resume(tid).result(10)
            assert not _saved(home, tid)[0].flags & lt.torrent_flags.paused
            engine.pause(tid).result(10)
            assert _saved(home, tid)[0].flags & lt.torrent_flags.paused
            engine.set_limits(tid, down=123_000).result(10)
            assert _saved(home, tid)[0].download_limit == 123_000
            engine.set_sequential(tid, True).result(10)
            assert _saved(home, tid)[0].flags & lt.torrent_flags.sequential_download
            engine.set_share_limits(tid, ratio=1.5).result(10)
            assert _saved(home, tid)[1]["ratio_limit"] == 1.5
            target = tmp_path / f"moved{round_}"
            assert engine.move(tid, str(target)).result(10) == str(target)
            params, extras = _saved(home, tid)
            assert params.save_path == str(target) and not extras.get("moving_to")
            engine.remove(tid).result(10)
            assert not _resume_file(home, tid).exists()
    finally:
        engine.stop()


def test_a_move_refuses_a_target_holding_the_torrents_files(tmp_path: Path) -> None:
    payload = make_payload(tmp_path / "src", sizes=(100_000,))
    created = make_torrent(payload, fmt="v1")
    engine = build_engine(tmp_path / "h").start()
    try:
        tid = engine.add(AddRequest(torrent=created.data, save_path=created.save_path,
                                    paused=True)).result(10)
        taken = tmp_path / "taken"
        (taken / payload.name).mkdir(parents=True)
        (taken / payload.name / "file0.bin").write_bytes(b"someone else's")
        with pytest.raises(InputError, match="file0.bin already exists"):
            engine.move(tid, str(taken)).result(10)
        assert (taken / payload.name / "file0.bin").read_bytes() == b"someone else's"
        assert engine.snapshot.torrents[tid].save_path == created.save_path
    finally:
        engine.stop()


@pytest.mark.parametrize("moved", ["none", "some", "all"])
def test_a_move_interrupted_by_a_crash_is_settled_on_load(tmp_path: Path, moved: str) -> None:
    """What a kill during a move leaves: the resume file names the target (written before
    the move began) and none, some or all of the files are already there. The torrent comes
    back whole, with every piece, without downloading or checking anything again."""
    payload = make_payload(tmp_path / "src", sizes=(300_000, 200_000, 5))
    created = make_torrent(payload, fmt="hybrid", piece_size=32768)
    old = tmp_path / "old"
    shutil.copytree(payload, old / payload.name)
    home = tmp_path / "h"
    engine = build_engine(home).start()
    try:
        tid = engine.add(AddRequest(torrent=created.data, save_path=str(old))).result(10)
        engine.wait_for(lambda s: s.torrents[tid].complete_on_disk, 20)  # checked on add
    finally:
        engine.stop()
    new = tmp_path / "new"
    raw = lt.bdecode(_resume_file(home, tid).read_bytes())
    raw[b"tidegate"] = json.dumps({**json.loads(raw[b"tidegate"]),
                                   "moving_to": str(new)}).encode()
    _resume_file(home, tid).write_bytes(lt.bencode(raw))
    files = sorted(p.relative_to(old) for p in old.rglob("*") if p.is_file())
    count = {"none": 0, "some": 1, "all": len(files)}[moved]
    for rel in files[:count]:
        (new / rel).parent.mkdir(parents=True, exist_ok=True)
        os.rename(old / rel, new / rel)
    if moved == "some":  # the next file was being copied (across file systems)
        (new / files[1]).write_bytes((old / files[1]).read_bytes()[:1000])

    engine = build_engine(home)
    events = engine.subscribe()
    engine.start()
    try:
        snap = engine.wait_for(lambda s: tid in s.torrents
                               and s.torrents[tid].phase != "checking", 10)
        t = snap.torrents[tid]
        want = old if moved == "none" else new
        assert t.save_path == str(want)
        assert t.pieces_done == t.num_pieces and t.progress == 1.0
        assert tree_bytes(want / payload.name) == tree_bytes(payload)
        logs = [e.message for e in events.drain() if isinstance(e, Log)]
        assert any("move" in m and str(new) in m for m in logs), logs
        # the repaired file is written again: a second start needs no repair
        engine.wait_for(lambda s: True, 1)
        deadline = time.monotonic() + 10
        while _saved(home, tid)[1].get("moving_to") and time.monotonic() < deadline:
            time.sleep(0.05)
        params, extras = _saved(home, tid)
        assert not extras.get("moving_to") and params.save_path == str(want)
    finally:
        engine.stop()


def test_a_published_snapshot_is_hosted_after_a_crash_before_hostings_record(
        tmp_path: Path) -> None:
    """The harness killed the daemon between the chain append of a publish and Hosting's
    own record of the new snapshot: after the restart the chain said height N and Hosting
    served N-1 for good. Hosting's file is set back here to what such a crash leaves."""
    home = tmp_path / "h"
    source = write_site(tmp_path / "src", {"index.html": b"one\n"})

    def start() -> Engine:
        return site_engine(home).start()

    engine = start()
    try:
        address = engine.site_new("blog", str(source)).result(30).address
        engine.site_publish("blog").result(60)
        wait_site(engine, address, lambda s: s.hosting.seq == 1, 30)
        first = json.loads((home / "data" / "sites" / address / "hosting.json").read_text())
        (source / "index.html").write_bytes(b"two\n")
        engine.site_publish("blog").result(60)
        wait_site(engine, address, lambda s: s.hosting.seq == 2, 30)
    finally:
        engine.stop()
    hosting = home / "data" / "sites" / address / "hosting.json"
    for job in (None, {"seq": 2, "id": "0" * 40}):
        # crashed before Hosting began the snapshot / while fetching it, its torrent unsaved
        hosting.write_text(json.dumps({**first, **({"job": job} if job else {})}))
        engine = start()
        try:
            site = wait_site(engine, address, lambda s: s.hosting.seq == 2, 20)
            assert site.height == 2 and not site.hosting.error
            report = engine.site_verify("blog").result(30)
            assert report.ok and report.snapshot == 2, report.problems
        finally:
            engine.stop()


def test_a_site_new_cut_short_is_reported_not_loaded_and_its_key_kept(tmp_path: Path) -> None:
    """``site new`` writes the key, then the GENESIS, then site.json. What a crash before
    site.json leaves is reported by name and left alone; the same name can be made again."""
    home = tmp_path / "h"
    source = write_site(tmp_path / "src", {"index.html": b"hi\n"})
    engine = site_engine(home).start()
    try:
        address = engine.site_new("blog", str(source)).result(30).address
    finally:
        engine.stop()
    folder = home / "data" / "sites" / address
    (folder / "site.json").unlink()  # the crash came just before it
    engine = site_engine(home)
    events = engine.subscribe()
    engine.start()
    try:
        assert address not in engine.snapshot.sites
        deadline = time.monotonic() + 10
        logs: list[str] = []
        while not any("site new" in m for m in logs) and time.monotonic() < deadline:
            logs += [e.message for e in events.drain() if isinstance(e, Log)]
            time.sleep(0.05)
        assert any(address in m and "site new" in m for m in logs), logs
        assert (folder / "key").is_file()
        again = engine.site_new("blog", str(source)).result(30)
        assert again.address != address and again.height == 0
    finally:
        engine.stop()
