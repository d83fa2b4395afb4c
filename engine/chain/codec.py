"""The chain file format, sans-IO: bytes in, entries' bytes out.

Layout: the 8-byte magic ``TGCHAIN1``, then one record per entry, ``length`` (4 bytes,
big-endian) + the entry's bytes + CRC-32 of those bytes (4 bytes, big-endian). The same
format is a site's own chain file (``sites.chain_file.ChainStore``, which does the file
IO), a snapshot's ``.tidegate/chain`` and a chain torrent's one file.

:func:`scan_store` tells the two kinds of damage of a local file apart (see
``sites.chain_file``); :func:`decode_chain` reads a file that came from someone else, where
any damage is an error.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .errors import ChainRejected
from .verify import Chain

MAGIC = b"TGCHAIN1"
_LEN = struct.Struct(">I")
MIN_ENTRY_BYTES = 128
"""No entry is shorter (a genesis with an empty name is ~170 bytes): a received chain file
of millions of tiny records is refused instead of becoming millions of objects."""


def record(raw: bytes) -> bytes:
    """One entry as a record of the file."""
    return _LEN.pack(len(raw)) + raw + _LEN.pack(zlib.crc32(raw))


@dataclass(frozen=True, slots=True)
class StoreScan:
    """What :func:`scan_store` found in a local chain file (after the magic)."""

    good: int
    """Bytes of the file up to the end of the last entry accepted."""
    offset: int
    """Where the record that stopped the scan starts (``len(data)`` when none did)."""
    problem: str = ""
    """Why the record at ``offset`` is damaged ("" for a clean file or a torn tail)."""


def scan_store(data: bytes, chain: Chain) -> StoreScan:
    """Read the records of a local chain file (``data`` starts with :data:`MAGIC`) into
    ``chain`` (each verified, no clock), up to a torn tail or a damaged record."""
    offset, good = len(MAGIC), len(MAGIC)
    problem = ""
    while offset < len(data):
        if not any(data[offset:]):
            break  # zeros: space the crash allocated but never wrote, a torn tail
        found = _record_at(data, offset)
        if found is None:
            if _whole_but_bad_length(data, offset):
                problem = "its length field is damaged"
                break
            break  # cut short: a torn tail
        raw, end = found
        crc = _LEN.unpack_from(data, end - 4)[0]
        if zlib.crc32(raw) != crc:
            if end == len(data) and crc == 0:
                break  # the last record, its CRC never written: a torn tail
            problem = "its CRC-32 does not match (a damaged disk or a changed byte)"
            break
        try:
            chain.accept(raw, None)
        except ChainRejected as exc:
            problem = str(exc)
            break
        offset = good = end
    return StoreScan(good, offset, problem)


def _whole_but_bad_length(data: bytes, offset: int) -> bool:
    """The rest of the file is one whole record (its CRC matches) whose length field does
    not say so: a damaged length, not a short write."""
    body = data[offset + 4:]
    return len(body) > 4 and zlib.crc32(body[:-4]) == _LEN.unpack_from(body, len(body) - 4)[0]


def _record_at(data: bytes, offset: int) -> tuple[bytes, int] | None:
    if offset + 4 > len(data):
        return None
    (n,) = _LEN.unpack_from(data, offset)
    end = offset + 4 + n + 4
    if end > len(data):
        return None
    return data[offset + 4:offset + 4 + n], end


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
        found = _record_at(data, offset)
        if found is None or zlib.crc32(found[0]) != _LEN.unpack_from(data, found[1] - 4)[0]:
            raise ChainRejected("corrupt_store", f"{where}: damaged record at byte {offset}")
        if len(found[0]) < MIN_ENTRY_BYTES:
            raise ChainRejected("corrupt_store", f"{where}: record at byte {offset} is "
                                f"{len(found[0])} bytes, shorter than any entry")
        raws.append(found[0])
        offset = found[1]
    return raws
