"""Messages that carry engine output into the app, and command results back.

Messages up, attributes down: the bridge threads post these to the app
(``post_message`` is thread-safe); the app turns them into attributes of its
screens. :class:`SnapshotChanged` replaces an older one still queued, so a UI
that falls behind skips straight to the newest state instead of replaying it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message

from tidegate.engine.events import Event
from tidegate.engine.state import Snapshot


class SnapshotChanged(Message):
    """The engine published a new snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotChanged)


class EngineEvents(Message):
    """Events from the engine's ordered channel, in order: those that arrived together."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class EngineGone(Message):
    """The engine stopped or the daemon went away for good."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class CommandDone(Message):
    """A batch of engine commands finished (posted from whichever thread resolved it)."""

    def __init__(self, what: str, done: int, errors: list[tuple[str, BaseException]],
                 result: Any = None, *, failed: str = "",
                 says: Callable[[list[Any]], str] | None = None,
                 results: list[Any] | None = None) -> None:
        super().__init__()
        self.what = what
        """What the user is told when every command succeeded ("Paused")."""
        self.done = done
        self.errors = errors
        self.result = result
        self.failed = failed or f"{what}: failed"
        """The title of the notification when some failed ("Pause failed")."""
        self.says = says
        """Words for the success made from the commands' results, instead of ``what``."""
        self.results = results or []
