"""`TorrentState.num_pieces` is the torrent's number of pieces and `pieces_done` the
pieces had (libtorrent's `torrent_status.num_pieces` is the latter: a torrent with none
showed "0 × 64 KiB" pieces in the TUI's Info tab)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import build_engine, make_payload, make_torrent, start_seed
from tidegate.engine import AddRequest


def test_piece_count_is_the_torrents_not_the_pieces_had(tmp_path: Path) -> None:
    payload = make_payload(tmp_path / "src", sizes=(300_000, 150_000))
    created = make_torrent(payload, fmt="v1", piece_size=32 << 10)
    assert created.num_pieces > 10
    eng = build_engine(tmp_path / "home").start()
    try:
        seed = start_seed(eng, created, payload)
        snap = eng.wait_for(lambda s: s.torrents[seed].pieces_done == created.num_pieces, 10)
        assert snap.torrents[seed].num_pieces == created.num_pieces
        other = make_torrent(make_payload(tmp_path / "src2", name="other", sizes=(200_000,)),
                             fmt="v1", piece_size=16 << 10)
        tid = eng.add(AddRequest(torrent=other.data, save_path=str(tmp_path / "empty"),
                                 paused=True)).result(10)
        snap = eng.wait_for(lambda s: tid in s.torrents, 10)
        state = snap.torrents[tid]
        assert (state.num_pieces, state.pieces_done) == (other.num_pieces, 0)
    finally:
        eng.stop()
