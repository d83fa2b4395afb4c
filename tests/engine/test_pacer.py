"""The status poll's schedule (engine/pacer.py): plain values, no engine."""

from __future__ import annotations

from tidegate.engine.pacer import BACKOFF, IDLE_MAX, Pacer


def test_quiet_polls_back_off_to_the_ceiling_and_activity_returns_at_once() -> None:
    pace = Pacer(0.25)
    assert pace.due(0.0) and not pace.idle
    pace.polled(0.0)
    assert pace.next_poll == 0.25
    gaps = []
    for _ in range(6):
        pace.quiet()
        gaps.append(pace.every)
    assert gaps[0] == 0.25 * BACKOFF and gaps[-1] == IDLE_MAX
    assert all(a <= b for a, b in zip(gaps, gaps[1:], strict=False))
    assert pace.idle and pace.next_poll == IDLE_MAX and not pace.due(1.0)
    # anything happens at 1.0: snapshot_hz again, and a poll at once (not at 5.0)
    pace.active(1.0)
    assert not pace.idle and pace.every == 0.25 and pace.due(1.0)
    pace.polled(1.0)
    assert pace.next_poll == 1.25


def test_activity_while_already_at_snapshot_hz_keeps_the_schedule() -> None:
    pace = Pacer(0.25)
    pace.polled(10.0)
    pace.active(10.1)  # a command between two polls: no extra poll
    assert pace.next_poll == 10.25 and not pace.due(10.1)


def test_the_ceiling_is_never_below_the_period() -> None:
    pace = Pacer(10.0, idle_max=5.0)  # snapshot_hz 0.1
    pace.quiet()
    assert pace.every == 10.0 and not pace.idle


def test_the_idle_tick_starts_after_about_five_quiet_seconds_not_at_the_ceiling() -> None:
    pace = Pacer(0.25)
    quiet_for, slow_at = 0.0, None
    for _ in range(6):
        quiet_for += pace.every
        pace.quiet()
        if pace.slow and slow_at is None:
            slow_at = quiet_for
    assert slow_at is not None and 4.0 <= slow_at <= 6.0, slow_at  # 0.25 + 1 + 4 s
    assert pace.every == IDLE_MAX > 5.0 and pace.slow
    pace.active(100.0)
    assert not pace.slow
