"""The command channel into the engine thread.

Callers on any thread post a callable and get a :class:`concurrent.futures.Future`;
the engine thread runs the callables in order. A socketpair wakes the engine's
``select`` at once, so commands wait neither for a tick nor for an alert.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .errors import EngineStoppedError
from .waker import Waker

Command = tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]


class _Deferred:
    """Marker: the command resolves its future itself, later."""


DEFERRED = _Deferred()
"""Given as a command's first argument: the callable receives its future and resolves it
itself, later (when the alert that completes it arrives)."""


def failed(exc: BaseException) -> Future[Any]:
    """A future that already holds ``exc``: a command refused before it was posted."""
    fut: Future[Any] = Future()
    fut.set_exception(exc)
    return fut


class CommandChannel:
    def __init__(self) -> None:
        self._queue: collections.deque[Command] = collections.deque()
        self._lock = threading.Lock()
        self._closed = False
        self.waker = Waker()

    def post(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        with self._lock:
            if self._closed:
                fut.set_exception(EngineStoppedError("the engine is not running"))
                return fut
            self._queue.append((fn, args, fut))
        self.waker.wake()
        return fut

    def take(self) -> list[Command]:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
        return items

    def close(self) -> list[Command]:
        """Refuse new commands; return the ones never run."""
        with self._lock:
            self._closed = True
            items = list(self._queue)
            self._queue.clear()
        return items

    def dispose(self) -> None:
        self.waker.close()
