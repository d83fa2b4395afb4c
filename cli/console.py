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
from rich.panel import Panel

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(msgspec.to_builtins(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, hint: str | None = None) -> None:
    body = message if hint is None else f"{message}\n\n[dim]{hint}[/dim]"
    err.print(Panel(body, title="tidegate: error", title_align="left", border_style="red",
                    expand=False), markup=True)


def note(message: str) -> None:
    err.print(message, markup=False)
