"""Every key, generated from :data:`tui.actions.ACTIONS` and the screens' own bindings."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..actions import ACTIONS, key_text

EXTRA: tuple[tuple[str, str], ...] = (
    ("up/down, j/k, pgup/pgdn, home/end", "Move in the list"),
    ("mouse", "Click a row to select it, double-click for details, click a column title "
              "to sort (again to invert), click a state filter or a tab"),
    ("ctrl+p", "Command palette: every action by name"),
    ("→ (in a path field)", "Accept the path completion"),
)


def _screen_keys() -> list[tuple[str, str, str]]:
    """``(keys, where, what)`` for the detail screen's, its tabs' and the sites view's own
    bindings."""
    from ..widgets.files_tree import FilesTree
    from ..widgets.peers_table import PeersTable
    from ..widgets.trackers_table import TrackersTable
    from .detail import DetailScreen
    from .sites import SitesScreen

    out = []
    for where, bindings in (("Details", DetailScreen.BINDINGS), ("Files tab", FilesTree.BINDINGS),
                            ("Peers tab", PeersTable.BINDINGS),
                            ("Trackers tab", TrackersTable.BINDINGS),
                            ("Sites", SitesScreen.BINDINGS)):
        for b in bindings:
            if isinstance(b, Binding):
                out.append((b.key.replace("equals_sign", "=").replace("plus", "+")
                            .replace("minus", "-"), where, b.description))
    return out


def help_table() -> Table:
    table = Table(box=None, show_header=True, header_style="bold", expand=True)
    table.add_column("Key", max_width=22)
    table.add_column("Action", no_wrap=True)
    table.add_column("What it does", ratio=1)
    for action in ACTIONS:
        table.add_row(key_text(action), action.title, action.help)
    for keys, what in EXTRA:
        table.add_row(keys, "", what)
    for keys, where, what in _screen_keys():
        table.add_row(keys, where, what)
    return table


class HelpScreen(ModalScreen[None]):
    """The key reference; escape, q or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: 90%; border: thick $primary;
        background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark,f1", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("[b]tidegate keys[/b]  (escape closes)")
            yield Static(help_table())
