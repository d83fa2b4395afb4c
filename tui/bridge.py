"""The thin bridge from an engine to the app: two plain threads, no polling loop.

One thread blocks in ``engine.wait_for`` until a snapshot newer than the last
one exists and posts :class:`SnapshotChanged`; the other blocks on the event
stream, takes whatever else is waiting with it, keeps the kinds the app notifies
about (:func:`tui.notices.notified`) and posts them as one :class:`EngineEvents`:
a burst of 10,000 events is one message, or none. Both work for the embedded
:class:`engine.Engine` and for a daemon's :class:`engine.api.RemoteEngine`.
"""

from __future__ import annotations

import threading
from functools import partial

from textual.message_pump import MessagePump

from tidegate.engine.errors import EngineStoppedError
from tidegate.engine.interface import EngineAPI
from tidegate.engine.state import Snapshot

from .messages import EngineEvents, EngineGone, SnapshotChanged
from .notices import notified

WAIT = 0.5
"""Seconds each blocking wait lasts before the thread checks that it should go on."""


class EngineBridge:
    """Feeds one engine's snapshots and events to ``target`` until :meth:`stop`."""

    def __init__(self, engine: EngineAPI, target: MessagePump) -> None:
        self.engine = engine
        self.target = target
        self._stop = threading.Event()
        self._stream = engine.subscribe(maxsize=10_000)
        self._threads = [
            threading.Thread(target=self._snapshots, name="tui-snapshots", daemon=True),
            threading.Thread(target=self._events, name="tui-events", daemon=True),
        ]

    def start(self) -> EngineBridge:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.engine.unsubscribe(self._stream)
        for t in self._threads:
            t.join(2 * WAIT + 1)

    def _snapshots(self) -> None:
        last: Snapshot | None = None
        while not self._stop.is_set():
            try:
                snap = self.engine.wait_for(partial(_is_new, last), WAIT)
            except TimeoutError:
                continue
            except EngineStoppedError as exc:
                self.target.post_message(EngineGone(str(exc)))
                return
            last = snap
            self.target.post_message(SnapshotChanged(snap))

    def _events(self) -> None:
        while not self._stop.is_set():
            first = self._stream.get(timeout=WAIT)
            if first is None:
                continue
            wanted = [e for e in (first, *self._stream.drain()) if notified(e)]
            if wanted:
                self.target.post_message(EngineEvents(wanted))


def _is_new(last: Snapshot | None, snap: Snapshot) -> bool:
    return snap is not last
