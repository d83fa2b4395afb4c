"""One site's chain on disk: an append-only file, fsynced on every append.

The format and the reading of it are sans-IO in :mod:`engine.chain.codec`; this module
does the file IO (open, append, truncate a torn tail, replace a damaged file), which is why
it lives with the sites and not in ``engine/chain``. History is never rewritten. On open
every record is read and the whole chain verified again.

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
from pathlib import Path

from ..chain.codec import MAGIC, encode_chain, record, scan_store
from ..chain.errors import ChainRejected
from ..chain.verify import Chain
from ..durable import sync_folder, write_synced
from ..paths import private_dir


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
        scan = scan_store(data, chain)
        offset, good, problem = scan.offset, scan.good, scan.problem
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
        view = memoryview(record(raw))
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
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


def _write_new(path: Path) -> None:
    write_synced(path, MAGIC)
    sync_folder(path.parent)
