"""The ``[schedule]`` section: alternative global limits (turtle mode) and when they apply."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
"""``HH:MM``, 24-hour, local time."""
Rate = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
"""Bytes/s, 0 unlimited (libtorrent's limits are 32-bit ints)."""

EVERY_DAY: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleWindow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One weekly window in which the alternative limits apply."""

    days: Annotated[list[Day], msgspec.Meta(min_length=1, max_length=7)] = msgspec.field(
        default_factory=lambda: list(EVERY_DAY))
    """Days the window starts on."""
    start: Clock = "00:00"
    """Local time it begins (``HH:MM``)."""
    end: Clock = "00:00"
    """Local time it ends; earlier than ``start``: the next day (``22:00`` to ``06:00``);
    equal to ``start``: 24 hours."""


class ScheduleConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Turtle mode (docs/automation.md "Speed schedule")."""

    alt_download: Rate = 102_400
    """Global download limit in turtle mode, bytes/s (0 unlimited)."""
    alt_upload: Rate = 102_400
    """Global upload limit in turtle mode, bytes/s (0 unlimited)."""
    windows: Annotated[list[ScheduleWindow], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list)
    """When turtle mode switches on by itself: ``[[schedule.windows]]`` tables of
    ``days``, ``start``, ``end``. Empty: only by hand (``tidegate turtle on``), and a
    switch by hand then holds until switched back; with windows it holds until the
    schedule next changes."""
