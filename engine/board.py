"""The newest snapshot and the event subscribers: what every engine front shares.

Both :class:`engine.Engine` and :class:`engine.api.RemoteEngine` publish
snapshots (one reference swap under a condition variable) and deliver events
to bounded subscriber streams; this is that mechanism, written once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import EngineStoppedError
from .events import Event, EventStream
from .state import EMPTY_SNAPSHOT, Snapshot

GLANCE_LEASE = 10.0
"""Seconds a :meth:`StateBoard.glance` counts as watching: longer than the polling
interval of the clients that read this way (qBittorrent's web UI asks every 1.5 s)."""


class StateBoard:
    """Holds the newest :class:`Snapshot`; wakes waiters; fans events out."""

    def __init__(self, on_watched: Callable[[], None] | None = None) -> None:
        self._snapshot: Snapshot = EMPTY_SNAPSHOT
        self._cond = threading.Condition()
        self._streams: list[EventStream] = []
        self._streams_lock = threading.Lock()
        self._watchers = 0
        self._glanced_until = 0.0
        self._watch_lock = threading.Lock()
        self.on_watched = on_watched
        """Called (on the watcher's thread; it must be quick) when the first watcher
        comes: the engine loop polls at ``engine.snapshot_hz`` again at once."""

    @property
    def watched(self) -> bool:
        """Someone waits for a new snapshot (a ``wait_for`` caller), said it watches
        (:meth:`watch`: the API server while a client is subscribed), or read the
        snapshot through a polling interface within :data:`GLANCE_LEASE` seconds
        (:meth:`glance`: the qBittorrent API)."""
        return self._watchers > 0 or time.monotonic() < self._glanced_until

    def glance(self, lease: float = GLANCE_LEASE) -> None:
        """A reader that polls (an HTTP client asking again every few seconds) counts
        as a watcher for ``lease`` seconds from now: its next read sees the present."""
        with self._watch_lock:
            first = not self.watched
            self._glanced_until = time.monotonic() + lease
        if first and self.on_watched is not None:
            self.on_watched()

    def watch(self, on: bool) -> None:
        """One watcher more (``on``) or fewer; counted, so each ``True`` needs a ``False``."""
        with self._watch_lock:
            first = on and self._watchers == 0
            self._watchers = max(0, self._watchers + (1 if on else -1))
        if first and self.on_watched is not None:
            self.on_watched()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def publish(self, snapshot: Snapshot) -> None:
        """Replace the snapshot (one reference swap) and wake every waiter."""
        with self._cond:
            self._snapshot = snapshot
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake waiters without a new snapshot (so they re-check ``stopped``)."""
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float,
                 stopped: Callable[[], str | None]) -> Snapshot:
        """Block until a snapshot satisfies ``predicate``.

        Raises:
            TimeoutError: not within ``timeout`` seconds.
            EngineStoppedError: ``stopped()`` returned a reason.
        """
        deadline = time.monotonic() + timeout
        snap = self._snapshot
        if predicate(snap):
            return snap
        self.watch(True)  # a waiter watches: snapshots come at snapshot_hz meanwhile
        try:
            with self._cond:
                while True:
                    snap = self._snapshot
                    if predicate(snap):
                        return snap
                    reason = stopped()
                    if reason:
                        raise EngineStoppedError(reason)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"condition not met within {timeout} s")
                    self._cond.wait(min(left, 0.5))
        finally:
            self.watch(False)

    def subscribe(self, maxsize: int = 10_000) -> EventStream:
        """A new ordered stream of events from now on."""
        stream = EventStream(maxsize)
        with self._streams_lock:
            self._streams.append(stream)
        return stream

    def unsubscribe(self, stream: EventStream) -> None:
        stream.closed = True
        with self._streams_lock:
            if stream in self._streams:
                self._streams.remove(stream)

    def deliver(self, event: Event) -> None:
        with self._streams_lock:
            streams = list(self._streams)
        for s in streams:
            s._put(event)

    def close_streams(self) -> None:
        with self._streams_lock:
            for s in self._streams:
                s.closed = True
