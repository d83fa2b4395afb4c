"""The Trackers tab: each tracker's tier, status, swarm counts, next announce and last error.

Tracker URLs and their error messages come from the torrent and from remote
servers: both are cleaned and shown as :class:`rich.text.Text`. Rows are keyed
by URL (see :class:`~tui.widgets.peers_table.KeyedTable`). ``a`` (add trackers) and
``d`` (remove the one under the cursor) only post messages; the detail screen asks
and runs the commands.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.message import Message

from tidegate.engine import units
from tidegate.engine.safetext import clean
from tidegate.engine.state import TrackerState

from .peers_table import KeyedTable, right


def _count(n: int) -> Text:
    return right(str(n) if n >= 0 else "?")


class TrackersTable(KeyedTable):
    """One row per tracker URL."""

    COLUMNS = (("url", "URL"), ("tier", "Tier"), ("status", "Status"), ("seeds", "Seeds"),
               ("leechers", "Leechers"), ("next", "Next announce"), ("error", "Last error"))
    BINDINGS = [Binding("a", "add", "Add trackers"),
                Binding("d,delete", "remove", "Remove tracker", key_display="d")]

    class AddWanted(Message):
        """The user asked to add trackers (``a``)."""

    class RemoveWanted(Message):
        """The user asked to remove the tracker under the cursor (``d``)."""

        def __init__(self, url: str) -> None:
            super().__init__()
            self.url = url
            """The row's key: the tracker's URL as shown (cleaned); "" when none is."""

    def action_add(self) -> None:
        self.post_message(self.AddWanted())

    def action_remove(self) -> None:
        self.post_message(self.RemoveWanted(self.cursor_key() or ""))

    def show(self, trackers: Sequence[TrackerState]) -> None:
        """Display ``trackers`` (the newest list from the engine)."""
        rows = []
        for t in trackers:
            url = clean(t.url)
            failed = f" (failed {t.fails}x)" if t.fails else ""
            status = Text(clean(t.status) + failed, no_wrap=True,
                          style="bold" if t.status == "error" else "")
            rows.append((url, (Text(url, no_wrap=True), right(str(t.tier)), status,
                               _count(t.seeds), _count(t.leechers),
                               right(units.duration(t.next_announce)
                                     if t.next_announce >= 0 else "?"),
                               Text(clean(t.last_error), no_wrap=True))))
        self.sync(rows)
