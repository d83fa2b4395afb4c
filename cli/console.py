"""Where the CLI writes: data to stdout, words for people to stderr.

stdout stays clean for pipes and ``--json``; progress bars, notes and error
panels go to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from engine.safetext import clean
from engine.state import enc_hook

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    data = msgspec.to_builtins(value, enc_hook=enc_hook)
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def printable(text: str) -> str:
    """:func:`clean` text with Rich markup escaped, for strings printed with markup."""
    return escape(clean(text))


def fail(message: str, hint: str | None = None) -> None:
    body = printable(message) if hint is None else f"{printable(message)}\n\n[dim]{hint}[/dim]"
    err.print(Panel(body, title="tidegate: error", title_align="left", border_style="red",
                    expand=False), markup=True)


def note(message: str) -> None:
    err.print(message, markup=False)
