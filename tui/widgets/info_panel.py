"""The Info tab: what the torrent is (name, hashes, size, pieces, comment, creator, magnet)
and how it is kept (save path, times, ratio and limits).

Name, comment, creator, save path and magnet all come from the torrent file or
from whoever sent the magnet: every one is cleaned and rendered as
:class:`rich.text.Text` cells of a grid, never as markup.
"""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tidegate.engine import units
from tidegate.engine.safetext import clean
from tidegate.engine.state import TorrentDetails

NONE = "—"


def when(epoch: int) -> str:
    """Local date and time of ``epoch`` seconds, or a dash for 0 (never)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch > 0 else NONE


def _limit(rate: int) -> str:
    return units.rate(rate) if rate > 0 else "unlimited"


NO_SOURCES = ("no trackers, no peers and no DHT nodes: nothing to ask for the metadata; "
              "add a peer or a tracker (a: the same magnet again with a peer)")


def info_rows(d: TorrentDetails, dht_nodes: int = -1) -> list[tuple[str, str]]:
    """(label, cleaned value) pairs, in the order shown; ``dht_nodes`` (the session's, -1
    unknown) decides whether a torrent waiting for metadata gets the :data:`NO_SOURCES`
    hint."""
    t = d.torrent
    pieces = (f"{t.num_pieces:,} × {units.size(d.piece_length)}" if d.piece_length
              else "unknown until metadata arrives")
    ratio_limit = "global default" if t.ratio_limit < 0 else (
        "none" if t.ratio_limit == 0 else f"{t.ratio_limit:.2f}")
    seed_limit = "global default" if t.seed_time_limit < 0 else (
        "none" if t.seed_time_limit == 0 else units.duration(t.seed_time_limit))
    rows = [
        ("Name", t.name or NONE),
        ("Info-hash v1", t.info_hash_v1 or NONE),
        ("Info-hash v2", t.info_hash_v2 or NONE),
        ("Save path", t.save_path or NONE),
        ("Size", f"{units.size(t.total_size)} ({t.total_size:,} bytes), "
                 f"{units.size(t.wanted)} wanted"),
        ("Pieces", pieces),
        ("Private", "yes" if d.private else "no"),
        ("Comment", d.comment or NONE),
        ("Created by", d.creator or NONE),
        ("Added", when(t.added_time)),
        ("Completed", when(t.completed_time)),
        ("Seeding for", units.duration(t.seeding_time) if t.seeding_time > 0 else NONE),
        ("Downloaded", units.size(t.all_time_download)),
        ("Uploaded", units.size(t.all_time_upload)),
        ("Ratio", f"{t.ratio:.2f}"),
        ("Ratio limit", ratio_limit),
        ("Seed time limit", seed_limit),
        ("Rate limits", f"↓ {_limit(t.download_limit)}  ↑ {_limit(t.upload_limit)}"),
        ("Sequential", "yes" if t.sequential else "no"),
        ("Magnet", d.magnet or NONE),
    ]
    if t.complete_dir:  # downloading in completion.incomplete_dir
        rows.insert(4, ("Moves to", f"{t.complete_dir} when complete"))
    if t.error:
        rows.insert(1, ("Error", t.error))
    if not t.has_metadata and not d.trackers and not d.peers and dht_nodes == 0:
        rows.insert(1, ("Hint", NO_SOURCES))
    return [(label, clean(value)) for label, value in rows]


class InfoPanel(VerticalScroll):
    """A scrollable two-column grid of the torrent's facts."""

    DEFAULT_CSS = """
    InfoPanel { height: 1fr; padding: 0 1; }
    InfoPanel > Static { width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static(Text("waiting for details…"), id="info-grid")

    def show(self, details: TorrentDetails, dht_nodes: int = -1) -> None:
        """Display the facts of ``details``."""
        rows = info_rows(details, dht_nodes)
        if rows == self.rows:
            return
        self.rows = rows
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in rows:
            grid.add_row(Text(label), Text(value))
        self.query_one("#info-grid", Static).update(grid)
