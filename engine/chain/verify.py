"""A site's verified chain in memory: every rule that links one entry to the previous.

:meth:`Chain.accept` takes an entry's bytes and either appends it (it is the next one and
valid), recognises it (already held, byte for byte), or raises :class:`ChainRejected`:
a seq gap, a broken prev link, time going backwards or too far ahead, or a second valid
entry for a seq already held, which marks the site as **equivocating** for good.
Announced heads are judged by :func:`.judge.judge_heads` (:meth:`Chain.judge`); only the
chain's own methods mark it equivocating.
Time comes in as an argument (sans-IO): the caller's clock, or ``None`` to skip the
future check when re-reading entries accepted earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .address import address_of, key_of_address
from .entry import Entry, Genesis, Update, decode_entry, entry_hash
from .errors import ChainRejected
from .judge import AnnouncedHead, H, Judgement, judge_heads

FUTURE_TOLERANCE = 600
"""Seconds an entry's time may be ahead of the verifier's clock."""


@dataclass
class Chain:
    """The entries of one site, verified from genesis."""

    address: str
    entries: list[Entry] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    equivocating: bool = False
    """Two valid entries with one seq were seen: the owner signed a fork."""

    def __post_init__(self) -> None:
        self.key = key_of_address(self.address)
        self.address = address_of(self.key)  # canonical spelling

    @property
    def height(self) -> int:
        """The head's seq, or -1 when empty."""
        return len(self.entries) - 1

    @property
    def head_hash(self) -> bytes | None:
        return self.hashes[-1] if self.hashes else None

    @property
    def head(self) -> Entry | None:
        return self.entries[-1] if self.entries else None

    def judge(self, heads: Sequence[H]) -> Judgement[H]:
        """Judge heads announced for this chain (:func:`~.judge.judge_heads`); when they
        prove equivocation the chain is marked equivocating, for good."""
        verdict = judge_heads(self.height, self.head_hash, self.equivocating, heads)
        if verdict.equivocation:
            self.equivocating = True
        return verdict

    def check_head(self, seq: int, head_hash: bytes) -> bool:
        """Judge one announced head: True if it is news worth fetching.

        A lower seq than held is a rollback; the same seq with another hash is a fork
        (both raise :class:`ChainRejected`).
        """
        refusal = (verdict := self.judge([AnnouncedHead(seq, head_hash)])).refusal()
        if refusal is not None:
            raise refusal
        return verdict.news

    def accept(self, raw: bytes, now: float | None) -> bool:
        """Append ``raw`` if it is the valid next entry; False if it is already held."""
        checked = self.check(raw, now)
        if checked is None:
            return False
        self.commit(*checked)
        return True

    def commit(self, entry: Entry, digest: bytes) -> None:
        """Append an entry :meth:`check` returned (the store does so once it is on disk)."""
        assert entry.seq == self.height + 1
        self.entries.append(entry)
        self.hashes.append(digest)

    def check(self, raw: bytes, now: float | None) -> tuple[Entry, bytes] | None:
        """``(entry, hash)`` if ``raw`` is the valid next entry, None if already held;
        nothing is appended."""
        entry = decode_entry(raw, self.key)
        digest = entry_hash(raw)
        if entry.seq <= self.height:
            if self.hashes[entry.seq] == digest:
                return None
            self.equivocating = True
            raise ChainRejected("equivocation", f"a second valid entry for seq {entry.seq}")
        if entry.seq != self.height + 1:
            raise ChainRejected("seq_gap", f"entry {entry.seq} after height {self.height}")
        if isinstance(entry, Update):
            head = self.entries[-1]
            if entry.prev != self.hashes[-1]:
                raise ChainRejected("bad_prev", f"entry {entry.seq} does not link to entry "
                                                f"{head.seq}")
            if entry.time < head.time:
                raise ChainRejected("time_backwards", f"entry {entry.seq} is dated "
                                    f"{entry.time}, before entry {head.seq} ({head.time})")
        elif not isinstance(entry, Genesis):  # pragma: no cover - decode_entry's types
            raise AssertionError(entry)
        if now is not None and entry.time > now + FUTURE_TOLERANCE:
            raise ChainRejected("time_future", f"entry {entry.seq} is dated "
                                f"{entry.time - now:.0f} s in the future")
        return entry, digest
