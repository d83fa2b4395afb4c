"""The Peers tab, and :class:`KeyedTable`, the row-syncing table the Trackers tab shares.

Peers come and go every second. Clearing and refilling a DataTable would throw
the cursor back to the top each time, so rows are keyed (``address:port``):
new peers are appended, gone ones removed, changed cells updated in place, and
the cursor follows its row. Peer client names are hostile text: cleaned and
passed as :class:`rich.text.Text`, which DataTable never parses as markup.
``a`` asks for peers to connect to: the table only posts :class:`PeersTable.AddWanted`,
the detail screen asks and runs the command.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

from tidegate.engine import units
from tidegate.engine.safetext import clean
from tidegate.engine.state import PeerState

Cells = tuple[Text, ...]


class KeyedTable(DataTable[Text]):
    """A DataTable whose rows are replaced by key with :meth:`sync`."""

    COLUMNS: tuple[tuple[str, str], ...] = ()
    """(key, title) of each column."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.values: dict[str, Cells] = {}
        """Cells of each row as shown, by row key."""
        for key, title in self.COLUMNS:
            self.add_column(title, key=key)

    def sync(self, rows: Sequence[tuple[str, Cells]]) -> None:
        """Show exactly ``rows`` (key, cells); the cursor stays on its row when it can."""
        cursor_key = self.cursor_key()
        wanted = dict(rows)
        for key in [k for k in self.values if k not in wanted]:
            self.remove_row(key)
            del self.values[key]
        columns = [key for key, _ in self.COLUMNS]
        for key, cells in wanted.items():
            old = self.values.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            elif old != cells:
                for column, before, after in zip(columns, old, cells, strict=True):
                    if before != after:
                        self.update_cell(key, column, after, update_width=True)
            self.values[key] = cells
        if cursor_key is not None and cursor_key in self.values:
            index = self.get_row_index(cursor_key)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)

    def cursor_key(self) -> str | None:
        """The key of the row under the cursor (None in an empty table)."""
        if not self.row_count:
            return None
        try:
            row_key: RowKey = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return row_key.value


def right(text: str) -> Text:
    return Text(text, justify="right", no_wrap=True)


def peer_key(peer: PeerState) -> str:
    """``address:port`` (``[address]:port`` for IPv6)."""
    address = f"[{peer.address}]" if ":" in peer.address else peer.address
    return f"{clean(address)}:{peer.port}"


class PeersTable(KeyedTable):
    """Connected peers: address, client, flags, rates and their progress."""

    COLUMNS = (("address", "Address"), ("client", "Client"), ("flags", "Flags"),
               ("down", "Down"), ("up", "Up"), ("progress", "Progress"))
    BINDINGS = [Binding("a", "add", "Connect to peers")]

    class AddWanted(Message):
        """The user asked to connect to peers (``a``)."""

    def action_add(self) -> None:
        self.post_message(self.AddWanted())

    def show(self, peers: Sequence[PeerState]) -> None:
        """Display ``peers`` (the newest list from the engine)."""
        rows = []
        for p in peers:
            key = peer_key(p)
            rows.append((key, (Text(key, no_wrap=True), Text(clean(p.client), no_wrap=True),
                               Text(clean(p.flags), no_wrap=True),
                               right(units.rate(p.download_rate)),
                               right(units.rate(p.upload_rate)),
                               right(f"{p.progress * 100:.1f}%"))))
        self.sync(rows)
