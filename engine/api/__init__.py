"""The engine API over ZeroMQ: protocol (sans-IO), server, client, daemon, bus.

Importing :mod:`tidegate.engine` does not import this package (nor ZeroMQ); frontends
that talk to a daemon import :class:`RemoteEngine` from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .client import RemoteEngine

if TYPE_CHECKING:
    from ..engine import Engine
    from ..interface import EngineAPI, ServedEngine
    from ..node import Node

    def _all_are_engines(local: Engine, node: Node, remote: RemoteEngine) -> list[EngineAPI]:
        """mypy proves here that each satisfies the one interface frontends use."""
        return [local, node, remote]

    def _both_can_be_served(local: Engine, node: Node) -> list[ServedEngine]:
        return [local, node]

__all__ = ["RemoteEngine"]
