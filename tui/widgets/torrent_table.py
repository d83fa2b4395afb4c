"""The torrent list: a Line API widget that draws only the rows on screen.

A :class:`textual.widgets.DataTable` keeps a widget-side copy of every cell;
with 10,000 torrents changing four times a second that copy is the bottleneck.
This table holds the ordered :class:`TorrentState` values it was given and
renders the visible rows on demand, caching each rendered row by the state
object's identity (unchanged torrents are the same object between snapshots).
The header is line 0 and stays put while the rows scroll.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tidegate.engine.safetext import clean
from tidegate.engine.state import Phase, TorrentState

from ..model import BY_KEY, COLUMNS, Column, layout

EMPTY_HINT = "No torrents yet: press a to add one (a .torrent or a magnet), ? for every key."
FILTERED_HINT = "Nothing matches: esc clears the text filter, 1 shows every state."
BAR_FULL = "█"
BAR_EMPTY = "░"


class TorrentTable(ScrollView, can_focus=True):
    """Rows of torrents with a cursor, marks and a sortable header."""

    COMPONENT_CLASSES = {
        "torrent-table--header",
        "torrent-table--sorted",
        "torrent-table--cursor",
        "torrent-table--marked",
        "torrent-table--bar-done",
        "torrent-table--bar-todo",
        "torrent-table--error",
        "torrent-table--seeding",
        "torrent-table--active",
        "torrent-table--paused",
    }
    DEFAULT_CSS = """
    TorrentTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        & > .torrent-table--header { text-style: bold; background: $panel; }
        & > .torrent-table--sorted { text-style: bold underline; background: $panel; }
        & > .torrent-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .torrent-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
        & > .torrent-table--marked { color: $warning; text-style: bold; }
        & > .torrent-table--bar-done { color: $success; }
        & > .torrent-table--bar-todo { color: $foreground-darken-3; }
        & > .torrent-table--error { color: $error; }
        & > .torrent-table--seeding { color: $success; }
        & > .torrent-table--active { color: $accent; }
        & > .torrent-table--paused { color: $text-muted; }
    }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
    ]

    class CursorMoved(Message):
        """The cursor is on another torrent (or on none)."""

        def __init__(self, torrent_id: str | None) -> None:
            super().__init__()
            self.torrent_id = torrent_id

    class Activated(Message):
        """Enter or a double click on a row."""

        def __init__(self, torrent_id: str) -> None:
            super().__init__()
            self.torrent_id = torrent_id

    class SortClicked(Message):
        """A click on a column title."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: Sequence[TorrentState] = ()
        self.marked: frozenset[str] = frozenset()
        self.sort_key = "added"
        self.reverse = False
        self._index: dict[str, int] | None = {}
        self._cache: dict[tuple[str, bool, bool], tuple[TorrentState, Strip]] = {}
        self._cache_width = -1
        self._cursor_id: str | None = None
        self.site_names: dict[str, str] = {}
        """Site address -> name, to label the torrents sites need."""
        self.columns: tuple[Column, ...] = COLUMNS
        """The columns that may be shown (the screen adds Category and Tags)."""
        self.empty_hint = EMPTY_HINT
        """What an empty list says (the screen sets it when a filter hides everything)."""

    # ------------------------------------------------------------------ attributes down

    @property
    def index(self) -> dict[str, int]:
        """Row number by torrent id (built when first needed after a change of rows)."""
        if self._index is None:
            self._index = {t.id: i for i, t in enumerate(self.rows)}
        return self._index

    @property
    def cursor_id(self) -> str | None:
        """The id of the torrent under the cursor."""
        return self._cursor_id

    def show(self, rows: Sequence[TorrentState], marked: frozenset[str], sort_key: str,
             reverse: bool, columns: tuple[Column, ...] | None = None) -> None:
        """Display ``rows`` in this order; the cursor stays on its torrent if still shown."""
        if columns is not None and columns != self.columns:
            self.columns = columns
            self._cache.clear()
        previous = self._cursor_id
        kept = rows is self.rows
        self.rows = rows
        if not kept:
            self._index = None
        self.marked = marked
        self.sort_key, self.reverse = sort_key, reverse
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        index = self.cursor
        if previous and not (index < len(rows) and rows[index].id == previous):
            index = self.index.get(previous, index)
        self._set_cursor(index, announce=False)
        if self._cursor_id != previous:
            self.post_message(self.CursorMoved(self._cursor_id))
        self.refresh()

    def _set_cursor(self, index: int, announce: bool = True) -> None:
        index = max(0, min(index, len(self.rows) - 1))
        old = self._cursor_id
        self.cursor = index
        self._cursor_id = self.rows[index].id if self.rows else None
        self._scroll_to_cursor()
        if announce and old != self._cursor_id:
            self.post_message(self.CursorMoved(self._cursor_id))
        self.refresh()

    def move_to(self, torrent_id: str) -> bool:
        """Put the cursor on ``torrent_id`` if it is shown."""
        index = self.index.get(torrent_id)
        if index is None:
            return False
        self._set_cursor(index)
        return True

    def _scroll_to_cursor(self) -> None:
        body = max(1, self.size.height - 1)
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, immediate=True)

    # ------------------------------------------------------------------ actions

    def action_cursor(self, step: int) -> None:
        self._set_cursor(self.cursor + step)

    def action_page(self, step: int) -> None:
        self._set_cursor(self.cursor + step * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        self._set_cursor(len(self.rows) - 1 if end else 0)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            for column, x, width in layout(self.size.width, self.columns):
                if x <= offset.x < x + width + 1:
                    self.post_message(self.SortClicked(column.key))
                    return
            return
        index = offset.y - 1 + round(self.scroll_offset.y)
        if 0 <= index < len(self.rows):
            self._set_cursor(index)
            if event.chain >= 2:
                self.post_message(self.Activated(self.rows[index].id))

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self.rows) + 1)
        self._cache.clear()

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._cache_width:
            self._cache.clear()
            self._cache_width = width
        if y == 0:
            return self._header(width)
        index = y - 1 + round(self.scroll_offset.y)
        if not self.rows and y == 2:
            hint = f"  {self.empty_hint}"
            return Strip([Segment(set_cell_size(hint, width), self._style("paused"))])
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, self.rich_style)
        state = self.rows[index]
        is_cursor = index == self.cursor
        is_marked = state.id in self.marked
        # the cache holds the state it drew and compares it by identity: a key made of
        # ``id(state)`` matched a new state that Python put where a freed one had been,
        # and drew the old row (issue 21: 102 of 200 rows stale)
        key = (state.id, is_cursor, is_marked)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is state and hit[1].cell_length == width:
            return hit[1]
        if len(self._cache) > 4096:
            self._cache.clear()
        strip = self._row(state, width, is_cursor, is_marked)
        self._cache[key] = (state, strip)
        return strip

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"torrent-table--{name}")

    def _ink(self, name: str) -> Style:
        """A component's colour and weight without its background, which would hide the
        cursor's on the cells it styles."""
        s = self._style(name)
        return Style(color=s.color, bold=s.bold, dim=s.dim, italic=s.italic)

    def _header(self, width: int) -> Strip:
        base = self._style("header")
        sorted_style = self._style("sorted")
        segments = []
        shown = layout(width, self.columns)
        arrow = " ▼" if self.reverse else " ▲"
        hidden = BY_KEY.get(self.sort_key) if all(
            c.key != self.sort_key for c, _x, _w in shown) else None
        for column, _x, w in shown:
            title = column.title
            if column.key == self.sort_key:  # the arrow kept whole: "Peers/▲", not "eers/S ▲"
                title = title[:max(0, w - len(arrow))].rstrip() + arrow
            elif column.key == "name" and hidden is not None:
                # sorted by a column the width left out: say by what, where the name is
                title += f" (by {hidden.title}{arrow})"
            text = _fit(title, w, column.align)
            style = sorted_style if column.key == self.sort_key else base
            segments += [Segment(text, style), Segment(" ", base)]
        return Strip(segments).adjust_cell_length(width, base)

    def _row(self, t: TorrentState, width: int, is_cursor: bool, is_marked: bool) -> Strip:
        base = self.rich_style
        if is_cursor:
            base = base + self._style("cursor")
        segments: list[Segment] = []
        state_style = base + self._ink(_state_class(t))
        for column, _x, w in layout(width, self.columns):
            if column.key == "progress":
                segments += _bar(t.progress, w, base + self._ink("bar-done"),
                                 base + self._ink("bar-todo"), base)
            else:
                style = base
                if column.key == "state":
                    style = state_style
                elif column.key == "name" and is_marked:
                    style = base + self._ink("marked")
                text = column.text(t)
                if column.key == "name":
                    text = ("● " if is_marked else "  ") + self._site_label(t) + text
                segments.append(Segment(_fit(text, w, column.align), style))
            segments.append(Segment(" ", base))
        return Strip(segments).adjust_cell_length(width, base)


    def _site_label(self, t: TorrentState) -> str:
        """``[site <name> <role>] `` for a torrent a site needs (shown on request)."""
        if not t.site:
            return ""
        name = clean(self.site_names.get(t.site) or t.site[:16])
        return f"[site {name} {clean(t.site_role) or 'torrent'}] "


def _state_class(t: TorrentState) -> str:
    if t.error or t.phase is Phase.ERROR:
        return "error"
    if t.phase in (Phase.SEEDING, Phase.FINISHED):
        return "seeding"
    if t.phase in (Phase.PAUSED, Phase.QUEUED):
        return "paused"
    return "active"


def _fit(text: str, width: int, align: str) -> str:
    if align == "right":
        text = text[-width:] if len(text) > width else text
        return " " * (width - len(text)) + text
    return set_cell_size(text, width)


def _bar(progress: float, width: int, done: Style, todo: Style, base: Style) -> list[Segment]:
    label = f"{progress * 100:4.0f}%" if progress < 1 else " done"
    bar_width = max(0, width - len(label) - 1)
    filled = min(bar_width, int(progress * bar_width + 1e-9))
    return [Segment(BAR_FULL * filled, done), Segment(BAR_EMPTY * (bar_width - filled), todo),
            Segment(" " + label, base)]

