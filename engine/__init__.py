"""tidegate's engine: the libtorrent session, its state and its commands.

This package has no UI code. Frontends use :class:`Engine` (in-process) or,
later, the remote client with the same interface.
"""

from .config import Config, LoadedConfig
from .engine import Engine
from .errors import TidegateError
from .requests import AddRequest
from .state import Phase, Snapshot, TorrentState

__all__ = [
    "AddRequest",
    "Config",
    "Engine",
    "LoadedConfig",
    "Phase",
    "Snapshot",
    "TidegateError",
    "TorrentState",
]
