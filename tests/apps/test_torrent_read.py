"""``torrent_read`` and ``TorrentFileStream`` against real engines on 127.0.0.1: the bytes
at every boundary equal the file's, a read of a file still downloading returns verified
bytes from where it was asked, and each refusal names what was wrong."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from tests.conftest import EngineFactory, make_payload, make_torrent, port_of, start_seed
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.engine.api.torrent_stream import TorrentFileStream, torrent_files
from tidegate.engine.apps.client import AppClient
from tidegate.engine.commands_stream import MAX_READ, FileChunk
from tidegate.engine.errors import (
    EngineError,
    EngineStoppedError,
    InputError,
    UnknownTorrentError,
)
from tidegate.engine.interface import EngineAPI

PIECE = 64 << 10


class Counted(TorrentFileStream):
    """Records the length of each ``torrent_read`` it makes."""

    def _read(self, offset: int, length: int) -> FileChunk:
        self.asked: list[int] = getattr(self, "asked", [])
        self.asked.append(length)
        return super()._read(offset, length)


def read(engine: EngineAPI, tid: str, index: int, offset: int, length: int,
         timeout: float = 30) -> FileChunk:
    return engine.run(cmds.TorrentRead(tid, index, offset, length)).result(timeout)


@pytest.mark.parametrize("fmt", ["v1", "hybrid"])
def test_reads_and_seeks_return_the_files_bytes_at_every_boundary(
        tmp_path: Path, make_engine: EngineFactory, fmt: str) -> None:
    # two files: in v1 the second starts inside a piece; a hybrid pads it to a piece
    # boundary (a pad file, which the indexes leave out)
    payload = make_payload(tmp_path, sizes=(3 * MAX_READ + 12_345, 200_003))
    created = make_torrent(payload, fmt=fmt, piece_size=PIECE)
    seed = make_engine("seed")
    tid = start_seed(seed, created, payload)
    files = torrent_files(seed, tid)
    second = 1 if fmt == "v1" else 2
    assert [(f.index, f.path, f.size) for f in files] == [
        (0, "payload/file0.bin", 3 * MAX_READ + 12_345), (second, "payload/file1.bin", 200_003)]
    if fmt == "hybrid":
        with pytest.raises(InputError, match=r"has no file 1 \(its files are 0, 2\)"):
            read(seed, tid, 1, 0, 1)  # the pad file
    for f in files:
        data = (payload / Path(f.path).name).read_bytes()
        size = len(data)
        for offset, length in ((0, 1), (0, PIECE), (PIECE - 1, 2), (PIECE, PIECE + 1),
                               (size - 1, 10), (size - 3, 3), (size, 5), (0, MAX_READ),
                               (5, 3 * MAX_READ), (size // 2, 0)):
            if offset > size:
                continue
            got = read(seed, tid, f.index, offset, length)
            want = data[offset:offset + min(length, MAX_READ)]
            assert got.data == want, (f.index, offset, length, len(got.data))
            assert (got.offset, got.file_size) == (offset, size)

        stream = TorrentFileStream(seed, tid, f.index)
        assert stream.size == size and stream.seekable() and stream.tell() == 0
        buffered = io.BufferedReader(stream, buffer_size=MAX_READ)
        assert buffered.read() == data  # many chunks, sequential

        counted = Counted(seed, tid, f.index)
        assert counted.read() == data  # readall: 1 MiB a call, not RawIOBase's 8 KiB
        assert counted.asked == [0] + [min(MAX_READ, size - o) for o in range(0, size, MAX_READ)]
        assert stream.read(10) == b""  # at the end
        for pos in (size - 7, PIECE - 3, 0, size // 3):
            assert stream.seek(pos) == pos
            assert stream.read(PIECE) == data[pos:pos + PIECE]
        assert stream.seek(-4, io.SEEK_END) == size - 4 and stream.read(100) == data[-4:]
        stream.seek(10)
        assert stream.seek(5, io.SEEK_CUR) == 15 and stream.read(1) == data[15:16]
        assert stream.seek(size + 100) == size + 100 and stream.read(1) == b""
        with pytest.raises(ValueError, match="negative"):
            stream.seek(-1)
        stream.close()
        with pytest.raises(ValueError):
            stream.read(1)
        with AppClient(seed).open_torrent_file(tid, f.index) as through_app:
            through_app.seek(size // 2)
            assert through_app.read() == data[size // 2:]


def test_each_refusal_names_what_was_wrong(tmp_path: Path,
                                            make_engine: EngineFactory) -> None:
    payload = make_payload(tmp_path, sizes=(300_000, 5))
    created = make_torrent(payload, fmt="v1", piece_size=PIECE)
    seed = make_engine("seed")
    tid = start_seed(seed, created, payload)
    with pytest.raises(UnknownTorrentError, match="0{40}"):
        read(seed, "0" * 40, 0, 0, 10)
    with pytest.raises(InputError, match=r"file index out of range: torrent \w+ has no file 2 "
                                         r"\(its files are 0, 1\)"):
        read(seed, tid, 2, 0, 10)
    with pytest.raises(InputError, match=r"offset past the end of file 1 "
                                         r"\(payload/file1.bin, 5 bytes\)"):
        read(seed, tid, 1, 6, 1)
    with pytest.raises(InputError, match="offset"):
        TorrentFileStream(seed, tid, 0).engine.run(cmds.TorrentRead(tid, 0, -1, 1)).result(5)
    with pytest.raises(InputError, match="chunk"):
        TorrentFileStream(seed, tid, 0, chunk=MAX_READ + 1)

    # no peers at all: the metadata never comes, and no piece does either
    lonely = make_engine("lonely", web={"port": 0, "stream_timeout": 1.5})
    magnet = lonely.add(AddRequest(uri=created.magnet, save_path=str(tmp_path / "m"))).result(10)
    with pytest.raises(EngineError, match="has no metadata yet"):
        TorrentFileStream(lonely, magnet, 0)
    lonely.remove(magnet).result(10)
    other = lonely.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "o"))).result(10)
    started = time.monotonic()
    with pytest.raises(EngineError, match=rf"timed out after 1.5 s waiting for piece 2 of "
                                          rf"torrent {other} \(file 0, payload/file0.bin, "
                                          rf"bytes {2 * PIECE}-{2 * PIECE + 99}\)"):
        read(lonely, other, 0, 2 * PIECE, 100)
    took = time.monotonic() - started
    assert 1.4 < took < 10, took
    lonely.pause(other).result(10)
    with pytest.raises(EngineError, match="is paused"):
        read(lonely, other, 0, 0, 1)
    # a read waiting when its torrent is removed fails at once, saying so
    lonely.resume(other).result(10)
    waiting = lonely.run(cmds.TorrentRead(other, 0, 0, 10))
    lonely.details(other).result(10)  # commands run in order: the read is parked now
    lonely.remove(other).result(10)
    with pytest.raises(EngineError, match=f"torrent {other} was removed"):
        waiting.result(5)
    # a read waiting when the engine stops fails at once, not after its wait
    other = lonely.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "o"))).result(10)
    waiting = lonely.run(cmds.TorrentRead(other, 0, 0, 10))
    lonely.details(other).result(10)  # commands run in order: the read is parked now
    assert not waiting.done()
    lonely.stop()
    with pytest.raises(EngineStoppedError):
        waiting.result(5)


def test_a_file_still_downloading_reads_from_where_it_is_asked(
        tmp_path: Path, make_engine: EngineFactory) -> None:
    """The seed sends 512 KiB/s: a read far into the file returns its bytes (verified)
    while most of the torrent is still to come."""
    payload = tmp_path / "payload"
    payload.mkdir()
    data = os.urandom(8_000_000)
    (payload / "movie.webm").write_bytes(data)
    created = make_torrent(payload, fmt="hybrid", piece_size=256 << 10)
    seed = make_engine("seed", rates={"upload": 512 << 10, "limit_local_peers": True})
    start_seed(seed, created, payload)
    viewer = make_engine("viewer")
    tid = viewer.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                                peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    viewer.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "downloading", 20)
    stream = TorrentFileStream(viewer, tid, 0)
    stream.seek(6_500_000)
    started = time.monotonic()
    got = stream.read(MAX_READ)
    took = time.monotonic() - started
    progress = viewer.snapshot.torrents[tid].progress
    assert got == data[6_500_000:6_500_000 + MAX_READ]
    assert progress < 0.8, progress  # read long before the download reached it
    assert took < 30, took


def test_another_readers_read_ahead_does_not_take_a_waiting_reads_piece(
        tmp_path: Path, make_engine: EngineFactory) -> None:
    """A read waiting for the last piece, then a read at the start whose read-ahead
    (8 MiB) covers that piece: setting its deadline again without alert_when_available
    took the alert away, and the first read waited out its timeout (seen in the video
    page's test: a tail request answered 504 after 60 s)."""
    payload = make_payload(tmp_path, sizes=(4_000_000,))
    data = (payload / "file0.bin").read_bytes()
    created = make_torrent(payload, fmt="v1", piece_size=PIECE)
    seed = make_engine("seed", rates={"upload": 256 << 10, "limit_local_peers": True})
    start_seed(seed, created, payload)
    viewer = make_engine("viewer", web={"port": 0, "stream_timeout": 20.0})
    tid = viewer.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                                sequential=True,
                                peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
    size = len(data)
    tail = viewer.run(cmds.TorrentRead(tid, 0, size - 100, 100))
    viewer.details(tid).result(10)  # commands run in order: the tail read is waiting
    head = viewer.run(cmds.TorrentRead(tid, 0, 0, 100))
    started = time.monotonic()
    assert head.result(30).data == data[:100]
    assert tail.result(30).data == data[-100:]
    took = time.monotonic() - started
    assert took < 15, took
    assert viewer.snapshot.torrents[tid].progress < 1.0
