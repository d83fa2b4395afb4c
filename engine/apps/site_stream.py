"""A site's file as a seekable stream of verified bytes (``site_read`` chunk by chunk)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..api.seekable import SeekableRaw
from ..commands_apps import MAX_READ, SiteChunk, SiteRead
from ..errors import InputError

if TYPE_CHECKING:
    from ..interface import EngineAPI

READ_TIMEOUT = 60.0


class SiteFileStream(SeekableRaw):
    """Bytes ``[start, end)`` of a site's file (``end`` None: to its end), readable and
    seekable; positions are within that window (0 is ``start``).

    Opening it reads nothing but asks once (an empty read), so an unknown site or path
    raises here and :attr:`size` (the window's) and :attr:`file_size` are known. Each
    read is one ``site_read`` of at most ``chunk`` bytes, verified by the daemon against
    the chain (a mismatch raises ``SiteError``: nothing unverified is returned). The
    snapshot read from is the newest at each read: :attr:`snapshot` says which the last
    read came from; a read that finds another snapshot than the first raises
    ``SiteError`` rather than mix two versions of a file.
    """

    def __init__(self, engine: EngineAPI, site: str, path: str, start: int = 0,
                 end: int | None = None, chunk: int = MAX_READ):
        super().__init__()
        if not 1 <= chunk <= MAX_READ:
            raise InputError("chunk", f"{chunk}: 1 to {MAX_READ} bytes")
        self.engine, self.site, self.path, self.chunk = engine, site, path, chunk
        first = self._read(0, 0)
        self.file_size = first.size
        self.snapshot = first.snapshot
        self.content_type = first.content_type
        self.etag = first.etag
        end = first.size if end is None else min(end, first.size)
        if not 0 <= start <= end:
            raise InputError("start", f"{start}..{end} is not a range of {path} "
                                      f"({first.size} bytes)")
        self.start, self.end = start, end
        self.size = end - start
        self._pos = 0

    def _read(self, offset: int, length: int) -> SiteChunk:
        return self.engine.run(SiteRead(self.site, self.path, offset, length)).result(
            READ_TIMEOUT)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._checkClosed()
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.chunk, self.size - self._pos)
        if n <= 0:
            return 0
        got = self._read(self.start + self._pos, n)
        if got.snapshot != self.snapshot:
            from ..errors import SiteError
            raise SiteError(self.site, f"{self.path} changed (snapshot {self.snapshot} -> "
                                       f"{got.snapshot}) while it was read: open it again")
        view[:len(got.data)] = got.data
        self._pos += len(got.data)
        return len(got.data)
