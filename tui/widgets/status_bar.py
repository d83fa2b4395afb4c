"""The bottom line: global rates (and global limits, when set, with ``turtle`` when they
are the alternative ones), totals, DHT nodes, free space, connection."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tidegate.engine import units
from tidegate.engine.state import SessionStats


class StatusBar(Widget):
    """One line of session numbers; set :meth:`show` with each snapshot."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, connection: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.connection = connection
        self.stats = SessionStats()
        self.counts = (0, 0, 0)
        """(shown, total, marked)."""
        self.connected = True

    def show(self, stats: SessionStats, shown: int, total: int, marked: int,
             connected: bool) -> None:
        if (stats, (shown, total, marked), connected) != (self.stats, self.counts,
                                                         self.connected):
            self.stats, self.counts, self.connected = stats, (shown, total, marked), connected
            self.refresh()

    def render(self) -> Text:
        s = self.stats
        shown, total, marked = self.counts
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"↓ {units.rate(s.payload_download_rate)}", "bold")
        if s.download_limit:
            text.append(f" (max {units.rate(s.download_limit)})", "yellow")
        text.append(f" ↑ {units.rate(s.payload_upload_rate)}", "bold")
        if s.upload_limit:
            text.append(f" (max {units.rate(s.upload_limit)})", "yellow")
        if s.alt_speed.on:  # the limits above are the alternative ones
            text.append("  turtle", "bold yellow")
            if s.alt_speed.by == "schedule":
                text.append(" (schedule)", "yellow")
        if self.size.width >= 100:
            text.append(f"  Σ↓ {units.size(s.total_download)} Σ↑ {units.size(s.total_upload)}")
        text.append(f"  DHT {s.dht_nodes}")
        text.append(f"  free {units.size(s.free_disk) if s.free_disk >= 0 else '?'}")
        listed = f"{shown}/{total}" if shown != total else f"{total}"
        text.append(f"  {listed} torrents")
        if s.loading:  # the engine is still reading its resume folder after its start
            text.append(f" (loading {s.loading:,} more)", "bold yellow")
        if marked:
            text.append(f" ({marked} marked)", "bold")
        text.append("  ")
        if self.connected:
            text.append(self.connection)
        else:
            text.append(f"{self.connection} (disconnected)", "bold reverse")
        return text
