"""The engine's streaming calls, a part of :class:`engine.engine.Engine`'s interface.

A torrent's layout (``stream_info``) and its pieces (``read_piece``), which the Smart
Proxy streams from, and the ``torrent_read`` command, which reads a file's bytes for a
program on the API (``engine/commands_stream.py``). Each posts to the engine thread like
every other command; only pieces that passed their hash check are ever returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from . import commands as cmds
from .channel import DEFERRED
from .commands import implements
from .commands_stream import MAX_OFFSET, READ_WAIT, FileChunk
from .errors import InputError
from .requests import check_index, check_read, is_int

if TYPE_CHECKING:
    from .config import Config
    from .torrents.manager import TorrentManager
    from .torrents.pieces import StreamInfo


class StreamCalls:
    """Mixed into :class:`~engine.engine.Engine`, whose ``_call``, ``_checked``, ``_m``
    and ``config`` these use."""

    if TYPE_CHECKING:
        @property
        def config(self) -> Config: ...

        def _call(self, fn: Callable[..., Any], *args: Any) -> Future[Any]: ...

        def _checked(self, check: Callable[[], object], fn: Callable[..., Any],
                     *args: Any) -> Future[Any]: ...

        def _m(self) -> TorrentManager: ...

    def stream_info(self, torrent_id: str) -> Future[StreamInfo]:
        """A torrent's files and pieces, for streaming (in-process only)."""
        return self._call(lambda: self._m().pieces.info(torrent_id,
                                                        self._m().get(torrent_id).handle))

    def read_piece(self, torrent_id: str, piece: int, deadline_ms: int = 0,
                   prefetch: Iterable[int] = ()) -> Future[bytes]:
        """A piece's bytes once libtorrent has it (asked for first, by ``deadline_ms``);
        ``prefetch`` pieces are asked for next, in order (in-process only)."""
        ahead = list(prefetch)

        def read(fut: Future[bytes]) -> None:
            m = self._m()
            handle = m.get(torrent_id).handle
            m.pieces.read(torrent_id, handle, piece, deadline_ms, fut)
            if ahead:
                m.pieces.prefetch(torrent_id, handle, ahead, deadline_ms + 500, 200)

        return self._checked(lambda: check_read(piece, ahead, deadline_ms), read, DEFERRED)

    @implements(cmds.TorrentRead)
    def torrent_read(self, torrent_id: str, file_index: int, offset: int,
                     length: int) -> Future[FileChunk]:
        """Up to 1 MiB of file ``file_index`` at ``offset``; missing pieces are asked for
        first and waited for (``web.stream_timeout``, at most ``READ_WAIT`` s), the next
        ``web.readahead_mb`` read ahead."""
        web = self.config.web
        wait = min(web.stream_timeout, READ_WAIT)

        def read(fut: Future[FileChunk]) -> None:
            m = self._m()
            m.file_reads.read(torrent_id, m.get(torrent_id).handle, file_index, offset,
                              length, web.readahead_mb << 20, wait, fut)

        def check() -> None:
            check_index(file_index, "file_index")
            for value, name in ((offset, "offset"), (length, "length")):
                if not is_int(value) or not 0 <= value <= MAX_OFFSET:
                    raise InputError(repr(value), f"{name} must be 0 to {MAX_OFFSET}")

        return self._checked(check, read, DEFERRED)
