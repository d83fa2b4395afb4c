"""A torrent's file as a seekable Python stream, read through the engine's API.

:class:`TorrentFileStream` is the program API's torrent side: any
:class:`~engine.interface.EngineAPI` (a :class:`RemoteEngine` to the daemon, or an
embedded engine) reads a file of a torrent with ``torrent_read``, chunk by chunk, from
wherever the reader seeks, while the torrent downloads. The engine asks for the pieces a
read needs first (piece deadlines) and reads the next ones ahead, so a sequential reader
rarely waits; every byte comes from a piece that passed its hash check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..commands import Details
from ..commands_stream import MAX_READ, FileChunk, TorrentRead
from ..errors import InputError
from .seekable import SeekableRaw

if TYPE_CHECKING:
    from ..interface import EngineAPI
    from ..state import FileState

__all__ = ["TorrentFileStream", "torrent_files"]


def torrent_files(engine: EngineAPI, torrent_id: str,
                  timeout: float = 30.0) -> tuple[FileState, ...]:
    """A torrent's files (index, path, size, bytes done, priority), as ``details`` gives
    them: empty until the torrent's metadata has arrived."""
    return engine.run(Details(torrent_id)).result(timeout).files


class TorrentFileStream(SeekableRaw):
    """File ``file_index`` of torrent ``torrent_id``, readable and seekable.

    Opening it asks the engine once (an empty read), so an unknown torrent, a file index
    out of range or metadata not yet received raise here (``UnknownTorrentError``,
    ``InputError``, ``EngineError``), and :attr:`size` is known. A read returns at most
    ``chunk`` bytes (1 MiB); wrap it in :class:`io.BufferedReader` for ``read(n)`` of any
    size. A read that waits too long for a piece raises ``EngineError`` naming the piece
    (the engine waits ``web.stream_timeout`` at most).

    Args:
        engine: the daemon's :class:`RemoteEngine`, or any engine.
        torrent_id: the torrent's id (v1 info-hash in hex, or v2).
        file_index: the file's index, as :func:`torrent_files` lists it.
        chunk: bytes asked for per ``torrent_read`` (1 to 1 MiB).
    """

    def __init__(self, engine: EngineAPI, torrent_id: str, file_index: int,
                 chunk: int = MAX_READ):
        super().__init__()
        if not 1 <= chunk <= MAX_READ:
            raise InputError(str(chunk), f"chunk must be 1 to {MAX_READ} bytes")
        self.engine = engine
        self.torrent_id = torrent_id
        self.file_index = file_index
        self.chunk = chunk
        self._pos = 0
        self.size = self._read(0, 0).file_size
        """The file's size in bytes."""

    def _read(self, offset: int, length: int) -> FileChunk:
        fut = self.engine.run(TorrentRead(self.torrent_id, self.file_index, offset, length))
        # the engine bounds the wait, a RemoteEngine too; this only guards a lost future
        return fut.result(TorrentRead.timeout + 30.0 if TorrentRead.timeout else None)

    def readall(self) -> bytes:
        """The rest of the file, ``chunk`` bytes per read (``io.RawIOBase.readall`` asks
        8 KiB at a time: 5 MB/s over the API instead of hundreds)."""
        parts = []
        while data := self.read(self.chunk):
            parts.append(data)
        return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._checkClosed()
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.chunk, self.size - self._pos)
        if n <= 0:
            return 0
        got = self._read(self._pos, n).data
        view[:len(got)] = got
        self._pos += len(got)
        return len(got)
