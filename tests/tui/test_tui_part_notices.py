"""The watcher's events (docs/watcher.md) as TUI notifications: a part that died is an
error that says why and when it is tried again; its restart is news too."""

from __future__ import annotations

from tidegate.engine.events import PartFailed, PartRestarted
from tidegate.engine.state import EMPTY_SNAPSHOT
from tidegate.tui.notices import describe_event, notified


def test_a_dead_part_and_its_restart_are_notified() -> None:
    failed = PartFailed(part="proxy", why="its loop raised RuntimeError('[b]x\x1b[2J')",
                        attempt=3, retry_in=4.0)
    restarted = PartRestarted(part="proxy", why="", attempt=3)
    assert notified(failed) and notified(restarted)
    title, body, severity = describe_event(failed, EMPTY_SNAPSHOT) or ("", "", "")
    assert (title, severity) == ("proxy stopped", "error")
    assert "restarting in 4 s (death 3 in a row)" in body
    assert "\x1b" not in body and "RuntimeError" in body
    assert describe_event(restarted, EMPTY_SNAPSHOT) == (
        "proxy restarted", "the watcher started it again", "information")
