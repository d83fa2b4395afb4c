"""The TUI's face of the watch folders (key W): each folder's counts and last error, as
one notification. Folders are set in the config file (docs/automation.md)."""

from __future__ import annotations

import time
from typing import Any

from tidegate.engine import commands as cmds
from tidegate.engine.automation.state import WatchFolderState
from tidegate.engine.safetext import clean, shorten

from .host import Host


def show_watch_folders(app: Host) -> None:
    """Ask the engine for its watch folders and show them."""
    app.run_one("Watch folders", lambda: app.engine.run(cmds.WatchList()),
                failed="Watch folders: failed", says=describe)


def describe(results: list[Any]) -> str:
    """Plain text (never markup) for the folders ``watch_list`` returned."""
    folders: list[WatchFolderState] = results[0] if results else []
    if not folders:
        return "No watch folders (list them in the config file: [[watch.folders]])"
    now = time.time()
    lines = []
    for f in folders:
        line = (f"{clean(f.path)}: {f.added} added, {f.invalid} invalid, "
                f"{f.waiting} waiting")
        if f.last_error:
            line += (f"\n  last error ({int(now - f.last_error_time)} s ago): "
                     f"{shorten(clean(f.last_error), 300)}")
        lines.append(line)
    return "\n".join(lines)
