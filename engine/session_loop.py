"""The engine thread's body: the libtorrent session's whole life on one thread.

:class:`SessionLoop` makes the session and the :class:`~engine.torrents.manager.TorrentManager`,
restores torrents, then sleeps in ``select`` on libtorrent's alert notification and the
command channel's wake-up, runs posted commands, hands alerts to the manager, asks for
status updates at ``engine.snapshot_hz`` while anything moves or anyone watches and less
often while nothing does (:mod:`engine.pacer`), and does the periodic work (resume saves,
share limits, disk retries, pinned DHT nodes). On stop it refuses commands, saves every
torrent's resume data and drops the session before the notification socket closes.

The :class:`~engine.engine.Engine` owns one and is its only caller: it starts the thread
on :meth:`SessionLoop.run` and reads ``ready``, ``startup_error`` and ``crash``.
"""

from __future__ import annotations

import collections
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any

import libtorrent as lt

from .channel import DEFERRED, CommandChannel
from .config import Config
from .errors import EngineError, EngineStoppedError, TidegateError
from .events import Log
from .pacer import IDLE_STATS, Pacer
from .publisher import Publisher
from .schedule import SpeedSchedule, in_force
from .torrents import session as lt_session
from .torrents.manager import TorrentManager
from .torrents.resume import ResumeStore
from .waker import drain


