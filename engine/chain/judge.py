"""How a chain judges the heads others announce: one pure rule.

A head is announced by someone else (a BEP 44 item in the DHT, a site's onion service): a
height and the hash of the entry at that height. :func:`judge_heads` takes the verified
chain's height and head hash and every head one look-up returned, and decides:

* which head is followed: the highest announced, when it is above the verified height
  (its chain is then fetched and verified entry by entry) and the site is not known to be
  equivocating;
* which heads are **rollbacks** (below the verified height) and whether the highest one is:
  refused, as a node never goes back;
* whether the announcements **prove equivocation**: two different hashes announced for the
  highest seq, or another hash than the verified one for the verified height. The owner
  signed a fork; the site is equivocating for good.

No IO, no clock (no part of the rule depends on time) and nothing is mutated: the result
is a frozen :class:`Judgement`. The chain applies the one consequence that is its own
(:meth:`~.verify.Chain.judge` marks itself equivocating); the caller does the rest
(refuses, records the announced height, fetches).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from .errors import ChainRejected


class Announced(Protocol):
    """What the rule reads of an announced head (``sites.head.Head`` is one)."""

    @property
    def height(self) -> int: ...

    @property
    def head(self) -> bytes:
        """SHA-256 of entry ``height``."""
        ...


@dataclass(frozen=True, slots=True)
class AnnouncedHead:
    """An announced head and nothing else (an onion service's chain, a test)."""

    height: int
    head: bytes


H = TypeVar("H", bound=Announced)

Outcome = Literal["none", "news", "held", "rollback", "fork", "split"]
"""``none``: nothing announced; ``news``: the highest head is above the verified height;
``held``: it is the verified head; ``rollback``: it is below the verified height;
``fork``: another hash for the verified height; ``split``: two hashes announced for the
highest seq."""


@dataclass(frozen=True, slots=True)
class Judgement(Generic[H]):
    """What :func:`judge_heads` decided about one set of announced heads."""

    outcome: Outcome
    head: H | None
    """The highest announced head (the first of them when several tie); None if none."""
    follow: H | None
    """The head whose chain to fetch: ``head`` when it is news and the site is not
    equivocating, else None."""
    rollbacks: tuple[H, ...] = ()
    """Every announced head below the verified height, in the order given."""
    reason: str = ""
    """The :class:`ChainRejected` reason when the highest head is refused, else ""."""
    message: str = ""

    @property
    def news(self) -> bool:
        """The highest head is above the verified height (whether or not it is followed)."""
        return self.outcome == "news"

    @property
    def equivocation(self) -> bool:
        """The announcements prove the owner signed two entries for one seq."""
        return self.outcome in ("fork", "split")

    def refusal(self) -> ChainRejected | None:
        """The error to report when the highest head is refused."""
        return ChainRejected(self.reason, self.message) if self.reason else None


def judge_heads(height: int, head_hash: bytes | None, equivocating: bool,
                heads: Sequence[H]) -> Judgement[H]:
    """Judge ``heads``, announced for a chain verified up to ``height`` (-1: empty) whose
    entry ``height`` hashes to ``head_hash``; ``equivocating``: the site already is."""
    if not heads:
        return Judgement("none", None, None)
    best = max(heads, key=lambda h: h.height)
    rollbacks = tuple(h for h in heads if h.height < height)
    if len({h.head for h in heads if h.height == best.height}) > 1:
        return Judgement("split", best, None, rollbacks, "equivocation",
                         f"two heads announced for seq {best.height}")
    if best.height < height:
        return Judgement("rollback", best, None, rollbacks, "rollback",
                         f"announced head {best.height} is below the height {height} "
                         "already verified")
    if best.height == height:
        if best.head != head_hash:
            return Judgement("fork", best, None, rollbacks, "equivocation",
                             f"another head for seq {best.height}")
        return Judgement("held", best, None, rollbacks)
    return Judgement("news", best, None if equivocating else best, rollbacks)
