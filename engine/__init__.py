"""tidegate's engine: the libtorrent session, its state and its commands.

This package has no UI code. Frontends use :class:`Engine` (in-process) or the remote
client with the same interface (:mod:`tidegate.engine.api`).

The names below are imported on first use (PEP 562): importing a submodule such as
``tidegate.engine.errors`` runs this file, and must not import :class:`Engine` and
libtorrent with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config, LoadedConfig
    from .engine import Engine
    from .errors import TidegateError
    from .requests import AddRequest
    from .state import Phase, Snapshot, TorrentState

_WHERE = {
    "AddRequest": ".requests",
    "Config": ".config",
    "Engine": ".engine",
    "LoadedConfig": ".config",
    "Phase": ".state",
    "Snapshot": ".state",
    "TidegateError": ".errors",
    "TorrentState": ".state",
}

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


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
