"""The client's copy of a daemon's state, sans-IO: values in, actions out.

:class:`~engine.api.client.RemoteEngine` keeps a replica of the daemon's snapshot by
ZeroMQ's "clone" pattern. The rules of that pattern live here, apart from the sockets,
the thread and the clock, so they can be read in one place and tested with plain values
(as h11's ``_state.py`` keeps HTTP's rules apart from its IO):

* ``hello`` first; its reply names the PUB endpoint (:class:`Subscribe`) and, for a new
  daemon (``epoch``) or after a disconnection, asks for a full snapshot.
* A full snapshot replaces what we hold; deltas buffered while it was on its way are
  applied on top of it if they follow it.
* A delta whose ``base`` is the held seq is applied; a later one that does not follow
  (a gap) asks for a new full snapshot; an older one is ignored.
* A gap in event seqs (in an event or a beat) becomes one ``EventsLost`` (:class:`LoseEvents`).
* A publication from another epoch means a new daemon: ``hello`` again.
* Publications missing for ``liveness`` seconds, or the connection closing, mean the daemon
  is gone; while gone, ``hello`` every :data:`PROBE_INTERVAL` seconds.

Inputs are method calls with values: a parsed publication, a reply to a request the
replica asked for, the current ``time.monotonic()`` (every input that needs time takes
``now``), a connection up/down notice. Each returns the actions the caller must carry out,
in order: frozen values, below. The caller reports each :class:`Send` it managed to send
with :meth:`Replica.sent`, before feeding the next input.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from types import MappingProxyType

import msgspec

from ..events import Event
from ..state import EMPTY_SNAPSHOT, Snapshot
from . import protocol as p

LIVENESS = 3.5
"""Seconds without any publication (beats come every second) before the daemon counts as gone."""
PROBE_INTERVAL = 0.5
"""Seconds between ``hello`` attempts while disconnected."""
MAX_BUFFERED = 64
"""Deltas kept while a resync is in flight."""


# ---------------------------------------------------------------- actions out

@dataclass(frozen=True, slots=True)
class Send:
    """Send the request ``cmd`` (``hello`` or ``snapshot``, no arguments); tell the
    replica its id with :meth:`Replica.sent` if it went out."""

    cmd: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Read publications from ``publish``, the endpoint the daemon's PUB socket bound."""

    publish: str


@dataclass(frozen=True, slots=True)
class Publish:
    """Make ``snapshot`` the newest state."""

    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class Deliver:
    """Deliver ``event`` to the subscribers."""

    event: Event


@dataclass(frozen=True, slots=True)
class LoseEvents:
    """Tell the subscribers ``count`` events up to ``seq`` were lost (one ``EventsLost``)."""

    seq: int
    count: int


@dataclass(frozen=True, slots=True)
class Report:
    """The connection state changed (a ``DaemonConnection`` event). Connected is
    reported once, when the first full snapshot after a disconnection is held."""

    connected: bool
    message: str = ""


Action = Send | Subscribe | Publish | Deliver | LoseEvents | Report


# ---------------------------------------------------------------- the state machine

