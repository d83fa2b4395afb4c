"""The watcher: restarts a node's parts that die, with back-off, and says so.

A node's parts (the sites thread, the Smart Proxy, tor, the qBittorrent API, and any part
handed in, such as the comment server) each offer the small :class:`Part` shape: a
``name``, ``alive()``, ``restart()`` and ``failure`` (why it died). One thread
(``tidegate-watch-parts``) looks at every part when one says it died (a part with an
``on_exit`` attribute gets :meth:`Supervisor.nudge` there, engine/part_bell.py), and
besides each :data:`CHECK_QUIET` seconds while every part can say so, each
:data:`CHECK_IDLE` while one cannot, each :data:`CHECK_EVERY` while one waits for its
restart. A part
found dead while it should run is restarted after a delay that doubles from
:data:`FIRST_DELAY` up to :data:`MAX_DELAY` while it keeps dying, and starts again from
the first delay once it has stayed up :data:`STABLE_AFTER` seconds. Each death is a
:class:`~engine.events.PartFailed` event, each restart a
:class:`~engine.events.PartRestarted`, and every part's :class:`~engine.state.PartState`
is in the snapshots (``Snapshot.parts``). A part that keeps dying is still retried at the
ceiling and shows ``failed``; it never takes the node down.

The torrent engine is the one part not restarted in place (docs/watcher.md): its
``restart()`` (:class:`EnginePart`) asks the daemon to exit with a non-zero status, which
systemd's ``Restart=on-failure`` turns into a whole new daemon.

The policy (:meth:`Supervisor.check`) takes the time as an argument, so tests drive it
with a clock of their own; :meth:`Supervisor.start` runs it on the thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .events import Event, Log, PartFailed, PartRestarted
from .state import PartState

CHECK_EVERY = 0.5
"""Seconds between two looks at the parts while one is dead (its restart is due soon)."""
CHECK_IDLE = 5.0
"""Seconds between two looks while every part runs: a death is seen within this, then
restarted after :data:`FIRST_DELAY` (an idle daemon wakes for it 0.2 times a second,
not twice; issue 27)."""
CHECK_QUIET = 60.0
"""Seconds between two looks while all run and every part rings when it dies (a safety
net: the ring is what is relied on)."""
RUNG_LOOKS = 2.0
"""Seconds of looks every :data:`CHECK_EVERY` after a ring (the ring comes from the dying
thread itself, which may still count as alive for a moment)."""
FIRST_DELAY = 1.0
"""Seconds before the first restart of a part that died."""
MAX_DELAY = 60.0
"""The back-off ceiling: a part that keeps dying is restarted this often."""
STABLE_AFTER = 300.0
"""A part up this long since its last restart starts its back-off again from the first
delay."""
MAX_FAILURE = 300
"""Characters of a failure kept (events and snapshots stay small)."""


class Part(Protocol):
    """What the watcher asks of a part."""

    @property
    def name(self) -> str: ...

    @property
    def failure(self) -> str:
        """Why it died last ("" if unknown)."""
        ...

    def alive(self) -> bool:
        """False when it died while it should run (not when stopped on purpose)."""
        ...

    def restart(self) -> None:
        """Clear what is left of it and start it again with the same wiring (may raise:
        the watcher then tries again later)."""
        ...


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``first`` doubling per death in a row up to ``ceiling``; a run of
    ``stable`` seconds forgets the deaths before it."""

    first: float = FIRST_DELAY
    ceiling: float = MAX_DELAY
    stable: float = STABLE_AFTER

    def delay(self, attempt: int) -> float:
        """The delay before restart number ``attempt`` of a row (1, 2, ...)."""
        return min(self.ceiling, self.first * 2.0 ** min(max(attempt - 1, 0), 62))


@dataclass
class _Watched:
    part: Part
    restarts: int = 0
    attempt: int = 0
    """Deaths in a row (reset after a stable run)."""
    up_since: float = 0.0
    retry_at: float | None = None
    """Monotonic time of the next restart while dead; None while running."""
    retry_wall: float = 0.0
    """The same as wall-clock time (fixed at the death: states do not jitter)."""
    failure: str = ""
    history: list[float] = field(default_factory=list)


