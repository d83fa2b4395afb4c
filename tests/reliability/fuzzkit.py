"""What every fuzz target shares: the example budget, the oracle and the figures.

The oracle (:class:`Target`) runs one input through a parser and checks the contract
every boundary of the engine promises: it returns, or it raises one of the documented
exception types with a message that is non-empty and short enough to read (a parser
that echoes a megabyte of hostile input is not giving a clear error). Anything else
propagates, so hypothesis shrinks it to a minimal input. Each call is timed; the test
asserts the slowest stayed under :data:`MAX_SECONDS` after the run and prints the
figures (``FUZZ <target> inputs=... max_ms=...``) that docs/RELIABILITY.md quotes.

Budgets: :data:`EXAMPLES` inputs per target (``TIDEGATE_FUZZ_EXAMPLES``; 10,000 in CI,
``make fuzz`` raises it), each test may scale it down for targets that cost a socket or
a file per input.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TIDEGATE_FUZZ_EXAMPLES") or 10_000)
"""Inputs per hypothesis target."""
LONG_RUN = EXAMPLES > 10_000 or bool(os.environ.get("TIDEGATE_ATHERIS_SECONDS"))
TEST_TIMEOUT = 0 if LONG_RUN else 600
"""Seconds a fuzz test may take in CI (pytest-timeout); none for ``make fuzz``."""
MAX_SECONDS = 1.0
"""No input may take longer than this (the issue's "no hang over one second")."""
MAX_MESSAGE = 1024
"""Longest acceptable error message, characters: errors quote inputs, shortened."""


def fuzz_settings(scale: float = 1.0, **kw: Any) -> settings:
    """Hypothesis settings for one target: ``EXAMPLES * scale`` inputs, no deadline (the
    time limit is checked by :class:`Target` over every input, not per shrink step), no
    example database (CI is stateless; a failure prints its reproduction blob)."""
    return settings(max_examples=max(50, int(EXAMPLES * scale)), deadline=None,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.large_base_example],
                    **kw)


def fuzz(strategy: st.SearchStrategy[Any], body: Callable[[Any], None],
         scale: float = 1.0) -> int:
    """Run ``body`` on ``EXAMPLES * scale`` inputs drawn from ``strategy``; returns how
    many inputs hypothesis tried (shrinking included)."""
    calls = 0

    @fuzz_settings(scale)
    @given(strategy)
    def run(value: Any) -> None:
        nonlocal calls
        calls += 1
        body(value)

    run()
    return calls


def budget(scale: float = 1.0) -> int:
    """The number of inputs a target with this scale must at least have run."""
    return max(50, int(EXAMPLES * scale)) * 9 // 10


@dataclass
class Target:
    """One parser under fuzz and what it may raise."""

    name: str
    allowed: tuple[type[BaseException], ...] = ()
    inputs: int = 0
    max_seconds: float = 0.0
    slowest: str = ""
    retimed: int = 0
    """Inputs timed again because the first run was slow (a shared machine stalls)."""
    outcomes: Counter[str] = field(default_factory=Counter)

    def run(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """``fn(*args)``: its result, or None when it raised an allowed exception."""
        started = time.perf_counter()
        try:
            result = fn(*args, **kw)
        except self.allowed as exc:
            self._timed(started, fn, args, kw)
            message = str(exc)
            assert message.strip(), f"{self.name}: {type(exc).__name__} with no message"
            assert len(message) <= MAX_MESSAGE, (
                f"{self.name}: a {len(message)}-character error message: {message[:300]}...")
            self.outcomes[type(exc).__name__] += 1
            return None
        self._timed(started, fn, args, kw)
        self.outcomes["accepted"] += 1
        return result

    def note(self, label: str) -> None:
        """Count the last accepted input as ``label`` instead (an error reply's code)."""
        self.outcomes["accepted"] -= 1
        self.outcomes[label] += 1

    def _timed(self, started: float, fn: Callable[..., Any], args: tuple[Any, ...],
               kw: dict[str, Any]) -> None:
        took = time.perf_counter() - started
        # 2 cores shared with other test runs: a process can be descheduled for a second.
        # An input slower than half the limit is timed twice more and its fastest run
        # counts, so only an input that is slow every time fails the run.
        for _ in range(2):
            if took <= MAX_SECONDS / 2:
                break
            self.retimed += 1
            again = time.perf_counter()
            try:
                fn(*args, **kw)
            except self.allowed:
                pass
            took = min(took, time.perf_counter() - again)
        self.inputs += 1
        if took > self.max_seconds:
            self.max_seconds = took
            self.slowest = repr(args)[:200]

    def report(self, minimum: int) -> None:
        """Print the figures and check the run: at least ``minimum`` inputs, none too
        slow."""
        shown = ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common())
        again = f" retimed={self.retimed}" if self.retimed else ""
        print(f"\nFUZZ {self.name}: inputs={self.inputs} max_ms={self.max_seconds * 1000:.1f}"
              f"{again} [{shown}]")
        assert self.max_seconds < MAX_SECONDS, (
            f"{self.name}: an input took {self.max_seconds:.2f} s: {self.slowest}")
        assert self.inputs >= minimum, f"{self.name}: only {self.inputs} of {minimum} inputs ran"


def mutate(data: bytes, draw: Callable[[int, int], int], rounds: int) -> bytes:
    """``data`` with ``rounds`` byte-level mutations (flip, set, insert, delete, duplicate a
    slice, truncate, splice a bencode-looking token), positions from ``draw(lo, hi)``."""
    buf = bytearray(data)
    tokens = [b"e", b"d", b"l", b"i", b"0:", b"1:", b"4:", b"i-1e", b"i0e", b"le", b"de",
              b"99999999999:", b"i99999999999999999999e", b":", b"\x00", b"\xff", b"-"]
    for _ in range(rounds):
        op = draw(0, 6)
        at = draw(0, len(buf)) if buf else 0
        if op == 0 and buf:
            at = min(at, len(buf) - 1)
            buf[at] ^= 1 << draw(0, 7)
        elif op == 1 and buf:
            buf[min(at, len(buf) - 1)] = draw(0, 255)
        elif op == 2:
            buf[at:at] = tokens[draw(0, len(tokens) - 1)]
        elif op == 3 and buf:
            del buf[at:at + draw(1, 16)]
        elif op == 4 and buf:
            n = draw(1, 64)
            buf[at:at] = buf[at:at + n]
        elif op == 5:
            del buf[at:]
        else:
            buf[at:at] = bytes([draw(0, 255)])
    return bytes(buf)
