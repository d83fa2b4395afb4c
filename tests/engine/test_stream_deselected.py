"""Streaming a deselected file answers at once with what to do (it waited
web.stream_timeout, 60 s, and answered a misleading 504 before)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import build_engine, make_payload, make_torrent, port_of, start_seed
from tests.helpers.sites_util import site_engine
from tests.proxy.test_proxy import request
from tidegate.engine import AddRequest


def test_streaming_a_deselected_file_answers_409_at_once(tmp_path: Path) -> None:
    payload = make_payload(tmp_path, sizes=(2_000_000, 2_000_000))
    created = make_torrent(payload, fmt="v1", piece_size=256 << 10)
    seed = build_engine(tmp_path / "seed").start()
    viewer = site_engine(tmp_path / "viewer", web={"stream_timeout": 20.0}).start()
    try:
        start_seed(seed, created, payload)
        tid = viewer.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                                    file_priorities=(4, 0),
                                    peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
        viewer.wait_for(lambda s: s.torrents[tid].complete_on_disk, 20)
        # finished: its seed goes, and libtorrent does not dial it again for a deadline
        viewer.wait_for(lambda s: s.torrents[tid].num_peers == 0, 30)
        time.sleep(12)  # measured: right after the drop a deadline still reached the seed
        port, token = viewer.snapshot.web.port, viewer.snapshot.web.token
        host = f"127.0.0.1:{port}"
        started = time.monotonic()
        r = request(port, f"/torrent/{token}/{tid}/payload/file1.bin", host, timeout=60)
        took = time.monotonic() - started
        assert r.status == 409, (r.status, took)
        assert b"File 1 (payload/file1.bin) is deselected" in r.body
        assert took < 5.0, took
        # the selected file still streams
        ok = request(port, f"/torrent/{token}/{tid}/payload/file0.bin", host, timeout=60)
        assert ok.status == 200 and ok.body == (payload / "file0.bin").read_bytes()
    finally:
        viewer.stop()
        seed.stop()
