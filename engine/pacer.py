"""When the engine loop asks libtorrent for status: at ``engine.snapshot_hz`` while anything
moves or anyone watches, less and less often while nothing does (issue 27).

Each status poll (``post_torrent_updates`` and ``post_session_stats``) wakes the engine
thread three times (the timer, then the two alerts it brings) and decodes hundreds of
session counters in Python: 4 Hz of that was most of an idle daemon's CPU. The rules,
over plain values and the time passed in (no clock, no libtorrent):

* A poll whose answers show nothing new (no torrent in the state update, the session
  numbers the same but for free disk space) while no one watches makes the time to the
  next poll :data:`BACKOFF` times longer, from ``1 / snapshot_hz`` up to :data:`IDLE_MAX`
  (0.25, 1, 4, 16, 30 s). Backed off, a poll asks
  for the session's numbers only every :data:`IDLE_STATS` seconds (their decoding was
  most of an idle poll's cost); a torrent's traffic shows in its own status anyway.
* Anything else is activity and brings the period back to ``1 / snapshot_hz`` at once, with
  a poll right away when the loop was backed off: any other alert, a command, a poll that
  showed a change, work that waits on time (DHT requests, file reads, resume saves), and
  a watcher: a ``wait_for`` caller (the TUI's bridge, a test, a CLI waiting) or an API
  client subscribed to the daemon's publications (:meth:`StateBoard.watch`), or a client
  of the qBittorrent API within the last few seconds (:meth:`StateBoard.glance`).

So a user who watches sees rates and progress at ``snapshot_hz`` exactly as before, and a
state change (libtorrent alerts it) within one period; a daemon nobody watches polls every
:data:`IDLE_MAX` seconds, which bounds how stale an unwatched snapshot can be.
"""

from __future__ import annotations

IDLE_MAX = 30.0
"""Seconds between status polls at most, once nothing changed for a while and no one
watches: how late an unwatched snapshot may show a transfer that started without any
alert (a peer that connects to a seed and downloads). Nobody sees that snapshot but the
engine's own share limits (a seed's ratio moves only once it uploads, and the first poll
that shows the upload brings ``snapshot_hz`` back); every reader is a watcher and brings
the present at once. Each idle poll wakes the engine thread twice (~0.2 ms of CPU): 5 s
cost ~0.009 % of a core, 30 s ~0.0015 % (issue 27)."""
SLOW_TICK_EVERY = 5.0
"""libtorrent's idle tick (``engine.idle_tick_interval_ms``) starts once the polls are
this far apart or more (:attr:`Pacer.slow`): after ~5 s with nothing new."""


BACKOFF = 4.0
"""Each quiet poll makes the next this many times further away."""
IDLE_STATS = 30.0
"""Seconds between session stats (``post_session_stats``) while backed off: the polls
between ask only for the torrents' status."""


class Pacer:
    """The status poll's schedule.

    Args:
        period: seconds between polls while anything moves (``1 / engine.snapshot_hz``).
        idle_max: seconds between polls at most while nothing does.
    """

    def __init__(self, period: float, idle_max: float = IDLE_MAX):
        self.period = period
        self.idle_max = max(period, idle_max)
        self.every = period
        """Seconds from one poll to the next, now."""
        self.last_poll = float("-inf")
        self.polls = 0

    @property
    def next_poll(self) -> float:
        """The ``time.monotonic()`` of the next poll."""
        return self.last_poll + self.every

    @property
    def idle(self) -> bool:
        """Backed off: polling slower than ``snapshot_hz``."""
        return self.every > self.period

    @property
    def slow(self) -> bool:
        """Backed off far enough for libtorrent's idle tick (:data:`SLOW_TICK_EVERY`)."""
        return self.every >= min(self.idle_max, SLOW_TICK_EVERY)

    def due(self, now: float) -> bool:
        return now >= self.next_poll

    def polled(self, now: float) -> None:
        """A poll was asked for at ``now``."""
        self.last_poll = now
        self.polls += 1

    def active(self, now: float) -> None:
        """Something happened or someone watches: ``snapshot_hz`` again, and a poll at
        once if the loop was backed off (the watcher sees the present, not a snapshot up
        to :data:`IDLE_MAX` old)."""
        if self.every > self.period:
            self.every = self.period
            self.last_poll = min(self.last_poll, now - self.period)

    def quiet(self) -> None:
        """A poll's answers showed nothing new, and no one watches: back off."""
        self.every = min(self.every * BACKOFF, self.idle_max)
