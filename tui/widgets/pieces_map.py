"""The Pieces tab: one cell per piece, or per group of pieces when they outnumber the cells.

A torrent can have 100,000 pieces and the map is redrawn every second, so the
work is done on bytes, not Python objects: when every piece gets its own cell,
``bytes.translate`` turns the engine's piece states into cell codes in one call;
when pieces are grouped, each group is one slice plus ``count``/``in``. Lines
are drawn on demand (Line API) as runs of equal cells and cached until the
pieces or the size change.
"""

from __future__ import annotations

from itertools import groupby

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.strip import Strip
from textual.widget import Widget

MISSING, HAVE, DOWNLOADING = 0, 1, 2
"""Piece states as :attr:`engine.state.TorrentDetails.pieces` encodes them."""
PARTIAL = "▁▂▃▄▅▆▇"
"""Glyphs of a group some of whose pieces we have, by the fraction we have."""
GLYPHS = {"h": "█", "d": "▓", ".": "░"} | {str(i + 1): g for i, g in enumerate(PARTIAL)}
_CODES = bytes.maketrans(bytes([MISSING, HAVE, DOWNLOADING]), b".hd")


def cell_codes(pieces: bytes, cells: int) -> tuple[str, int]:
    """One code per cell (``h`` have, ``d`` downloading, ``.`` missing, ``1``-``7`` partial)
    for at most ``cells`` cells, and how many pieces each cell stands for."""
    n = len(pieces)
    if n == 0 or cells <= 0:
        return "", 1
    if n <= cells:
        return pieces.translate(_CODES).decode("ascii", "replace"), 1
    group = -(-n // cells)
    out = []
    levels = len(PARTIAL)
    for start in range(0, n, group):
        chunk = pieces[start:start + group]
        if DOWNLOADING in chunk:
            out.append("d")
            continue
        have = chunk.count(HAVE)
        if have == len(chunk):
            out.append("h")
        elif have == 0:
            out.append(".")
        else:
            out.append(str(min(levels, 1 + have * levels // len(chunk))))
    return "".join(out), group


class PiecesMap(Widget):
    """A grid of piece cells under a one-line legend with counts."""

    COMPONENT_CLASSES = {"pieces-map--have", "pieces-map--downloading", "pieces-map--missing"}
    DEFAULT_CSS = """
    PiecesMap {
        height: 1fr;
        background: $surface;
        & > .pieces-map--have { color: $success; }
        & > .pieces-map--downloading { color: $warning; }
        & > .pieces-map--missing { color: $foreground-darken-3; background: $panel; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pieces = b""
        self.counts = (0, 0, 0)
        """(have, downloading, missing)."""
        self._codes = ""
        self._group = 1
        self._key: tuple[bytes, int, int] | None = None
        self._lines: dict[int, Strip] = {}

    def show(self, pieces: bytes) -> None:
        """Display a piece map (one byte per piece: 0 missing, 1 have, 2 downloading)."""
        if pieces == self.pieces:
            return
        self.pieces = pieces
        have, downloading = pieces.count(HAVE), pieces.count(DOWNLOADING)
        self.counts = (have, downloading, len(pieces) - have - downloading)
        self._key = None
        self.refresh()

    @property
    def group(self) -> int:
        """Pieces per cell as last drawn."""
        return self._group

    def legend(self) -> Text:
        """The first line: glyphs in their styles, counts and the cell size."""
        have, downloading, missing = self.counts
        if not self.pieces:
            return Text("no pieces yet (waiting for metadata)", no_wrap=True)
        text = Text(no_wrap=True, overflow="ellipsis")
        for code, name, count in (("h", "have", have), ("d", "downloading", downloading),
                                  (".", "missing", missing)):
            text.append(GLYPHS[code], self._style(name))
            text.append(f" {name} {count:,}  ")
        if self._group > 1:
            text.append(f"1 cell = {self._group:,} pieces")
        return text

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"pieces-map--{name}")

    def _layout(self) -> None:
        width, height = self.size.width, max(0, self.size.height - 1)
        # the pieces object itself, held and compared by identity (an ``id()`` of a freed
        # object can be reused by the next one)
        key = (self.pieces, width, height)
        if self._key is None or key[0] is not self._key[0] or key[1:] != self._key[1:]:
            self._codes, self._group = cell_codes(self.pieces, width * height)
            self._key = key
            self._lines.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._key = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._key = None

    def render_line(self, y: int) -> Strip:
        self._layout()
        width = self.size.width
        if y == 0:
            segments = list(self.legend().render(self.app.console))
            return Strip(segments).adjust_cell_length(width, self.rich_style)
        strip = self._lines.get(y)
        if strip is None:
            strip = self._lines[y] = self._grid_line(y - 1, width)
        return strip

    def _grid_line(self, row: int, width: int) -> Strip:
        codes = self._codes[row * width:(row + 1) * width]
        base = self.rich_style
        if not codes:
            return Strip.blank(width, base)
        have, downloading, missing = (base + self._style(n)
                                      for n in ("have", "downloading", "missing"))
        partial = missing + Style(color=have.color)
        styles = {"h": have, "d": downloading, ".": missing}
        segments = [Segment(GLYPHS[code] * len(list(run)), styles.get(code, partial))
                    for code, run in groupby(codes)]
        return Strip(segments).adjust_cell_length(width, base)
