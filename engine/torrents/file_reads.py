"""A file's bytes at an offset, from the pieces that hold them, while the torrent downloads.

The span arithmetic (which pieces cover a file's byte range, which part of a piece is in
it, which pieces to read ahead) is shared by the Smart Proxy's stream
(``engine/proxy/stream.py``) and the ``torrent_read`` command. :class:`FileReads` is the
command's part on the engine thread: it asks :class:`~.pieces.PieceReader` for every piece
of the span (deadlines in order, so the first arrives first), asks for the next pieces
ahead, assembles the bytes once all have passed their hash check, and fails a read that
waited too long, naming the piece it was waiting for.

A read that is not where the last one's read-ahead led (a seek) takes the deadlines off
that read-ahead: libtorrent requests time-critical pieces by their deadline, and the old
read-ahead's deadlines (set seconds before, so earlier) would otherwise all come before
the pieces the reader now waits for (a seek in a 256 KiB/s swarm took 10-13 s).
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial

import libtorrent as lt

from ..commands_stream import MAX_READ, FileChunk
from ..errors import EngineError, EngineStoppedError, InputError
from .pieces import PieceReader, StreamFile, StreamInfo

MAX_READS = 1024
"""File reads waiting at once across the session; more are refused instead of queued."""
MAX_TRACKED = 256
"""Torrents whose read-ahead is remembered (the oldest is forgotten past this)."""
STEP_MS = 50
"""Deadline step between the pieces of one read (the first is wanted now)."""


def pieces_of(piece_length: int, f: StreamFile, start: int, end: int) -> range:
    """The pieces holding bytes ``[start, end)`` of file ``f`` (``end > start``)."""
    return range((f.offset + start) // piece_length, (f.offset + end - 1) // piece_length + 1)


def cut(data: bytes, piece: int, piece_length: int, f: StreamFile, start: int,
        end: int) -> bytes:
    """The part of ``piece`` (its bytes ``data``) that is in bytes ``[start, end)`` of ``f``."""
    base = piece * piece_length
    lo = max(f.offset + start, base) - base
    hi = min(f.offset + end, base + piece_length) - base
    return data[lo:hi]


def ahead_of(piece_length: int, f: StreamFile, end: int, nbytes: int) -> list[int]:
    """The pieces after byte ``end`` of ``f`` holding its next ``nbytes`` (at least two
    pieces, never past the file): what a sequential reader asks for next."""
    if end >= f.size:
        return []
    last = (f.offset + end - 1) // piece_length
    stop = (f.offset + min(f.size, end + max(nbytes, 2 * piece_length)) - 1) // piece_length
    return list(range(last + 1, stop + 1))


def find_file(info: StreamInfo, file_index: int) -> StreamFile:
    f = next((x for x in info.files if x.index == file_index), None)
    if f is None:
        indexes = [x.index for x in info.files]
        have = ("it has no files" if not indexes else
                f"its files are {', '.join(map(str, indexes))}" if len(indexes) <= 8 else
                f"its files are {indexes[0]} to {indexes[-1]}, pad files left out")
        raise InputError(str(file_index), f"file index out of range: torrent "
                                          f"{info.torrent_id} has no file {file_index} ({have})")
    return f


@dataclass(slots=True)
class _Read:
    torrent_id: str
    f: StreamFile
    start: int
    end: int
    piece_length: int
    deadline: float
    wait: float
    fut: Future[FileChunk]
    parts: dict[int, Future[bytes]] = field(default_factory=dict)


class FileReads:
    """File reads waiting for their pieces (engine thread only)."""

    def __init__(self, pieces: PieceReader):
        self._pieces = pieces
        self._reads: list[_Read] = []
        self._ahead: dict[str, set[int]] = {}

    def read(self, torrent_id: str, handle: lt.torrent_handle, file_index: int, offset: int,
             length: int, readahead: int, wait: float, fut: Future[FileChunk]) -> None:
        """Resolve ``fut`` with up to :data:`MAX_READ` bytes of the file at ``offset``."""
        info = self._pieces.info(torrent_id, handle)
        f = find_file(info, file_index)
        if offset > f.size:
            raise InputError(str(offset), f"offset past the end of file {file_index} "
                                          f"({f.path}, {f.size} bytes) of torrent {torrent_id}")
        end = offset + min(length, MAX_READ, f.size - offset)
        if end == offset:
            fut.set_result(FileChunk(data=b"", offset=offset, file_size=f.size))
            return
        span = pieces_of(info.piece_length, f, offset, end)
        missing = [p for p in span if not handle.have_piece(p)]
        if missing and f.deselected:
            raise EngineError(f"file {file_index} ({f.path}) of torrent {torrent_id} is "
                              "deselected (priority 0) and not downloaded; select it to read it")
        if missing and info.paused:
            raise EngineError(f"torrent {torrent_id} is paused (or choosing files): piece "
                              f"{missing[0]} cannot arrive; resume it to read file {file_index}")
        self._drop_done()
        if len(self._reads) >= MAX_READS:
            raise EngineError(f"too many file reads waiting ({MAX_READS})")
        r = _Read(torrent_id, f, offset, end, info.piece_length, time.monotonic() + wait, wait,
                  fut)
        try:
            for n, piece in enumerate(span):
                part: Future[bytes] = Future()
                r.parts[piece] = part
                self._pieces.read(torrent_id, handle, piece, n * STEP_MS, part)
        except BaseException:
            self._cancel(r)
            raise
        self._reads.append(r)
        ahead = ahead_of(info.piece_length, f, end, readahead)
        self._retarget(torrent_id, handle, set(span) | set(ahead), set(ahead))
        if ahead:
            self._pieces.prefetch(torrent_id, handle, ahead, len(span) * STEP_MS + 500, 200)
        settle = partial(self._settle, r)
        for part in r.parts.values():
            part.add_done_callback(settle)

    def _retarget(self, torrent_id: str, handle: lt.torrent_handle, wanted: set[int],
                  ahead: set[int]) -> None:
        """Take the deadlines off the last read-ahead's pieces this read does not want."""
        old = self._ahead.pop(torrent_id, set())
        for piece in old - wanted:
            if not self._pieces.waiting(torrent_id, piece) and not handle.have_piece(piece):
                handle.reset_piece_deadline(piece)
        self._ahead[torrent_id] = ahead
        while len(self._ahead) > MAX_TRACKED:
            del self._ahead[next(iter(self._ahead))]

    def _settle(self, r: _Read, _part: Future[bytes] | None = None) -> None:
        if r.fut.done():
            return
        for part in r.parts.values():
            exc = part.exception() if part.done() and not part.cancelled() else None
            if exc is not None:
                r.fut.set_exception(exc)
                self._cancel(r)
                return
        if all(p.done() for p in r.parts.values()):
            data = b"".join(cut(p.result(), piece, r.piece_length, r.f, r.start, r.end)
                            for piece, p in sorted(r.parts.items()))
            r.fut.set_result(FileChunk(data=data, offset=r.start, file_size=r.f.size))

    @staticmethod
    def _cancel(r: _Read) -> None:
        for part in r.parts.values():
            part.cancel()  # the PieceReader skips futures that are done

    @property
    def waiting(self) -> bool:
        """Something waits on a deadline that :meth:`expire` must meet."""
        return bool(self._reads)

    def expire(self, now: float) -> None:
        """Fail the reads that waited past their deadline, naming the missing piece."""
        for r in self._reads:
            if now >= r.deadline and not r.fut.done():
                piece = next((p for p, part in sorted(r.parts.items()) if not part.done()), -1)
                r.fut.set_exception(EngineError(
                    f"timed out after {r.wait:g} s waiting for piece {piece} of torrent "
                    f"{r.torrent_id} (file {r.f.index}, {r.f.path}, bytes "
                    f"{r.start}-{r.end - 1})"))
                self._cancel(r)
        self._drop_done()

    def close(self) -> None:
        """The engine stops: every waiting read fails at once."""
        for r in self._reads:
            if not r.fut.done():
                r.fut.set_exception(EngineStoppedError("the engine is stopping"))
            self._cancel(r)
        self._reads = []

    def _drop_done(self) -> None:
        self._reads = [r for r in self._reads if not r.fut.done()]