class Supervisor:
    """Watch ``parts``; hand their states to ``publish`` and events to ``emit``.

    Args:
        parts: the parts to watch (more may be added with :meth:`add` before start).
        publish: receives every part's state when one changed (``Engine.set_parts``).
        emit: receives the events (``Engine.post_event``).
        backoff: the restart delays.
        clock: monotonic seconds (for :meth:`check`'s callers that pass none).
        wall: wall-clock seconds, for ``PartState.retry_at``.
    """

    def __init__(self, parts: Sequence[Part], publish: Callable[[dict[str, PartState]], object],
                 emit: Callable[[Event], object], *, backoff: Backoff = Backoff(),
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.backoff = backoff
        self._publish = publish
        self._emit = emit
        self._clock = clock
        self._wall = wall
        self._watched: dict[str, _Watched] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._nudge = threading.Event()
        self._rung_at = float("-inf")
        self._thread: threading.Thread | None = None
        self._published: dict[str, PartState] | None = None
        now = clock()
        for part in parts:
            self.add(part, now)

    def add(self, part: Part, now: float | None = None) -> None:
        """Watch one more part (a name already watched is replaced)."""
        with self._lock:
            self._watched[part.name] = _Watched(part, up_since=self._clock() if now is None
                                                else now)
            if hasattr(part, "on_exit"):
                part.on_exit = self.nudge

    def nudge(self) -> None:
        """A part says it died (any thread): look at the parts now."""
        self._rung_at = self._clock()
        self._nudge.set()

    # ------------------------------------------------------------------ the thread

    def start(self) -> Supervisor:
        self._thread = threading.Thread(target=self._run, name="tidegate-watch-parts",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching (before the node stops its parts on purpose)."""
        self._stop.set()
        self._nudge.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        self._report()
        while True:
            self._nudge.wait(self.check_every())
            self._nudge.clear()
            if self._stop.is_set():
                return
            try:
                self.check(self._clock())
            except Exception as exc:  # the watcher must not die of a part's fault
                self._say(Log(level="error", message=f"watcher: {exc!r}"[:MAX_FAILURE]))

    # ------------------------------------------------------------------ the policy

    def check_every(self) -> float:
        """Seconds to the next look (unless a part rings first): :data:`CHECK_EVERY`
        while a part waits for its restart or just rang, :data:`CHECK_IDLE` while all run
        and one cannot ring, :data:`CHECK_QUIET` while all run and every one can."""
        with self._lock:
            waiting = any(w.retry_at is not None for w in self._watched.values())
            silent = any(not hasattr(w.part, "on_exit") for w in self._watched.values())
        if waiting or self._clock() - self._rung_at < RUNG_LOOKS:
            return CHECK_EVERY
        return CHECK_IDLE if silent else CHECK_QUIET

    def check(self, now: float) -> None:
        """Look at every part once at monotonic time ``now``: note deaths, restart the
        parts whose delay is over, publish what changed."""
        with self._lock:
            watched = list(self._watched.values())
        for w in watched:
            if self._stop.is_set():
                return
            if w.retry_at is None:
                if not self._alive(w):
                    self._died(w, now, self._failure(w.part))
            elif now >= w.retry_at:
                self._restart(w, now)
        self._report()

    def _alive(self, w: _Watched) -> bool:
        try:
            return bool(w.part.alive())
        except Exception as exc:
            w.failure = f"cannot tell whether it runs: {exc!r}"
            return False

    @staticmethod
    def _failure(part: Part) -> str:
        try:
            text = str(part.failure or "")
        except Exception as exc:
            text = f"failure unreadable: {exc!r}"
        return (text or "it stopped").replace("\n", " ")[:MAX_FAILURE]

    def _died(self, w: _Watched, now: float, why: str) -> None:
        if now - w.up_since >= self.backoff.stable:
            w.attempt = 0
        w.attempt += 1
        delay = self.backoff.delay(w.attempt)
        w.retry_at = now + delay
        w.retry_wall = round(self._wall() + delay, 1)
        w.failure = why
        w.history.append(delay)
        del w.history[:-64]
        self._say(PartFailed(part=w.part.name, why=why, attempt=w.attempt, retry_in=delay))

    def _restart(self, w: _Watched, now: float) -> None:
        try:
            w.part.restart()
        except Exception as exc:  # it died again at once: the next, longer delay
            self._died(w, now, f"restart failed: {exc!r}"[:MAX_FAILURE])
            return
        w.retry_at = None
        w.up_since = now
        w.restarts += 1
        self._say(PartRestarted(part=w.part.name, why=w.failure, attempt=w.attempt))

    def delays(self, name: str) -> list[float]:
        """The delays chosen for ``name``'s deaths, oldest first (the last 64)."""
        with self._lock:
            return list(self._watched[name].history)

    def states(self) -> dict[str, PartState]:
        """Every part's state now."""
        with self._lock:
            watched = list(self._watched.values())
        out = {}
        for w in watched:
            if w.retry_at is None:
                status, retry_at = "running", 0.0
            else:
                at_ceiling = self.backoff.delay(w.attempt) >= self.backoff.ceiling
                status = "failed" if at_ceiling else "restarting"
                retry_at = w.retry_wall
            out[w.part.name] = PartState(name=w.part.name, status=status,
                                         restarts=w.restarts, failure=w.failure,
                                         retry_at=retry_at)
        return out

    def _report(self) -> None:
        states = self.states()
        if states != self._published:
            self._published = states
            with contextlib.suppress(Exception):
                self._publish(states)

    def _say(self, event: Event) -> None:
        with contextlib.suppress(Exception):
            self._emit(event)


class EnginePart:
    """The torrent engine as a part: it is not restarted in place (docs/watcher.md);
    ``restart()`` calls ``on_fatal`` (the daemon exits non-zero and systemd starts a new
    one). It reads ``engine.crash`` (the engine thread's exception, None while it runs)
    and hangs the watcher's nudge on ``engine.on_exit`` (its thread rings at its end)."""

    name = "engine"

    def __init__(self, engine: Any, on_fatal: Callable[[str], None]) -> None:
        self._engine = engine
        self._on_fatal = on_fatal

    @property
    def on_exit(self) -> Callable[[], object] | None:
        return getattr(self._engine, "on_exit", None)

    @on_exit.setter
    def on_exit(self, bell: Callable[[], object] | None) -> None:
        self._engine.on_exit = bell

    @property
    def failure(self) -> str:
        crash = self._engine.crash
        return f"the engine thread crashed: {crash!r}" if crash is not None else ""

    def alive(self) -> bool:
        return self._engine.crash is None

    def restart(self) -> None:
        self._on_fatal(self.failure)
