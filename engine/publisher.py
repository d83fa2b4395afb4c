"""What leaves the engine thread: snapshots, events, and the wake-ups of listeners.

:class:`Publisher` is the part of the Engine that owns its outputs: the
:class:`~engine.board.StateBoard` (newest snapshot, event streams), the engine-wide event
seq, the listeners woken after every publication (the API server), and the states the
services hand in (sites, Smart Proxy, tor) that every snapshot carries. It runs on the
engine thread; only :meth:`snapshot`, :meth:`wait_for` and the subscriptions are for
other threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import MappingProxyType
from typing import TYPE_CHECKING

import msgspec

from .board import StateBoard
from .events import Event, EventStream
from .state import PartState, SiteState, Snapshot, TorState, WebState

if TYPE_CHECKING:
    from .torrents.manager import TorrentManager


class Publisher:
    """The engine's snapshots and events, and who is told of them."""

    def __init__(self, tor: TorState):
        self.board = StateBoard()
        self.event_seq = 0
        """The seq of the newest event emitted."""
        self._listeners: list[Callable[[], None]] = []
        self.sites: MappingProxyType[str, SiteState] = MappingProxyType({})
        """The sites' states, as the sites thread last handed them in."""
        self.web = WebState()
        self.tor = tor
        self.parts: MappingProxyType[str, PartState] = MappingProxyType({})
        """The supervised parts, as the watcher last handed them in."""

    @property
    def snapshot(self) -> Snapshot:
        return self.board.snapshot

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float,
                 stopped: Callable[[], str | None]) -> Snapshot:
        return self.board.wait_for(predicate, timeout, stopped)

    def subscribe(self, maxsize: int) -> EventStream:
        return self.board.subscribe(maxsize)

    def unsubscribe(self, stream: EventStream) -> None:
        self.board.unsubscribe(stream)

    def add_listener(self, wake: Callable[[], None]) -> None:
        self._listeners.append(wake)

    def remove_listener(self, wake: Callable[[], None]) -> None:
        if wake in self._listeners:
            self._listeners.remove(wake)

    def notify(self) -> None:
        for wake in list(self._listeners):
            try:
                wake()
            except Exception:  # a listener must never take the engine down
                pass

    def emit(self, event: Event) -> None:
        """Stamp ``event`` with the next seq and the time, deliver it, wake listeners."""
        self.event_seq += 1
        stamped = msgspec.structs.replace(event, seq=self.event_seq, time=time.time())
        self.board.deliver(stamped)
        self.notify()

    def publish(self, m: TorrentManager) -> None:
        """A new snapshot of the torrents ``m`` holds and of the services' states."""
        m.dirty = False
        old = self.board.snapshot
        torrents = old.torrents
        if m.torrents_changed or not old.running:
            # A new mapping only when a torrent changed: frontends and the API server
            # skip their per-torrent work when it is the same object as last time.
            torrents = MappingProxyType(
                {tid: t.state for tid, t in m.torrents.items() if t.state is not None})
            m.torrents_changed = False
        self.board.publish(Snapshot(seq=old.seq + 1, time=time.time(), torrents=torrents,
                                    stats=m.stats, sites=self.sites, web=self.web,
                                    tor=self.tor, categories=m.labels.categories,
                                    parts=self.parts))
        self.notify()

    def publish_stopped(self, mode: str) -> None:
        """The last snapshot: not running, no proxy, no tor."""
        old = self.board.snapshot
        self.board.publish(Snapshot(seq=old.seq + 1, time=time.time(), torrents=old.torrents,
                                    stats=old.stats, running=False, sites=old.sites,
                                    web=WebState(), tor=TorState(mode=mode),
                                    categories=old.categories, parts=old.parts))
        self.notify()
