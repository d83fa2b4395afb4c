"""The sites view: a placeholder until sites and their chains land in the engine."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

TEXT = """[b]Sites[/b]

Hosted and followed sites will be listed here, each with its chain head
(sequence number and time), its snapshot's torrent and its status.

The engine does not host sites yet: this view fills in when it does.

Press escape to go back to the torrent list."""


class SitesScreen(Screen[None]):
    BINDINGS = [Binding("escape,S", "app.pop_screen", "Back to torrents")]
    DEFAULT_CSS = "SitesScreen Static { padding: 1 2; }"

    def compose(self) -> ComposeResult:
        yield Static(TEXT)
        yield Footer()
