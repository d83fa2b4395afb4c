"""The engine API over ZeroMQ: protocol (sans-IO), server, client, daemon, bus.

Importing :mod:`tidegate.engine` does not import this package (nor ZeroMQ); frontends
that talk to a daemon import :class:`RemoteEngine` from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .client import RemoteEngine

if TYPE_CHECKING:
    from ..engine import Engine
    from ..interface import EngineAPI

    def _both_are_engines(local: Engine, remote: RemoteEngine) -> list[EngineAPI]:
        """mypy proves here that both satisfy the one interface frontends use."""
        return [local, remote]

__all__ = ["RemoteEngine"]
