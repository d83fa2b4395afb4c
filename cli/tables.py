"""Tables that fit: every table the CLI prints goes through :func:`print_table`.

Each column declares how much it matters (``keep``, higher is kept longer) and whether it
is text that may wrap (``wrap``: names, paths, errors). On a terminal, the least important
columns are dropped *whole* until the rest fits the width (a column empty in every row
goes before any other): a number is never cut to
``1m5…``, and text columns wrap inside the room left (never below ``min_width``). Piped or
redirected (stdout not a terminal), every column is printed, space-aligned, with no
styles, no wrapping and no truncation, so ``| grep`` sees whole names and stable columns
(scripts should use ``--json``).

A new column is one more :class:`Column` with its ``keep``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .console import out

if TYPE_CHECKING:
    from rich.text import Text

    Cell = str | Text
else:
    Cell = object

GAP = 2
"""Spaces between two columns (Rich's padding of 1 on each side, or the piped format's)."""


@dataclass(frozen=True)
class Column:
    header: str
    keep: int = 50
    """How much the column matters: when the terminal is too narrow, the columns with the
    lowest ``keep`` are dropped first. ``KEEP_ALWAYS`` is never dropped."""
    justify: Literal["left", "right"] = "left"
    wrap: bool = False
    """Text that may wrap (names, paths, messages); other columns are never wrapped nor cut."""
    min_width: int = 12
    """For ``wrap`` columns: the narrowest they may get before other columns are dropped."""


KEEP_ALWAYS = 1000


def _plain(cell: Cell) -> str:
    return cell if isinstance(cell, str) else cell.plain


def _width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(part) for part in text.split("\n")), default=0)


def fit(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int) -> list[int]:
    """Indexes of the columns shown at ``width`` terminal cells, in their order."""
    natural = [max([_width(c.header)] + [_width(_plain(r[i])) for r in rows])
               for i, c in enumerate(columns)]

    def need(shown: list[int]) -> int:
        total = sum(min(natural[i], columns[i].min_width) if columns[i].wrap else natural[i]
                    for i in shown)
        return total + GAP * (len(shown) - 1)

    shown = list(range(len(columns)))
    # columns with nothing in any row first, then the least important; of equals, the
    # rightmost first
    order = sorted(shown, key=lambda i: (bool(rows) and any(_plain(r[i]) for r in rows),
                                         columns[i].keep, -i))
    for i in order:
        if need(shown) <= width or len(shown) == 1:
            break
        if columns[i].keep >= KEEP_ALWAYS:
            continue
            break
        shown.remove(i)
    return shown


def print_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> None:
    """Print ``rows`` (one cell per column, ``str`` or ``rich.text.Text``) on stdout."""
    if not out.is_terminal:
        _print_plain(columns, rows)
        return
    from rich.table import Table

    shown = fit(columns, rows, out.width)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for i in shown:
        c = columns[i]
        if c.wrap:
            table.add_column(c.header, justify=c.justify, overflow="fold")
        else:
            # "fold", not "ignore": Rich does not justify cells whose overflow is "ignore"
            table.add_column(c.header, justify=c.justify, no_wrap=True, overflow="fold")
    for r in rows:
        table.add_row(*(r[i] for i in shown))
    out.print(table, markup=False)


def _print_plain(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> None:
    import sys

    from rich.cells import cell_len

    # one line per row: a newline inside a cell would start a line that is not a row
    table = [[c.header for c in columns]] + [
        [" ".join(_plain(cell).splitlines()) for cell in r] for r in rows]
    widths = [max(cell_len(r[i]) for r in table) for i in range(len(columns))]
    lines = []
    for r in table:
        cells = []
        for i, (c, text) in enumerate(zip(columns, r, strict=True)):
            pad = " " * (widths[i] - cell_len(text))
            last = i == len(columns) - 1
            cells.append(pad + text if c.justify == "right" else text + ("" if last else pad))
        lines.append((" " * GAP).join(cells).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
