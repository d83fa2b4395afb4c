"""One site's chain on disk: an append-only file, fsynced on every append.

Layout: the 8-byte magic ``TGCHAIN1``, then one record per entry, ``length`` (4 bytes,
big-endian) + the entry's bytes + CRC-32 of those bytes (4 bytes, big-endian). History is
never rewritten. On open every record is read and the whole chain verified again.

Two kinds of damage are told apart:

* a **torn tail**, what a crash during an append leaves: the file ends before the last
  record's declared length, or the rest of the file is zeros, or the last record's CRC field
  is still zeros. It is cut off (and the cut fsynced); no complete entry is lost.
* a **damaged record**: one whose declared length is all there (or whose bytes up to the end
  of the file carry a valid CRC under a wrong length) but whose CRC, decoding, signature or
  link fails. That is a bad disk or a bad hand, not a crash: cutting it would let the owner
  sign another entry at the same height, a fork that freezes the site for every follower.
  The store then holds the entries before it, :attr:`ChainStore.damaged` says what and
  where, the file is left untouched, and :meth:`ChainStore.append` refuses until
  :meth:`ChainStore.recover` replaces the file with a verified chain from elsewhere (the
  copy followers hold) that contains every entry held here.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from ..durable import sync_folder, write_synced
from ..paths import private_dir
from .errors import ChainRejected
from .verify import Chain

MAGIC = b"TGCHAIN1"
_LEN = struct.Struct(">I")
MIN_ENTRY_BYTES = 128
"""No entry is shorter (a genesis with an empty name is ~170 bytes): a received chain file
of millions of tiny records is refused instead of becoming millions of objects."""


class ChainStore:
    """The verified chain of one site and the file that holds it."""

    def __init__(self, path: Path, chain: Chain, cut: int, damaged: str = "",
                 damaged_at: int = -1) -> None:
        self.path = path
        self.chain = chain
        self.cut_bytes = cut
        """Bytes of torn tail removed when the file was opened (0 normally)."""
        self.damaged = damaged
        """Why the file holds a damaged record ("" when it does not); :attr:`chain` holds
        the entries before it."""
        self.damaged_at = damaged_at
        """Byte offset of the damaged record in the file (-1 when none)."""

    @classmethod
    def open(cls, path: Path, address: str) -> ChainStore:
        """Open (or create) ``path`` for the site at ``address``, verifying every entry."""
        chain = Chain(address)
        private_dir(path.parent)
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
        problem = ""
        while offset < len(data):
            if not any(data[offset:]):
                break  # zeros: space the crash allocated but never wrote, a torn tail
            record = _record_at(data, offset)
            if record is None:
                if _whole_but_bad_length(data, offset):
                    problem = "its length field is damaged"
                    break
                break  # cut short: a torn tail
            raw, end = record
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
        if problem:
            message = (f"{path}: the record of entry {chain.height + 1} at byte {offset} is "
                       f"damaged: {problem}; the file is left as it is")
            return cls(path, chain, 0, message, offset)
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
        if self.damaged:  # never write after damaged bytes: recover first
            raise ChainRejected("corrupt_store", self.damaged)
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


    def recover(self, raws: list[bytes], now: float | None) -> int:
        """Replace a damaged file with ``raws``, a whole chain from elsewhere, verified from
        genesis here; it must hold every entry this store verified. The damaged file is
        kept beside as ``<name>.damaged`` (never deleted). Returns the entries gained."""
        if not self.damaged:
            raise ChainRejected("corrupt_store", f"{self.path}: not damaged")
        fresh = Chain(self.chain.address)
        for raw in raws:
            fresh.accept(raw, now)
        held = self.chain.hashes
        if fresh.hashes[:len(held)] != held:
            raise ChainRejected("equivocation", "the chain offered for recovery differs from "
                                f"the {len(held)} entries verified in {self.path}")
        kept = self.path.with_name(self.path.name + ".damaged")
        n = 1
        while kept.exists():
            n += 1
            kept = self.path.with_name(f"{self.path.name}.damaged.{n}")
        os.link(self.path, kept)
        write_synced(self.path, encode_chain(raws))
        sync_folder(self.path.parent)
        gained = 0
        for entry, digest in zip(fresh.entries[len(held):], fresh.hashes[len(held):],
                                 strict=True):
            self.chain.commit(entry, digest)
            gained += 1
        self.damaged, self.damaged_at = "", -1
        return gained


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
