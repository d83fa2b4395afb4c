"""The watch folders' command (docs/automation.md); hooks have none: they are set in the
config file only, and no command reaches them."""

from __future__ import annotations

from .automation.state import WatchFolderState
from .command_base import Command


class WatchList(Command[list[WatchFolderState]], frozen=True, forbid_unknown_fields=True):
    """The watch folders (``watch.folders``): each one's counts and last error."""

    cmd = "watch_list"
    cli = "watch list"
    tui = "watch folders (W)"


WATCH_COMMANDS = frozenset({WatchList})
"""Commands of this module the node runs (its watch service), not the torrent engine."""
