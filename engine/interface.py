"""The engine interface frontends program against, in-process or remote.

:class:`engine.node.Node` (embedded), :class:`engine.Engine` (torrents only) and
:class:`engine.api.RemoteEngine` (a daemon over ZeroMQ) all satisfy :class:`EngineAPI`,
so the CLI, the TUI and tests run against any of them without knowing which (mypy checks
each in ``engine/api/__init__.py``). Every command is a value of :mod:`engine.commands`
given to :meth:`EngineAPI.run`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

from .commands import Command, R
from .events import EventStream
from .state import Snapshot


class EngineAPI(Protocol):
    """Commands return futures; state arrives as snapshots and ordered events."""

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def running(self) -> bool: ...

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot: ...

    def subscribe(self, maxsize: int = 10_000) -> EventStream: ...

    def unsubscribe(self, stream: EventStream) -> None: ...

    def run(self, cmd: Command[R]) -> Future[R]:
        """Run one command (:mod:`engine.commands`); the future resolves to its result or
        raises the error the engine gave."""
        ...


class ServedEngine(EngineAPI, Protocol):
    """What the API server needs of what it serves (a node, or a bare engine)."""

    @property
    def event_seq(self) -> int: ...

    def add_listener(self, wake: Callable[[], None]) -> None: ...

    def remove_listener(self, wake: Callable[[], None]) -> None: ...

    def frontend_attached(self, on: bool) -> None:
        """A frontend is attached (``on``) or left: counted; while any is, snapshots come
        at ``engine.snapshot_hz`` even when nothing moves (:mod:`engine.pacer`)."""
