"""Engine faults the crash harness found, each pinned by a direct test."""

from __future__ import annotations

from pathlib import Path

from engine import AddRequest

from ..conftest import EngineFactory


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
