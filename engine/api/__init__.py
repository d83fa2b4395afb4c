"""The wire: the engine API over ZeroMQ (protocol, server, client) and the component bus.

Importing :mod:`tidegate.engine` does not import this package (nor ZeroMQ); frontends
that talk to a daemon import :class:`RemoteEngine` from here.
"""

from __future__ import annotations

from .client import RemoteEngine

__all__ = ["RemoteEngine"]
