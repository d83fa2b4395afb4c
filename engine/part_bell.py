"""How a part tells the watcher it died, so the watcher need not look every few seconds.

A part (engine/supervisor.py's ``Part``) that has an ``on_exit`` attribute gets the
watcher's :meth:`~engine.supervisor.Supervisor.nudge` there; the part rings it when its
thread ends (:func:`ringing` wraps the thread's target) or when what it runs died under
it (tor's process). A watcher whose every part rings this way looks only when rung, and
every :data:`~engine.supervisor.CHECK_QUIET` seconds besides; an idle daemon's watcher
then wakes ~0 times a second instead of 0.2 (issue 27).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


def ring(part: Any) -> None:
    """Ring ``part``'s bell, if a watcher hung one (never raises)."""
    bell = getattr(part, "on_exit", None)
    if bell is not None:
        with contextlib.suppress(Exception):
            bell()


def ringing(target: Callable[[], object], part: Any) -> Callable[[], None]:
    """``target`` as a thread's target that rings ``part``'s bell when it returns or
    raises."""
    def run() -> None:
        try:
            target()
        finally:
            ring(part)
    return run
