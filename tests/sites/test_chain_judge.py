"""The judgement of announced heads (engine/chain/judge.py): one pure rule, tested directly.

Which announced head is followed, which are rollbacks, which prove equivocation; that the
value is frozen and the inputs untouched; and that only the chain's own method turns the
verdict into ``Chain.equivocating``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tidegate.engine.chain import Chain, ChainRejected
from tidegate.engine.chain.judge import AnnouncedHead, Judgement, judge_heads

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "docs" /
                      "chain-vectors.json").read_text())

HELD = b"\x11" * 32
"""The verified head's hash in the pure cases (verified height 2)."""
OTHER = b"\x22" * 32
THIRD = b"\x33" * 32


@dataclass(frozen=True)
class Tagged:
    """An announced head carrying more than the rule reads (like ``sites.head.Head``)."""

    height: int
    head: bytes
    tag: str = ""


def judge(*heads: Tagged, height: int = 2, head_hash: bytes | None = HELD,
          equivocating: bool = False) -> Judgement[Tagged]:
    return judge_heads(height, head_hash, equivocating, list(heads))


def test_nothing_announced_follows_nothing_and_refuses_nothing() -> None:
    v = judge()
    assert (v.outcome, v.head, v.follow, v.rollbacks, v.refusal()) == ("none", None, None, (),
                                                                       None)
    assert not v.news and not v.equivocation


def test_the_highest_head_is_followed_wherever_it_is_listed() -> None:
    a, b, c = Tagged(3, OTHER, "a"), Tagged(5, THIRD, "b"), Tagged(4, OTHER, "c")
    for order in ((a, b, c), (b, c, a), (c, a, b)):
        v = judge(*order)
        assert v.outcome == "news" and v.news
        assert v.follow is b and v.head is b  # the caller's own object comes back
        assert v.refusal() is None and not v.equivocation


def test_a_newer_head_wins_over_rollbacks_which_are_listed_not_refused() -> None:
    low, new = Tagged(1, OTHER, "low"), Tagged(3, THIRD, "new")
    v = judge(low, new)
    assert v.follow is new and v.refusal() is None
    assert v.rollbacks == (low,)


def test_the_verified_head_announced_again_is_held_not_news() -> None:
    v = judge(Tagged(2, HELD))
    assert v.outcome == "held" and not v.news and v.follow is None and v.refusal() is None


def test_a_rollback_is_refused() -> None:
    old = Tagged(1, OTHER)
    v = judge(old, Tagged(0, THIRD))
    assert v.outcome == "rollback" and v.follow is None and v.head is old
    err = v.refusal()
    assert isinstance(err, ChainRejected) and err.reason == "rollback"
    assert str(err) == "rollback: announced head 1 is below the height 2 already verified"
    assert len(v.rollbacks) == 2 and not v.equivocation


def test_another_hash_at_the_verified_height_is_equivocation() -> None:
    v = judge(Tagged(2, OTHER))
    assert v.outcome == "fork" and v.equivocation and v.follow is None
    err = v.refusal()
    assert err is not None and err.reason == "equivocation"
    assert str(err) == "equivocation: another head for seq 2"


def test_two_hashes_announced_for_the_highest_seq_are_equivocation_even_above_us() -> None:
    v = judge(Tagged(4, OTHER), Tagged(4, THIRD))
    assert v.outcome == "split" and v.equivocation and not v.news and v.follow is None
    err = v.refusal()
    assert err is not None and err.reason == "equivocation"
    assert str(err) == "equivocation: two heads announced for seq 4"


def test_the_same_head_announced_twice_is_not_a_split() -> None:
    first, again = Tagged(4, OTHER, "first"), Tagged(4, OTHER, "again")
    v = judge(first, again)
    assert v.outcome == "news" and v.follow is first  # the first of the highest


def test_only_the_highest_seq_is_judged_for_a_split() -> None:
    """Two hashes below the highest head are not looked at (they are rollbacks or will be
    met again entry by entry when the newer chain is verified)."""
    v = judge(Tagged(3, OTHER), Tagged(3, THIRD), Tagged(5, OTHER))
    assert v.outcome == "news" and v.follow == Tagged(5, OTHER)


def test_an_empty_chain_follows_any_head() -> None:
    v = judge(Tagged(0, OTHER), height=-1, head_hash=None)
    assert v.outcome == "news" and v.follow == Tagged(0, OTHER) and v.rollbacks == ()


def test_an_equivocating_site_is_news_but_never_followed() -> None:
    v = judge(Tagged(7, OTHER), equivocating=True)
    assert v.news and v.follow is None and v.refusal() is None


def test_the_judgement_is_frozen_and_the_inputs_untouched() -> None:
    heads = [Tagged(3, OTHER), Tagged(1, THIRD)]
    before = list(heads)
    v = judge_heads(2, HELD, False, heads)
    assert heads == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.follow = None  # type: ignore[misc]
    assert judge_heads(2, HELD, False, heads) == v  # the same inputs, the same value


def _verified_chain() -> Chain:
    chain = Chain(VECTORS["address"])
    for v in VECTORS["valid"]:
        chain.accept(bytes.fromhex(v["hex"]), VECTORS["now"])
    return chain


def test_the_chain_marks_itself_equivocating_only_when_the_verdict_proves_it() -> None:
    chain = _verified_chain()
    assert chain.height == 2 and chain.head_hash is not None
    assert chain.judge([AnnouncedHead(1, OTHER)]).outcome == "rollback"
    assert chain.judge([AnnouncedHead(3, OTHER)]).follow == AnnouncedHead(3, OTHER)
    assert chain.judge([AnnouncedHead(2, chain.head_hash)]).outcome == "held"
    assert not chain.equivocating
    assert chain.judge([AnnouncedHead(4, OTHER), AnnouncedHead(4, THIRD)]).outcome == "split"
    assert chain.equivocating
    # for good: a later clean announcement does not clear it, and nothing is followed
    after = chain.judge([AnnouncedHead(3, OTHER)])
    assert after.news and after.follow is None and chain.equivocating


def test_a_fork_at_the_verified_height_marks_the_chain() -> None:
    chain = _verified_chain()
    verdict = chain.judge([AnnouncedHead(2, OTHER)])
    assert verdict.outcome == "fork" and chain.equivocating
    assert chain.height == 2  # nothing appended or dropped
