"""Byte-exact transfers between tidegate and transmission / aria2, through opentracker.

Each direction runs four ways: v1 by .torrent over UDP announces, v1 by magnet over HTTP,
hybrid by .torrent over HTTP, hybrid by magnet over UDP. Payloads mix a 1 MB file, a
70 kB one and a 5-byte one (16 KiB pieces: files end mid-piece). Every transfer ends with
the sha256 of every file on both sides and with opentracker counting both peers as seeds.
Debian 12's transmission and aria2 cannot join hybrid swarms: for those versions the
hybrid cases assert the fault instead (tests/interop/quirks.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine import AddRequest
from engine.metainfo import Created

from ..conftest import EngineFactory, make_payload, make_torrent, start_seed
from .aria2 import Aria2
from .opentracker import Opentracker, tracked_hashes
from .procs import pad_files, tree_sha256, wait_until, write_pad_files
from .quirks import ARIA2_WRONG_HYBRID_HASH, TRANSMISSION_NO_HYBRID, aria2_hybrid_hash
from .transmission import RpcError, Transmission

SIZES = (1_000_000, 70_000, 5)

# (format, added by, announce over)
CASES = [("v1", "torrent", "udp"), ("v1", "magnet", "http"),
         ("hybrid", "torrent", "http"), ("hybrid", "magnet", "udp")]
IDS = ["-".join(c) for c in CASES]


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
    payload = created.total_size - sum(pad_files(created.data).values())
    assert snap.torrents[tid].wanted_done == payload
    return tid


def same_payload(got: Path, folder: Path, created: Created) -> None:
    """``got`` holds exactly the payload's bytes; any extra files are the torrent's BEP 47
    pad files, written as zeros by a client that does not know BEP 47."""
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


def transmission_refuses_hybrid(tr: Transmission, created: Created, dest: Path) -> bool:
    """True (after asserting it) when this transmission cannot load a hybrid torrent."""
    if not tr.version.startswith(TRANSMISSION_NO_HYBRID):
        return False
    # 3.00 parses no info dict that holds BEP 52's "file tree" (transmission-show: "Error
    # parsing .torrent file"); the RPC refuses the file outright
    with pytest.raises(RpcError, match="invalid or corrupt torrent file"):
        tr.add(torrent=created.data, download_dir=str(dest))
    return True


@pytest.mark.parametrize(("fmt", "by", "scheme"), CASES, ids=IDS)
def test_tidegate_downloads_from_transmission(
        make_engine: EngineFactory, tmp_path: Path, opentracker: Callable[[], Opentracker],
        transmission: Callable[[], Transmission], fmt: str, by: str, scheme: str) -> None:
    folder, created, trk = swarm(tmp_path, opentracker, fmt, scheme)
    tr = transmission()
    if fmt == "hybrid" and transmission_refuses_hybrid(tr, created, folder.parent):
        return
    # transmission reads pad files from disk like any file
    write_pad_files(created.data, folder.parent)
    ih = tr.seed(created.data, folder.parent)
    assert ih == created.info_hash_v1
    dest = tmp_path / "dl"
    leech = make_engine("leech")
    req = AddRequest(torrent=created.data, save_path=str(dest)) if by == "torrent" \
        else AddRequest(uri=created.magnet, save_path=str(dest))
    tid = leech.add(req).result(10)  # no peer given: transmission's address is the tracker's
    tr.rechoke_now(ih, seeding=True)
    leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 40)
    assert tree_sha256(dest / folder.name) == tree_sha256(folder, skip_pad=True)
    both_seed(trk, created)


@pytest.mark.parametrize(("fmt", "by", "scheme"), CASES, ids=IDS)
def test_transmission_downloads_from_tidegate(
        make_engine: EngineFactory, tmp_path: Path, opentracker: Callable[[], Opentracker],
        transmission: Callable[[], Transmission], fmt: str, by: str, scheme: str) -> None:
    folder, created, trk = swarm(tmp_path, opentracker, fmt, scheme)
    seed = make_engine("seed")
    start_seed(seed, created, folder)
    tr = transmission()
    dest = tmp_path / "dl"
    dest.mkdir()
    if fmt == "hybrid" and by == "torrent" and transmission_refuses_hybrid(tr, created, dest):
        return
    ih = tr.add(torrent=created.data, download_dir=str(dest)) if by == "torrent" \
        else tr.add(magnet=created.magnet, download_dir=str(dest))
    assert ih == created.info_hash_v1
    tr.wait_announced(ih, 10)
    # transmission 3.00 does not dial 127.0.0.0/8 peers from a tracker: our seed dials it
    seed.add_peers(v1_hash(created), [tr.peer]).result(5)
    if fmt == "hybrid" and tr.version.startswith(TRANSMISSION_NO_HYBRID):
        # the metadata arrives and matches the hash, but 3.00 cannot parse it, for ever
        wait_until("transmission to fail parsing the metadata",
                   lambda: tr.log_has("checksum passed 1, metainfo parsed 0"), 15)
        assert tr.get(ih)["percentDone"] == 0
        return
    tr.rechoke_now(ih, seeding=False)
    tr.wait_complete(ih, 40)
    same_payload(dest / folder.name, folder, created)
    both_seed(trk, created)


@pytest.mark.parametrize(("fmt", "by", "scheme"), CASES, ids=IDS)
def test_tidegate_downloads_from_aria2(
        make_engine: EngineFactory, tmp_path: Path, opentracker: Callable[[], Opentracker],
        aria2: Callable[[], Aria2], fmt: str, by: str, scheme: str) -> None:
    folder, created, trk = swarm(tmp_path, opentracker, fmt, scheme)
    write_pad_files(created.data, folder.parent)
    ar = aria2()
    gid = ar.seed(created.data, folder.parent)
    seeded = ar.status(gid)["infoHash"]
    if fmt == "hybrid" and ar.version.startswith(ARIA2_WRONG_HYBRID_HASH):
        # aria2 seeds the payload under a hash of its own: a swarm nobody else is in
        assert seeded == aria2_hybrid_hash(created.data) != created.info_hash_v1
        return
    assert seeded == created.info_hash_v1
    wait_until("aria2's announce", lambda: trk.scrape(v1_hash(created)), 10)
    dest = tmp_path / "dl"
    tidegate_downloads(make_engine, created, by, dest)
    assert tree_sha256(dest / folder.name) == tree_sha256(folder, skip_pad=True)
    both_seed(trk, created)


@pytest.mark.parametrize(("fmt", "by", "scheme"), CASES, ids=IDS)
def test_aria2_downloads_from_tidegate(
        make_engine: EngineFactory, tmp_path: Path, opentracker: Callable[[], Opentracker],
        aria2: Callable[[], Aria2], fmt: str, by: str, scheme: str) -> None:
    folder, created, trk = swarm(tmp_path, opentracker, fmt, scheme)
    seed = make_engine("seed")
    start_seed(seed, created, folder)
    wait_until("tidegate's announce", lambda: trk.scrape(v1_hash(created)), 10)
    ar = aria2()
    dest = tmp_path / "dl"
    # aria2 finds the seed through the tracker alone
    gid = ar.download(torrent=created.data, folder=dest) if by == "torrent" \
        else ar.download(magnet=created.magnet, folder=dest)
    if fmt == "hybrid" and ar.version.startswith(ARIA2_WRONG_HYBRID_HASH):
        # by .torrent at once; by magnet once the metadata came (right hash), aria2 goes
        # on under its own wrong hash
        def real_download() -> str | None:
            s = ar.status(gid)
            return s["followedBy"][0] if by == "magnet" and s.get("followedBy") else \
                gid if by == "torrent" else None
        real = wait_until("aria2 to take the metadata", real_download, 15)
        assert ar.status(real)["infoHash"] == aria2_hybrid_hash(created.data)
        return
    status = ar.wait_complete(gid, 40)
    assert status["infoHash"] == created.info_hash_v1
    same_payload(dest / folder.name, folder, created)
    both_seed(trk, created)