class Replica:
    """The clone pattern's rules for one daemon connection.

    Args:
        liveness: seconds without a publication before the daemon counts as gone.
        request_timeout: seconds a ``hello`` or ``snapshot`` request may stay unanswered.
        counters: where ``resyncs``, ``events_lost``, ``disconnects`` and ``bad_replies``
            are counted (the client's diagnostics); a new Counter when None.
    """

    def __init__(self, *, liveness: float = LIVENESS, request_timeout: float = 5.0,
                 counters: collections.Counter[str] | None = None):
        self.liveness = liveness
        self.request_timeout = request_timeout
        self.counters: collections.Counter[str] = (
            collections.Counter() if counters is None else counters)
        self.snapshot: Snapshot = EMPTY_SNAPSHOT
        """The newest snapshot held (the last one published)."""
        self.epoch: str | None = None
        """The epoch of the daemon the snapshot came from."""
        self.daemon_pid: int | None = None
        self.connected = False
        """A full snapshot is held and the daemon has not gone since."""
        self.resyncing = False
        """A ``snapshot`` request is in flight: deltas are buffered, not applied."""
        self.event_seq = 0
        """The newest event seq delivered or reported lost."""
        self._buffered: list[p.Delta] = []
        self._requests: dict[int, tuple[str, float]] = {}
        """Our requests in flight: id -> (command, deadline)."""
        self._last_heard = 0.0
        self._next_probe = 0.0

    # ------------------------------------------------------------ requests

    def sent(self, rid: int, cmd: str, now: float) -> None:
        """The request of a :class:`Send` went out with id ``rid``."""
        self._requests[rid] = (cmd, now + self.request_timeout)
        if cmd == "snapshot":
            self.resyncing = True

    def awaits(self, rid: int | None) -> bool:
        """True if ``rid`` is one of the replica's requests (its reply goes to :meth:`reply`)."""
        return rid in self._requests

    def reply(self, reply: p.Reply, now: float) -> list[Action]:
        """The daemon answered a ``hello`` or a ``snapshot`` (``awaits(reply.id)``)."""
        cmd, _deadline = self._requests.pop(reply.id or 0)
        try:
            result = p.result_of(cmd, reply)
        except Exception:  # whatever the daemon sent, the next beat or probe asks again
            self.counters["bad_replies"] += 1
            if cmd == "snapshot":
                self.resyncing = False
            return []
        if isinstance(result, p.Hello):
            self.daemon_pid = result.pid
            self._last_heard = now
            actions: list[Action] = [Subscribe(result.publish)]
            if result.epoch != self.epoch or not self.connected:
                actions.append(Send("snapshot"))
            return actions
        if isinstance(result, p.FullSnapshot):
            return self._full(result, now)
        return []

    def _full(self, full: p.FullSnapshot, now: float) -> list[Action]:
        was_connected = self.connected
        if full.epoch != self.epoch:
            self.event_seq = full.event_seq
        # Same daemon: events up to full.event_seq may still be in flight on the SUB
        # socket; real losses show as gaps in later events or beats.
        self.epoch = full.epoch
        snap = full.snapshot
        snap = msgspec.structs.replace(snap, torrents=MappingProxyType(dict(snap.torrents)))
        for d in sorted(self._buffered, key=lambda d: d.seq):
            if d.epoch == self.epoch and d.base == snap.seq:
                snap = applied(snap, d)
        self._buffered.clear()
        self.resyncing = False
        self.connected = True
        self._last_heard = now
        self.counters["resyncs"] += 1
        actions: list[Action] = [self._publish(snap)]
        if not was_connected:
            actions.append(Report(connected=True))
        return actions

    # ------------------------------------------------------------ publications

    def heard(self, now: float) -> None:
        """Something arrived on the SUB socket, even an unreadable publication."""
        self._last_heard = now

    def publication(self, pub: p.Publication, now: float) -> list[Action]:
        """A parsed publication: a delta, an event or a beat."""
        self._last_heard = now
        if pub.epoch != self.epoch:  # a new daemon: hello (then a full snapshot)
            return [] if self.resyncing else [Send("hello")]
        if isinstance(pub, p.Delta):
            return self._delta(pub)
        if isinstance(pub, p.EventFrame):
            return self._event(pub.event)
        return self._beat(pub)

    def _delta(self, delta: p.Delta) -> list[Action]:
        if self.resyncing:
            if len(self._buffered) < MAX_BUFFERED:
                self._buffered.append(delta)
            return []
        if delta.base == self.snapshot.seq:
            return [self._publish(applied(self.snapshot, delta))]
        if delta.seq > self.snapshot.seq:  # missed one: start again from a full snapshot
            self._buffered.append(delta)
            return [Send("snapshot")]
        return []  # older than what we hold

    def _event(self, event: Event) -> list[Action]:
        if event.seq <= self.event_seq:
            return []
        actions: list[Action] = []
        if event.seq > self.event_seq + 1:
            actions.append(self._lose(event.seq - self.event_seq - 1, event.seq))
        self.event_seq = event.seq
        actions.append(Deliver(event))
        return actions

    def _beat(self, beat: p.Beat) -> list[Action]:
        actions: list[Action] = []
        if beat.event_seq > self.event_seq:
            actions.append(self._lose(beat.event_seq - self.event_seq, beat.event_seq))
            self.event_seq = beat.event_seq
        if beat.snapshot_seq > self.snapshot.seq and not self.resyncing:
            actions.append(Send("snapshot"))
        return actions

    def _lose(self, count: int, seq: int) -> LoseEvents:
        self.counters["events_lost"] += count
        return LoseEvents(seq=seq, count=count)

    def _publish(self, snap: Snapshot) -> Publish:
        self.snapshot = snap
        return Publish(snap)

    # ------------------------------------------------------------ time and connection

    def gone(self, now: float) -> str | None:
        """Why the daemon counts as gone at ``now`` (publications stopped), or None.

        The caller reads the replies already received, then calls :meth:`connection_down`.
        """
        if self.connected and now - self._last_heard > self.liveness:
            return f"no heartbeat from the daemon for {self.liveness:g} s"
        return None

    def tick(self, now: float) -> list[Action]:
        """Time passed: give up on unanswered requests; say ``hello`` while disconnected."""
        for rid in [rid for rid, (_c, dl) in self._requests.items() if dl <= now]:
            cmd, _dl = self._requests.pop(rid)
            if cmd == "snapshot":
                self.resyncing = False  # the next beat or delta asks again
        if not self.connected and now >= self._next_probe:
            self._next_probe = now + PROBE_INTERVAL
            self._requests.clear()
            self.resyncing = False
            return [Send("hello")]
        return []

    def next_tick(self, now: float) -> float:
        """The ``time.monotonic()`` by which :meth:`tick` (and :meth:`gone`) must run."""
        waits = [dl for _c, dl in self._requests.values()]
        waits.append(self._next_probe if not self.connected else now + 0.5)
        if self.connected:
            waits.append(self._last_heard + self.liveness)
        return min(waits)

    def connection_up(self) -> None:
        """A connection to the daemon was made: say ``hello`` at the next tick."""
        self._next_probe = 0.0

    def connection_down(self, why: str, now: float) -> list[Action]:
        """The connection closed, or :meth:`gone` said so: the daemon is gone."""
        if not self.connected:
            return []
        self.connected = False
        self.counters["disconnects"] += 1
        self._next_probe = now + PROBE_INTERVAL
        return [self._publish(msgspec.structs.replace(self.snapshot, running=False)),
                Report(connected=False, message=why)]


def applied(snap: Snapshot, delta: p.Delta) -> Snapshot:
    """``snap`` with ``delta`` applied; unchanged parts stay the same objects."""
    torrents = snap.torrents  # kept as the same object when no torrent changed
    if delta.changed or delta.removed:
        torrents = MappingProxyType(p.apply(snap, delta))
    sites = snap.sites
    if delta.sites is not None:
        sites = MappingProxyType({s.address: s for s in delta.sites})
    web = snap.web if delta.web is None else delta.web
    tor = snap.tor if delta.tor is None else delta.tor
    categories = snap.categories
    if delta.categories is not None:
        categories = MappingProxyType({c.name: c for c in delta.categories})
    parts = snap.parts
    if delta.parts is not None:
        parts = MappingProxyType({part.name: part for part in delta.parts})
    return Snapshot(seq=delta.seq, time=delta.time, torrents=torrents, stats=delta.stats,
                    running=delta.running, sites=sites, web=web, tor=tor,
                    categories=categories, parts=parts)
