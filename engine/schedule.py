"""Turtle mode: when the alternative global limits are in force, as pure functions of a clock.

The schedule (``[schedule] windows``) says, for any local wall time, whether turtle mode
is on; a switch by hand (``SetAltSpeed``) overrides it until the schedule's answer next
changes (its next boundary), or for good when there is no schedule. Nothing here reads
the clock: every function is given ``now`` (a naive local ``datetime``), so tests drive
days of schedule in microseconds; the engine thread asks once a second
(:mod:`engine.session_loop`) and applies :func:`in_force`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from .config import Config
from .config.schedule import EVERY_DAY, ScheduleWindow
from .state import AltSpeedState

DAY_MINUTES = 24 * 60


def _minutes(clock: str) -> int:
    hours, _, minutes = clock.partition(":")
    return int(hours) * 60 + int(minutes)


def _span(w: ScheduleWindow) -> tuple[int, int]:
    """(start minute of the day, length in minutes) of a window."""
    start = _minutes(w.start)
    return start, (_minutes(w.end) - start) % DAY_MINUTES or DAY_MINUTES


def scheduled(windows: Sequence[ScheduleWindow], now: datetime) -> bool:
    """Whether ``now`` falls in one of ``windows`` (each ``[start, end)``)."""
    minute = now.hour * 60 + now.minute + (now.second + now.microsecond / 1e6) / 60
    today = EVERY_DAY[now.weekday()]
    yesterday = EVERY_DAY[(now.weekday() - 1) % 7]
    for w in windows:
        start, length = _span(w)
        if today in w.days and start <= minute < start + length:
            return True
        if yesterday in w.days and minute < start + length - DAY_MINUTES:
            return True  # a window that began yesterday and runs past midnight
    return False


def next_boundary(windows: Sequence[ScheduleWindow], now: datetime) -> datetime | None:
    """The first moment after ``now`` at which :func:`scheduled` changes; None when it
    never does (no windows, or windows that cover the whole week)."""
    if not windows:
        return None
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    edges: set[datetime] = set()
    for w in windows:
        start, length = _span(w)
        for offset in range(-1, 9):
            begin = midnight + timedelta(days=offset, minutes=start)
            if EVERY_DAY[begin.weekday()] in w.days:
                edges.update((begin, begin + timedelta(minutes=length)))
    current = scheduled(windows, now)
    for edge in sorted(e for e in edges if e > now):
        if scheduled(windows, edge) != current:
            return edge
    return None


class SpeedSchedule:
    """Whether turtle mode is on: the schedule, or a switch by hand until it ends."""

    def __init__(self, windows: Sequence[ScheduleWindow] = ()):
        self.windows: tuple[ScheduleWindow, ...] = tuple(windows)
        self.manual: bool | None = None
        """The switch by hand in force (None: the schedule decides)."""
        self.until: datetime | None = None
        """When the switch by hand ends (None: when switched again)."""
        self._edge: tuple[datetime, datetime | None] | None = None
        """(asked at, the schedule's next boundary then): asked once a second, it is
        worked out again only once passed (or the clock went back)."""

    def _next(self, now: datetime) -> datetime | None:
        if self._edge is not None:
            asked, edge = self._edge
            if asked <= now and (edge is None or now < edge):
                return edge
        edge = next_boundary(self.windows, now)
        self._edge = (now, edge)
        return edge

    def switch(self, on: bool, now: datetime) -> None:
        """A switch by hand: holds until the schedule's next boundary."""
        self.manual = on
        self.until = self._next(now)

    def set_windows(self, windows: Sequence[ScheduleWindow], now: datetime) -> None:
        """A new schedule (the config applied live); a switch by hand now ends at the new
        schedule's next boundary."""
        self.windows = tuple(windows)
        self._edge = None
        if self.manual is not None:
            self.until = self._next(now)

    def state(self, now: datetime) -> AltSpeedState:
        """What is in force at ``now`` (a switch by hand that has run out is dropped)."""
        if self.manual is not None and self.until is not None and now >= self.until:
            self.manual, self.until = None, None
        if self.manual is not None:
            return AltSpeedState(on=self.manual, by="manual",
                                 until=self.until.timestamp() if self.until else 0.0)
        on = scheduled(self.windows, now)
        edge = self._next(now)
        return AltSpeedState(on=on, by="schedule" if self.windows else "",
                             until=edge.timestamp() if edge else 0.0)


def in_force(cfg: Config, on: bool) -> Config:
    """``cfg`` with the limits in force: the alternative ones in turtle mode."""
    if not on:
        return cfg
    rates = msgspec.structs.replace(cfg.rates, download=cfg.schedule.alt_download,
                                    upload=cfg.schedule.alt_upload)
    return msgspec.structs.replace(cfg, rates=rates)