class SessionLoop:
    """The engine thread's state and body (one per Engine).

    Args:
        config: the configuration (replaced by :meth:`Engine.apply_config`).
        state_dir, download_dir, restore: as the Engine's.
        channel: commands posted to the thread.
        out: where snapshots and events go.
        dht_pinned: DHT nodes re-added whenever the routing table runs low.
        clock: local wall time, for the speed schedule (injected by tests).
    """

    def __init__(self, config: Config, state_dir: Path, download_dir: Path, restore: bool,
                 channel: CommandChannel, out: Publisher, dht_pinned: list[tuple[str, int]],
                 clock: Callable[[], datetime] = datetime.now):
        self.config = config
        self.clock = clock
        self.turtle = SpeedSchedule(config.schedule.windows)
        """Turtle mode: the schedule and a switch by hand (:mod:`engine.schedule`)."""
        self._alt_on = False
        """Whether the alternative limits are what libtorrent has now."""
        self._slow_tick = False
        """Whether libtorrent ticks at ``engine.idle_tick_interval_ms`` now."""
        self.state_dir = state_dir
        self.download_dir = download_dir
        self.restore = restore
        self.channel = channel
        self.out = out
        self.dht_pinned = dht_pinned
        self.manager: TorrentManager | None = None
        """The torrents (None before the session exists and after it is gone)."""
        self.ready = threading.Event()
        """Set once the session listens (or the start failed)."""
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self.save_on_stop = True
        self.startup_error: BaseException | None = None
        self.crash: BaseException | None = None
        """Set if the thread died of an unexpected exception."""
        self.save_waiters: list[Future[None]] = []
        """save_resume_data() callers, resolved when no save is outstanding."""
        self.pacer: Pacer | None = None
        """When status is polled (:mod:`engine.pacer`); made when the loop starts."""
        self.counters: collections.Counter[str] = collections.Counter()
        """The loop's own numbers: ``wakeups`` (returns from ``select``), ``polls`` (status
        polls asked), ``jobs`` (runs of the once-a-second jobs), ``alert:<type>`` (alerts
        that ended a back-off). Bounded: a key per alert type at most."""
        out.board.on_watched = self._on_watched

    def run(self) -> None:
        """The thread's body: make the session, loop until stopped, shut down."""
        alert_r, alert_w = socket.socketpair()
        alert_r.setblocking(False)
        sel = selectors.DefaultSelector()
        store: ResumeStore | None = None
        try:
            try:
                ses = lt_session.make_session(self.config)
                ses.set_alert_fd(alert_w.fileno())
                store = ResumeStore(self.state_dir, self.config.limits,
                                    on_written=self.channel.waker.wake)
                m = TorrentManager(ses, self.config, store, self.download_dir, self.out.emit)
                self.manager = m
                self.apply_schedule(m)  # turtle mode from the start, if the schedule says
                for node in self.dht_pinned:
                    ses.add_dht_node(node)
                self._wait_listening(ses, m)
                if self.restore:
                    m.begin_restore()  # loaded by the loop, a slice at a time
            except TidegateError as exc:
                self.startup_error = exc
                self.ready.set()
                return
            sel.register(alert_r, selectors.EVENT_READ)
            sel.register(self.channel.waker.reader, selectors.EVENT_READ)
            self.ready.set()
            self._loop(ses, m, sel, alert_r)
            self._shutdown(ses, m)
            # Drop every reference so the session is destroyed (and its alert
            # notifications end) before the notification socket closes.
            m.ses = None  # type: ignore[assignment]
            del ses
        except BaseException as exc:  # the thread must never die silently
            self.crash = exc
            self.out.emit(Log(level="critical", message=f"engine crashed: {exc!r}"))
            for _fn, _args, fut in self.channel.close():
                fut.set_exception(EngineStoppedError(f"engine crashed: {exc!r}"))
            raise
        finally:
            if store is not None:  # after a crash too: what was queued still gets written
                store.close(self.config.engine.stop_timeout)
            self.manager = None
            self.stopped.set()
            self.out.publish_stopped(self.config.tor.mode)
            sel.close()
            alert_r.close()
            alert_w.close()
            self.ready.set()

    def _wait_listening(self, ses: Any, m: TorrentManager, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not m.listen_port and time.monotonic() < deadline:
            ses.wait_for_alert(100)
            m.handle_alerts(ses.pop_alerts())

    def _loop(self, ses: Any, m: TorrentManager, sel: selectors.BaseSelector,
              alert_r: socket.socket) -> None:
        pace = self.pacer = Pacer(1.0 / self.config.engine.snapshot_hz)
        next_save = time.monotonic() + self.config.storage.resume_save_interval
        next_counters = time.monotonic() + self.config.storage.counters_save_interval
        next_jobs = time.monotonic() + 1.0
        next_pin = time.monotonic() + 5.0
        counters = self.counters
        calm = False  # nothing new since the last poll was asked for
        next_stats = 0.0  # backed off: when session stats are asked for again
        commanded = False  # a command ran since the share limits were last checked
        limits_seen: object = None  # the torrents mapping they were checked over
        limits_due = 0.0  # when a seed-time limit falls due
        next_publish = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            # Backed off, the once-a-second jobs ride on the polls (every job that
            # depends on what moves starts moving with activity, which ends the back-off)
            # and only turtle mode's next boundary has a time of its own.
            due = min(pace.next_poll, next_save,
                      self._next_turn(now) if pace.idle else next_jobs)
            sel.select(0.0 if m.restore_queue is not None else max(0.0, due - now))
            counters["wakeups"] += 1
            # Each step on its own: a fault in one (a bug of ours; per-torrent faults are
            # contained further down, engine/torrents/isolation.py) is logged once and the
            # loop goes on, so the engine thread never dies of one.
            step = "reading alerts"
            try:
                drain(alert_r)
                self.channel.waker.drain()
                commands = self.channel.take()
                for fn, args, fut in commands:
                    self._run_command(fn, args, fut)
                commanded = commanded or bool(commands)
                alerts = ses.pop_alerts()
                m.handle_alerts(alerts)
                now = time.monotonic()
                if commands or self._news(alerts, m) or self.out.board.watched \
                        or m.waiting_on_time or self.save_waiters \
                        or m.restore_queue is not None or m.records.unlisted:
                    pace.active(now)
                    calm = False
                if any(type(a) is lt.state_update_alert for a in alerts):
                    if calm:  # the poll's answer showed nothing new
                        pace.quiet()
                        if self.out.board.watched:  # came meanwhile (_on_watched saw
                            pace.active(now)        # the loop not yet backed off)
                    calm = False
                step = "setting libtorrent's tick"
                self._set_tick(ses, slow=pace.slow)
                step = "writing resume data"
                m.report_write_errors()
                m.run_durable()
                self._resolve_save_waiters(m)
                step = "expiring DHT requests"
                m.dht.expire(now)
                m.dht_peers.expire(now)
                step = "expiring file reads"
                m.file_reads.expire(now)
                if pace.due(now):
                    pace.polled(now)
                    calm = True  # until something says otherwise before its answers
                    counters["polls"] += 1
                    step = "asking for status updates"
                    ses.post_torrent_updates()
                    # Backed off, the session's numbers (hundreds of counters decoded in
                    # Python) only every IDLE_STATS s: a torrent's traffic shows in its
                    # own status, and any change brings them back with snapshot_hz.
                    if not pace.idle or now >= next_stats:
                        next_stats = now + IDLE_STATS
                        ses.post_session_stats()
                    step = "reading the state of torrents a status update left out"
                    m.records.refresh_unlisted(older_than=2.0)
                if m.restore_queue is not None:
                    step = "loading torrents from the resume folder"
                    m.restore_step()
                # While torrents load, a snapshot at most every period (each is a new
                # mapping of every torrent), unless a command waits to see its effect.
                if m.dirty and (commands or now >= next_publish or not m.loading):
                    next_publish = now + pace.period
                    step = "publishing a snapshot"
                    self.out.publish(m)
                if now >= next_save:
                    with_counters = now >= next_counters
                    next_save = now + self.config.storage.resume_save_interval
                    if with_counters:
                        next_counters = now + self.config.storage.counters_save_interval
                    step = "saving resume data"
                    m.save_all(only_modified=True, counters=with_counters)
                if now >= next_jobs:
                    next_jobs = now + 1.0
                    counters["jobs"] += 1
                    # Share limits: when a torrent changed (a new torrents mapping), a
                    # command ran (limits, config) or a seed-time limit falls due.
                    torrents = self.out.snapshot.torrents
                    if commanded or torrents is not limits_seen or now >= limits_due:
                        step = "checking share limits"
                        counters["limit_checks"] += 1
                        commanded, limits_seen = False, torrents
                        limits_due = m.enforce_share_limits()
                    step = "retrying failed writes"
                    m.retry_disk_errors(now)
                    step = "applying the speed schedule"
                    self.apply_schedule(m)
                    step = "moving completed torrents"
                    m.completion.tick()
                if now >= next_pin:
                    next_pin = now + 5.0
                    step = "re-adding DHT nodes"
                    self._repin_dht(m)
            except Exception as exc:
                m.containment.other_fault(f"the engine loop ({step})", exc)
                m.dirty = True
                time.sleep(0.05)  # a fault that repeats must not spin a core

    def _set_tick(self, ses: Any, slow: bool) -> None:
        """libtorrent's tick: ``engine.idle_tick_interval_ms`` while backed off to the
        slowest polls (libtorrent alone, 100 idle seeds: 0.077 % of a core at 100 ms,
        0.027 % at 500), ``engine.tick_interval_ms`` again on any activity."""
        if slow == self._slow_tick:
            return
        engine = self.config.engine
        if engine.idle_tick_interval_ms == engine.tick_interval_ms and slow:
            return
        self._slow_tick = slow
        self.counters["slow_ticks" if slow else "fast_ticks"] += 1
        ses.apply_settings({"tick_interval": max(engine.tick_interval_ms,
                                                 engine.idle_tick_interval_ms)
                            if slow else engine.tick_interval_ms})

    def _next_turn(self, now: float) -> float:
        """While backed off: the monotonic time of turtle mode's next boundary (the
        schedule, or a switch by hand running out), or infinity."""
        m = self.manager
        until = m.stats.alt_speed.until if m is not None else 0.0
        if not until:
            return float("inf")
        return now + max(0.0, until - self.clock().timestamp())

    def _news(self, alerts: list[Any], m: TorrentManager) -> bool:
        """Whether ``alerts`` say anything moved: any alert but a poll's two answers, a
        state update that names a torrent, session numbers that changed (free disk
        space aside: another program's writes are not ours)."""
        news = m.counters.moved
        m.counters.moved = False
        for a in alerts:
            kind = type(a)
            if kind is lt.state_update_alert:
                if a.status:
                    news = True
            elif kind is not lt.session_stats_alert:
                self.counters[f"alert:{kind.__name__}"] += 1
                news = True
        return news

    def _on_watched(self) -> None:
        """A first watcher came (any thread): poll now if the loop is backed off."""
        pacer = self.pacer
        if pacer is not None and pacer.idle:
            self.channel.waker.wake()

    def apply_config(self, config: Config) -> None:
        """A new configuration, applied live with the limits in force (engine thread)."""
        self.config = config
        self.turtle.set_windows(config.schedule.windows, self.clock())
        m = self.manager
        assert m is not None
        self.apply_schedule(m, force=True)

    def switch_alt_speed(self, on: bool) -> None:
        """Turtle mode on or off by hand, until the schedule's next boundary."""
        self.turtle.switch(on, self.clock())
        m = self.manager
        assert m is not None
        self.apply_schedule(m)

    def apply_schedule(self, m: TorrentManager, force: bool = False) -> None:
        """Give libtorrent the limits in force now (only when they change, or ``force``:
        a new config) and say in the stats which they are."""
        alt = self.turtle.state(self.clock())
        cfg = in_force(self.config, alt.on)
        if force or alt.on != self._alt_on:
            self._alt_on = alt.on
            m.cfg = cfg
            m.ses.apply_settings(lt_session.settings_for(cfg))  # type: ignore[arg-type]
            self._slow_tick = False  # the pack has the configured tick
            lt_session.apply_peer_classes(m.ses, cfg)
            lt_session.assert_safety(m.ses)
            m.apply_pex()
            m.dirty = True
        if force or alt != m.stats.alt_speed:
            m.counters.set_alt_speed(cfg, alt)

    def _run_command(self, fn: Callable[..., Any], args: tuple[Any, ...],
                     fut: Future[Any]) -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            if args and args[0] is DEFERRED:
                fn(fut)  # resolved later, by an alert
            else:
                fut.set_result(fn(*args))
        except TidegateError as exc:
            if not fut.done():
                fut.set_exception(exc)
        except (RuntimeError, ValueError, TypeError, KeyError, OSError) as exc:
            # libtorrent reports invalid handles and bad arguments as these
            if not fut.done():
                fut.set_exception(EngineError(f"libtorrent: {exc}"))
        except Exception as exc:  # a bug in one command must not stop the engine
            self.out.emit(Log(level="error", message=f"command failed unexpectedly: {exc!r}"))
            if not fut.done():
                fut.set_exception(EngineError(f"internal error: {exc!r}"))

    def _resolve_save_waiters(self, m: TorrentManager) -> None:
        if self.save_waiters and m.saves_outstanding == 0:
            for fut in self.save_waiters:
                if not fut.done():
                    fut.set_result(None)
            self.save_waiters.clear()

    def _shutdown(self, ses: Any, m: TorrentManager) -> None:
        """Refuse commands, save resume data for every torrent, close the session."""
        for _fn, _args, fut in self.channel.close():
            fut.set_exception(EngineStoppedError("the engine is stopping"))
        m.dht.close()
        m.file_reads.close()
        if self.save_on_stop:
            self._refresh_states(ses, m)  # before the pause makes every torrent change
        ses.pause()
        if self.save_on_stop:
            m.save_on_stop()
        deadline = time.monotonic() + self.config.engine.stop_timeout
        # Wait for libtorrent's save alerts only: the files queued from them are the
        # writer's, and store.close() waits for those. (Waiting here on saves_outstanding
        # slept one more full wait_for_alert once the last alert was in: 0.1 s of every
        # `tidegate download`, docs/BENCHMARKS.md.)
        while m.saves_asked and time.monotonic() < deadline:
            ses.wait_for_alert(100)
            m.handle_alerts(_not_paused(ses.pop_alerts()))
        m.handle_alerts(_not_paused(ses.pop_alerts()))
        m.store.close(max(0.0, deadline - time.monotonic()))
        m.report_write_errors()
        m.run_durable(everything=True)  # written, or as written as it will ever be
        if m.saves_outstanding:
            self.out.emit(Log(level="error", message=f"{m.saves_outstanding} torrents did not "
                                                  "save resume data before the stop timeout"))
        self._resolve_save_waiters(m)
        self.out.publish(m)

    @staticmethod
    def _refresh_states(ses: Any, m: TorrentManager, timeout: float = 2.0) -> None:
        """The states of the torrents that changed since the last status update, so the
        stop sees the newest upload and download totals (bounded: a stop does not wait
        long for them)."""
        ses.post_torrent_updates()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alerts = ses.pop_alerts()
            m.handle_alerts(alerts)
            if any(isinstance(a, lt.state_update_alert) for a in alerts):
                return
            ses.wait_for_alert(100)

    def _repin_dht(self, m: TorrentManager) -> None:
        if self.dht_pinned and m.stats.dht_nodes < len(self.dht_pinned):
            for node in self.dht_pinned:
                m.ses.add_dht_node(node)


def _not_paused(alerts: list[Any]) -> list[Any]:
    """The alerts of a stop but those saying the session's pause paused each torrent (one
    per torrent; reading each one's status took seconds at 50,000)."""
    return [a for a in alerts if not isinstance(a, lt.torrent_paused_alert)]
