"""Pieces for streaming: a torrent's layout, and pieces read as they arrive.

``read`` resolves with a piece's bytes through libtorrent's own disk I/O
(``read_piece`` → ``read_piece_alert``), so what is returned is what libtorrent checked,
even when the write has not reached the file yet. A piece not downloaded yet gets a
deadline with ``alert_when_available``: libtorrent requests it before others and posts
the same alert once it has passed its hash check. Engine thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import libtorrent as lt

from ..errors import EngineError
from .text import read_text

MAX_WAITERS = 4096
"""Pending piece reads across the session; more are refused instead of queued."""


@dataclass(frozen=True, slots=True)
class StreamFile:
    index: int
    path: str
    size: int
    offset: int
    """Byte offset of the file in the torrent's piece space."""
    deselected: bool = False
    """Priority 0 and not complete: libtorrent does not fetch it (:mod:`..proxy.stream`)."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    torrent_id: str
    name: str
    piece_length: int
    num_pieces: int
    files: tuple[StreamFile, ...]
    paused: bool
    """Paused by the user or in upload mode (choosing files): nothing downloads."""


class PieceReader:
    def __init__(self, id_for: Callable[[lt.torrent_handle], str | None]):
        self._id_for = id_for
        self._waiting: dict[tuple[str, int], list[Future[bytes]]] = {}

    def handlers(self) -> dict[type, Callable[[Any], None]]:
        return {lt.read_piece_alert: self._on_read}

    @staticmethod
    def info(torrent_id: str, handle: lt.torrent_handle) -> StreamInfo:
        ti = handle.torrent_file()
        if ti is None:
            raise EngineError(f"torrent {torrent_id} has no metadata yet")
        fs = ti.layout()
        st = handle.status(lt.status_flags_t.query_renamed_files)
        renamed = st.renamed_files  # the paths the file list shows (renames included)
        prios = list(handle.get_file_priorities())
        done = list(handle.file_progress(lt.torrent_handle.piece_granularity))
        files = tuple(
            StreamFile(i, renamed.file_path(fs, i).replace("\\", "/"), fs.file_size(i),
                       fs.file_offset(i),
                       deselected=prios[i] == 0 and done[i] < fs.file_size(i))
            for i in range(fs.num_files())
            if not fs.file_flags(i) & lt.file_storage.flag_pad_file)
        flags = st.flags
        paused = bool(flags & lt.torrent_flags.upload_mode) or (
            bool(flags & lt.torrent_flags.paused) and not flags & lt.torrent_flags.auto_managed)
        return StreamInfo(torrent_id, read_text(lambda: st.name), ti.piece_length(),
                          ti.num_pieces(), files, paused)

    def read(self, torrent_id: str, handle: lt.torrent_handle, piece: int, deadline_ms: int,
             fut: Future[bytes]) -> None:
        ti = handle.torrent_file()
        if ti is None or not 0 <= piece < ti.num_pieces():
            raise EngineError(f"torrent {torrent_id} has no piece {piece}")
        if sum(len(v) for v in self._waiting.values()) >= MAX_WAITERS:
            for k in list(self._waiting):  # drop reads whose callers gave up
                self._waiting[k] = [f for f in self._waiting[k] if not f.done()]
                if not self._waiting[k]:
                    del self._waiting[k]
            if sum(len(v) for v in self._waiting.values()) >= MAX_WAITERS:
                raise EngineError("too many piece reads waiting")
        key = (torrent_id, piece)
        first = key not in self._waiting
        self._waiting.setdefault(key, []).append(fut)
        if not first:
            return
        if handle.have_piece(piece):
            handle.read_piece(piece)
        else:
            handle.set_piece_deadline(piece, max(0, deadline_ms),
                                      lt.deadline_flags_t.alert_when_available)

    def waiting(self, torrent_id: str, piece: int) -> bool:
        """A read waits for this piece (its deadline must stay)."""
        return bool(self._waiting.get((torrent_id, piece)))

    def prefetch(self, torrent_id: str, handle: lt.torrent_handle, pieces: list[int],
                 deadline_ms: int, step_ms: int) -> None:
        """Ask for ``pieces`` soon, in order (no alert): read-ahead for a stream.

        A piece a read waits for is left alone: a deadline set again without
        ``alert_when_available`` takes that flag away, and the read would never hear of
        its piece (a tail read behind another reader's read-ahead waited out its timeout).
        """
        ti = handle.torrent_file()
        if ti is None:
            return
        for n, piece in enumerate(pieces):
            if (0 <= piece < ti.num_pieces() and not handle.have_piece(piece)
                    and not self._waiting.get((torrent_id, piece))):
                handle.set_piece_deadline(piece, deadline_ms + n * step_ms)

    def _on_read(self, a: lt.read_piece_alert) -> None:
        tid = self._id_for(a.handle)
        if tid is None:
            return
        futs = self._waiting.pop((tid, int(a.piece)), [])
        if not futs:
            return
        if a.error.value():
            err = EngineError(f"reading piece {a.piece} of {tid}: {read_text(a.error.message)}")
            for fut in futs:
                if not fut.done():
                    fut.set_exception(err)
            return
        data = bytes(a.buffer)
        for fut in futs:
            if not fut.done():
                fut.set_result(data)

    def forget(self, torrent_id: str) -> None:
        """The torrent left the session: fail its waiting reads."""
        for key in [k for k in self._waiting if k[0] == torrent_id]:
            for fut in self._waiting.pop(key):
                if not fut.done():
                    fut.set_exception(EngineError(f"torrent {torrent_id} was removed"))
