"""The engine API over ZeroMQ: protocol (sans-IO), server, client, daemon, bus.

Importing :mod:`engine` does not import this package (nor ZeroMQ); frontends
that talk to a daemon import :class:`RemoteEngine` from here.
"""

from .client import RemoteEngine

__all__ = ["RemoteEngine"]
