"""What the program API's raw streams share: a position over a known ``size``."""

from __future__ import annotations

import io


class SeekableRaw(io.RawIOBase):
    """A readable, seekable raw stream; subclasses set ``size`` and read from ``_pos``."""

    size: int
    _pos: int = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"whence must be 0, 1 or 2, not {whence!r}")
        if base + offset < 0:
            raise ValueError(f"negative position {base + offset}")
        self._pos = base + offset
        return self._pos
