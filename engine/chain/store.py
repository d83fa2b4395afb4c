"""One site's chain on disk: an append-only file, fsynced on every append.

Layout: the 8-byte magic ``TGCHAIN1``, then one record per entry, ``length`` (4 bytes,
big-endian) + the entry's bytes + CRC-32 of those bytes (4 bytes, big-endian). History is
never rewritten. On open every record is read and the whole chain verified again; a record
cut short, or a last record whose CRC fails, is a torn tail from a crash during an append:
it is cut off (and the cut fsynced), and no complete entry is lost. Damage anywhere else is
an error naming the file and offset: such a file is never "repaired" by dropping history.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from ..durable import sync_folder, write_synced
from .errors import ChainRejected
from .verify import Chain

MAGIC = b"TGCHAIN1"
_LEN = struct.Struct(">I")
MIN_ENTRY_BYTES = 128
"""No entry is shorter (a genesis with an empty name is ~170 bytes): a received chain file
of millions of tiny records is refused instead of becoming millions of objects."""


class ChainStore:
    """The verified chain of one site and the file that holds it."""

    def __init__(self, path: Path, chain: Chain, cut: int) -> None:
        self.path = path
        self.chain = chain
        self.cut_bytes = cut
        """Bytes of torn tail removed when the file was opened (0 normally)."""

    @classmethod
    def open(cls, path: Path, address: str) -> ChainStore:
        """Open (or create) ``path`` for the site at ``address``, verifying every entry."""
        chain = Chain(address)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            _write_new(path)
            return cls(path, chain, 0)
        data = path.read_bytes()
        if data[:len(MAGIC)] != MAGIC:
            if MAGIC.startswith(data):  # crashed while creating it
                _write_new(path)
                return cls(path, chain, len(data))
            raise ChainRejected("corrupt_store", f"{path}: not a tidegate chain file")
        offset, good = len(MAGIC), len(MAGIC)
        while offset < len(data):
            record = _record_at(data, offset)
            if record is None:  # cut short: a torn tail
                break
            raw, end = record
            if zlib.crc32(raw) != _LEN.unpack_from(data, end - 4)[0]:
                if end == len(data):
                    break  # the last record, damaged mid-write: a torn tail
                raise ChainRejected("corrupt_store", f"{path}: damaged record at byte {offset}")
            try:
                chain.accept(raw, None)
            except ChainRejected as exc:
                raise ChainRejected("corrupt_store", f"{path}: record at byte {offset}: "
                                                     f"{exc}") from None
            offset = good = end
        cut = len(data) - good
        if cut:
            with open(path, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())
        return cls(path, chain, cut)

    def append(self, raw: bytes, now: float | None) -> bool:
        """Verify ``raw`` as the next entry and append it durably; False if already held.

        Nothing is written unless the entry is accepted, and the entry is only counted as
        held in memory once it is on disk.
        """
        checked = self.chain.check(raw, now)
        if checked is None:
            return False
        record = _LEN.pack(len(raw)) + raw + _LEN.pack(zlib.crc32(raw))
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.chain.commit(*checked)
        return True


def _record_at(data: bytes, offset: int) -> tuple[bytes, int] | None:
    if offset + 4 > len(data):
        return None
    (n,) = _LEN.unpack_from(data, offset)
    end = offset + 4 + n + 4
    if end > len(data):
        return None
    return data[offset + 4:offset + 4 + n], end


def _write_new(path: Path) -> None:
    write_synced(path, MAGIC)
    sync_folder(path.parent)


def encode_chain(raws: list[bytes]) -> bytes:
    """The ``.tidegate/chain`` file of a snapshot: the store's format, entries 0..n-1."""
    out = [MAGIC]
    for raw in raws:
        out += [_LEN.pack(len(raw)), raw, _LEN.pack(zlib.crc32(raw))]
    return b"".join(out)


def decode_chain(data: bytes, where: str) -> list[bytes]:
    """The entries of a ``.tidegate/chain`` file; unlike a local store, any damage (a torn
    tail included) is an error: the file came from someone else, whole or not at all."""
    if data[:len(MAGIC)] != MAGIC:
        raise ChainRejected("corrupt_store", f"{where}: not a tidegate chain file")
    raws, offset = [], len(MAGIC)
    while offset < len(data):
        record = _record_at(data, offset)
        if record is None or zlib.crc32(record[0]) != _LEN.unpack_from(data, record[1] - 4)[0]:
            raise ChainRejected("corrupt_store", f"{where}: damaged record at byte {offset}")
        if len(record[0]) < MIN_ENTRY_BYTES:
            raise ChainRejected("corrupt_store", f"{where}: record at byte {offset} is "
                                f"{len(record[0])} bytes, shorter than any entry")
        raws.append(record[0])
        offset = record[1]
    return raws
