"""Session-level behaviour: settings applied live, queueing, stats, bare hashes, scale."""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec
import pytest

from tests.conftest import (
    LOOPBACK,
    EngineFactory,
    make_payload,
    make_torrent,
    merge,
    port_of,
    start_seed,
    tree_bytes,
)
from tidegate.engine import AddRequest
from tidegate.engine.config import from_dict
from tidegate.engine.errors import BadMagnetError, CancelledError, CreateError
from tidegate.engine.metainfo import CreateSpec, create_torrent
from tidegate.engine.state import enc_hook


def test_settings_apply_live(make_engine: EngineFactory) -> None:
    eng = make_engine("a")
    before = eng.session_settings().result(5)
    assert before["ssrf_mitigation"] and before["validate_https_trackers"]
    assert not before["allow_idna"]
    cfg = from_dict(merge(LOOPBACK, {
        "proxy": {"type": "socks5", "host": "127.0.0.1", "port": 9050, "username": "u"},
        "network": {"encryption": "forced", "connections_limit": 77},
        "queue": {"active_downloads": 2},
        "rates": {"download": 12345},
    }))
    eng.apply_config(cfg).result(5)
    after = eng.session_settings().result(5)
    assert after["proxy_hostname"] == "127.0.0.1" and after["proxy_port"] == 9050
    assert after["proxy_type"] != before["proxy_type"]
    assert after["out_enc_policy"] != before["out_enc_policy"]
    assert after["connections_limit"] == 77
    assert after["active_downloads"] == 2
    assert after["download_rate_limit"] == 12345
    assert after["ssrf_mitigation"] and not after["allow_idna"]


def test_queue_limits_hold_torrents_back(make_engine: EngineFactory, tmp_path: Path) -> None:
    eng = make_engine("a", queue={"active_downloads": 1, "active_limit": 1})
    hashes = [os.urandom(20).hex() for _ in range(3)]
    ids = [eng.add(AddRequest(uri=h, save_path=str(tmp_path / "dl"))).result(5) for h in hashes]
    snap = eng.wait_for(lambda s: all(i in s.torrents for i in ids) and
                        sorted(s.torrents[i].phase for i in ids) ==
                        ["metadata", "queued", "queued"], 10)
    assert [snap.torrents[i].paused for i in ids] == [False, False, False]
    running = next(i for i in ids if snap.torrents[i].phase == "metadata")
    eng.pause(running).result(5)
    snap = eng.wait_for(lambda s: s.torrents[running].phase == "paused" and
                        sum(s.torrents[i].phase == "metadata" for i in ids) == 1, 10)


def test_bare_hashes_fetch_metadata_v1_and_v2(make_engine: EngineFactory, tmp_path: Path) -> None:
    seed = make_engine("seed")
    leech = make_engine("leech")
    for fmt in ("v1", "v2"):
        folder = make_payload(tmp_path / f"src-{fmt}", sizes=(200_000, 3))
        created = make_torrent(folder, fmt)
        start_seed(seed, created, folder)
        bare = created.info_hash_v1 if fmt == "v1" else created.info_hash_v2
        assert bare is not None
        tid = leech.add(AddRequest(uri=bare, save_path=str(tmp_path / f"dl-{fmt}"),
                                   peers=(f"127.0.0.1:{port_of(seed)}",))).result(5)
        assert tid == bare
        leech.wait_for(lambda s, t=tid: t in s.torrents and s.torrents[t].complete_on_disk, 20)
        assert tree_bytes(tmp_path / f"dl-{fmt}" / folder.name) == tree_bytes(folder)
    with pytest.raises(BadMagnetError):
        leech.add(AddRequest(uri="abc123")).result(5)


def test_session_stats_count_traffic(make_engine: EngineFactory, tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(2_000_000,))
    created = make_torrent(folder)
    seed, leech = make_engine("seed"), make_engine("leech")
    start_seed(seed, created, folder)
    tid = leech.add(AddRequest(uri=created.magnet, save_path=str(tmp_path / "dl"),
                               peers=(f"127.0.0.1:{port_of(seed)}",))).result(5)
    leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 20)
    snap = leech.wait_for(lambda s: s.stats.total_download >= 2_000_000, 5)
    assert snap.stats.listen_port == port_of(leech)
    seed.wait_for(lambda s: s.stats.total_upload >= 2_000_000, 5)


