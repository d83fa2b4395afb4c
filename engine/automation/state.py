"""What the automation components show frontends (``watch_list``)."""

from __future__ import annotations

import msgspec


class WatchFolderState(msgspec.Struct, frozen=True, kw_only=True):
    """One watch folder as of now."""

    path: str
    """The folder (as configured, ``~`` expanded)."""
    category: str = ""
    save_path: str = ""
    added: int = 0
    """Files added from it since the node started (one already present counts)."""
    invalid: int = 0
    """Files refused since the node started (each renamed ``NAME.invalid``, its error in
    ``NAME.error.txt``)."""
    waiting: int = 0
    """Files seen at the last look that are not handled yet (still being written, or past
    ``watch.max_per_poll``)."""
    last_error: str = ""
    """The newest error of the folder or of a file in it ("" none)."""
    last_error_time: float = 0.0
    """When ``last_error`` happened (Unix time; 0 never)."""
    last_poll: float = 0.0
    """When the folder was last looked at (Unix time; 0 not yet)."""
