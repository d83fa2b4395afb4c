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

from tidegate.engine import AddRequest
from tidegate.engine.metainfo import Created

from ..conftest import EngineFactory, start_seed
from .aria2 import Aria2
from .opentracker import Opentracker
from .procs import tree_sha256, wait_until, write_pad_files
from .quirks import ARIA2_WRONG_HYBRID_HASH, TRANSMISSION_NO_HYBRID, aria2_hybrid_hash
from .swarms import both_seed, same_payload, swarm, tidegate_downloads, v1_hash
from .transmission import RpcError, Transmission

# (format, added by, announce over)
CASES = [("v1", "torrent", "udp"), ("v1", "magnet", "http"),
         ("hybrid", "torrent", "http"), ("hybrid", "magnet", "udp")]
IDS = ["-".join(c) for c in CASES]


def transmission_refuses_hybrid(tr: Transmission, created: Created, dest: Path) -> bool:
    """True (after asserting it) when this transmission cannot load a hybrid torrent."""
    if not tr.version.startswith(TRANSMISSION_NO_HYBRID):
        return False
    # 3.00 parses no info dict that holds BEP 52's "file tree" (transmission-show: "Error
    # parsing .torrent file"); the RPC refuses the file outright
    with pytest.raises(RpcError, match="invalid or corrupt torrent file"):
        tr.add(torrent=created.data, download_dir=str(dest))
    return True


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "by", "scheme"), CASES, ids=IDS)
def test_tidegate_downloads_from_transmission(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
        transmission: Callable[[], Transmission], fmt: str, by: str, scheme: str) -> None:
    folder, created, trk = swarm(tmp_path, opentracker, fmt, scheme)
    tr = transmission()
    if fmt == "hybrid" and transmission_refuses_hybrid(tr, created, folder.parent):
        return
    # for a version that takes hybrids: pad files as zeros, in case it reads them from disk
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


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "by", "scheme"), CASES, ids=IDS)
def test_transmission_downloads_from_tidegate(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
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
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
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
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
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