def test_creation_reports_progress_and_cancels(tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(2_000_000, 1_000_000))
    seen: list[tuple[int, int]] = []
    made = create_torrent(CreateSpec(path=str(folder), format="v1", piece_size=65536,
                                     comment="c", private=True,
                                     web_seeds=("http://127.0.0.1:1/files/",)),
                          lambda d, t: seen.append((d, t)))
    assert seen[-1] == (made.num_pieces, made.num_pieces) and len(seen) == made.num_pieces
    assert made.num_files == 2 and made.piece_size == 65536
    import threading

    cancel = threading.Event()

    def stop_early(done: int, total: int) -> None:
        if done == 3:
            cancel.set()

    with pytest.raises(CancelledError):
        create_torrent(CreateSpec(path=str(folder)), stop_early, cancel)
    cancel.clear()
    with pytest.raises(CancelledError):  # v1 hashes on tidegate's own threads
        create_torrent(CreateSpec(path=str(folder), format="v1", piece_size=16384), stop_early,
                       cancel)
    with pytest.raises(CreateError, match="power of two"):
        create_torrent(CreateSpec(path=str(folder), piece_size=30000))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CreateError, match="nothing to share"):
        create_torrent(CreateSpec(path=str(empty)))
    # deterministic: same content, same info-hash
    again = create_torrent(CreateSpec(path=str(folder), format="v1", piece_size=65536,
                                      comment="c", private=True,
                                      web_seeds=("http://127.0.0.1:1/files/",)))
    assert again.info_hash_v1 == made.info_hash_v1


@pytest.mark.slow
def test_many_torrents_survive_restart(make_engine: EngineFactory, tmp_path: Path) -> None:
    n = 400
    root = tmp_path / "many"
    blobs = []
    for i in range(n):
        f = root / f"t{i:04d}.bin"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(i.to_bytes(4, "big") * 256)
        blobs.append(create_torrent(CreateSpec(path=str(f), format="v1")).data)
    eng = make_engine("a", start=False, engine={"snapshot_hz": 10})
    eng.start()
    started = time.monotonic()
    futs = [eng.add(AddRequest(torrent=b, save_path=str(root))) for b in blobs]
    ids = {f.result(30) for f in futs}
    eng.wait_for(lambda s: len(s.torrents) == n and
                 all(t.phase == "seeding" for t in s.torrents.values()), 60)
    added_in = time.monotonic() - started
    stop_started = time.monotonic()
    eng.stop()
    stop_took = time.monotonic() - stop_started
    assert stop_took < eng.config.engine.stop_timeout
    assert len(list(eng.state_dir.glob("*.resume"))) == n
    again = make_engine("a")
    snap = again.wait_for(lambda s: set(s.torrents) == ids and
                          all(t.phase == "seeding" for t in s.torrents.values()), 60)
    assert len(snap.torrents) == n
    print(f"{n} torrents: added+checked in {added_in:.1f} s, stop {stop_took:.2f} s")
    decoded = msgspec.json.decode(msgspec.json.encode(snap, enc_hook=enc_hook))
    assert set(decoded["torrents"]) == ids


def test_v1_hashes_on_threads_match_libtorrent(tmp_path: Path) -> None:
    """tidegate hashes v1 torrents itself on several threads: byte for byte what
    libtorrent's set_piece_hashes makes, across file boundaries and empty files."""
    import libtorrent as lt

    root = tmp_path / "d"
    for i, size in enumerate((0, 1, 16383, 16384, 16385, 100_000, 0, 7, 300_000, 196_613)):
        sub = root / ("a/b", "a", "")[i % 3]
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.bin").write_bytes(os.urandom(size))
    (tmp_path / "one.bin").write_bytes(os.urandom(1_000_001))
    for path in (root, tmp_path / "one.bin"):
        for piece in (16384, 65536, 1 << 20):
            ct = lt.create_torrent(lt.list_files(str(path)), piece, lt.create_torrent.v1_only)
            lt.set_piece_hashes(ct, str(path.parent))
            made = create_torrent(CreateSpec(path=str(path), format="v1", piece_size=piece))
            assert made.data == lt.bencode(ct.generate()), (path.name, piece)
