"""Where the CLI writes: data to stdout, words for people to stderr.

stdout stays clean for pipes and ``--json``; progress bars, notes and error
panels go to stderr.

Rich is loaded only when something is drawn for a person: ``out`` and ``err`` make their
Console on first use, and a note or a one-line result printed to a pipe or a file is
written as plain text. Importing ``rich.console`` costs ~13 ms of start-up (``rich.progress``
~20 ms more), which a script running ``tidegate`` in a loop would pay every time.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from tidegate.engine.safetext import clean
from tidegate.engine.state import enc_hook

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A rich Console made on first use; any attribute is the Console's."""

    def __init__(self, stderr: bool, **options: Any) -> None:
        self._stderr = stderr
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        """The Console itself (for ``Progress(console=...)`` and the like)."""
        if self._console is None:
            from rich.console import Console
            self._console = Console(stderr=self._stderr, **self._options)
        return self._console

    @property
    def is_terminal(self) -> bool:
        """Rich's answer, without loading rich unless the environment forces one
        (``TTY_COMPATIBLE``, ``FORCE_COLOR``)."""
        if self._console is not None or "TTY_COMPATIBLE" in os.environ \
                or "FORCE_COLOR" in os.environ:
            return self.console.is_terminal
        stream: TextIO = sys.stderr if self._stderr else sys.stdout
        try:
            return stream.isatty()
        except (AttributeError, ValueError):  # replaced, or closed at interpreter exit
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


# Text from outside (names, paths, messages, URLs) is never markup: both consoles parse
# neither Rich markup nor ``:emoji:`` codes unless a call asks for markup itself, and
# what comes from outside is given as ``rich.text.Text`` (see :func:`fail`, :func:`done`).
out = LazyConsole(stderr=False, soft_wrap=True, highlight=False, markup=False, emoji=False)
err = LazyConsole(stderr=True, highlight=False, markup=False, emoji=False)


def line(text: str) -> None:
    """One line of data on stdout, as it is (no markup, no wrapping)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_json(value: Any) -> None:
    data = msgspec.to_builtins(value, enc_hook=enc_hook)
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, hint: str | None = None) -> None:
    """An error panel on stderr; ``message`` (which quotes outside input) is cleaned and
    shown as it is, never as markup or emoji codes."""
    from rich.panel import Panel
    from rich.text import Text
    body = Text(clean(message))
    if hint is not None:
        body.append("\n\n")
        body.append(hint, "dim")
    err.print(Panel(body, title="tidegate: error", title_align="left", border_style="red",
                    expand=False))


def note(message: str) -> None:
    """A line for people on stderr, printed as it is."""
    if err.is_terminal:
        err.print(message, markup=False)
    else:
        _plain(message)


def done(word: str, text: str) -> None:
    """``word: text`` on stderr, the word in green on a terminal (``text`` is cleaned of
    control characters and printed as it is)."""
    if err.is_terminal:
        from rich.text import Text
        err.print(Text.assemble((word, "green"), ": ", clean(text)), highlight=False)
    else:
        _plain(f"{word}: {clean(text)}")


def _plain(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
