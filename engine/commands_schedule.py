"""The speed schedule's command: turtle mode switched by hand (engine/schedule.py)."""

from __future__ import annotations

from .command_base import Command


class SetAltSpeed(Command[None], frozen=True, forbid_unknown_fields=True):
    """Turtle mode (the alternative global limits, ``schedule.alt_download``/``alt_upload``)
    on or off by hand; it holds until the schedule's next boundary."""

    cmd = "set_alt_speed"
    cli = "turtle on|off"
    tui = "turtle mode (T)"
    on: bool
