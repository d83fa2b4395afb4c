"""The Textual app: one engine (embedded or a daemon's), its screens and its actions.

The app never touches libtorrent. :class:`~tui.bridge.EngineBridge` brings
snapshots and events in as messages; the app keeps the newest snapshot in the
reactive :attr:`TidegateApp.snapshot` that screens watch, and turns user
actions into engine commands whose futures report back as
:class:`~tui.messages.CommandDone` notifications. No command blocks the UI.
The actions on torrents that ask in dialogs live in a part the app composes
(:class:`~tui.torrent_actions.TorrentActions`); the screens and that part see
the app only as a :class:`~tui.host.Host`, so none of them imports this module.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen

from tidegate.engine import events as ev
from tidegate.engine.config import LimitsConfig
from tidegate.engine.interface import EngineAPI
from tidegate.engine.safetext import clean
from tidegate.engine.state import EMPTY_SNAPSHOT, Snapshot

from .actions import ACTIONS, MAIN_ONLY, ON_TORRENTS, bindings
from .bridge import EngineBridge
from .history import RateHistory
from .messages import CommandDone, EngineEvents, EngineGone, SnapshotChanged
from .notices import describe_event
from .torrent_actions import TorrentActions

QUIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
GC_THRESHOLDS = (20_000, 10, 10)
"""Python's defaults (700, 10, 10) ran a full collection every few seconds while 10,000
torrents were paused at once, 72 ms each (122 ms at worst) with the key press waiting:
the bulk of the latency tail. With these, and the objects alive once the list is loaded
frozen out of collection, none ran in the same churn, and the young ones took 2.5 ms."""


def detach_terminal() -> None:
    """Make file descriptors 0, 1 and 2 /dev/null (after the terminal hung up)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)

_GATED = frozenset(a.name.partition("(")[0] for a in ACTIONS) - {"quit", "help"}

TOASTS_PER_SECOND = 5
"""Event notifications shown one by one per second; the rest are counted per title."""
BATCH_IN_THREAD = 64
"""Batches larger than this are submitted from a worker thread, not the UI's."""


class TidegateApp(App[None]):
    """tidegate's terminal UI on any :class:`~engine.interface.EngineAPI`.

    Args:
        engine: a started engine or daemon client; the app does not stop it.
        connection: what the status bar says about it ("embedded", "daemon ipc://…").
        bridge: feed the app from the engine (tests of rendering pass False and
            set :attr:`snapshot` themselves).
        limits: input limits for .torrent files the add dialog reads.
    """

    TITLE = "tidegate"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = bindings(exclude=MAIN_ONLY)
    NOTIFICATION_TIMEOUT = 4

    snapshot: reactive[Snapshot] = reactive(EMPTY_SNAPSHOT, always_update=True)

    def __init__(self, engine: EngineAPI, *, connection: str = "embedded",
                 bridge: bool = True, limits: LimitsConfig | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.limits = limits or LimitsConfig()
        self.connection = connection
        self.rates = RateHistory()
        self.connected = True
        self._use_bridge = bridge
        self._bridge: EngineBridge | None = None
        self.last_done: CommandDone | None = None
        """The newest finished command batch."""
        self._burst_start = 0.0
        self._burst_count = 0
        self._held: dict[str, int] = {}
        self._flush_timer_set = False
        self.notified: deque[tuple[str, str, str]] = deque(maxlen=100)
        """Recent notifications as ``(title, message, severity)``, newest last."""
        self.startup_notes: list[tuple[str, str, SeverityLevel]] = []
        """``(title, message, severity)`` shown once the app is up (what the daemon would
        print at its start: the qBittorrent API's address and first password)."""
        self.quit_signal: signal.Signals | None = None
        """Set when SIGHUP (terminal closed) or SIGTERM made the app quit."""
        self._old_handlers: dict[signal.Signals, Any] = {}
        self._old_gc = gc.get_threshold()
        self._gc_frozen = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.torrent_actions = TorrentActions(self)
        """Pause, remove, move, limits, queue, magnets: the actions on the selection."""

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        from .screens.main import MainScreen

        gc.set_threshold(*GC_THRESHOLDS)
        self._loop = asyncio.get_running_loop()
        self.push_screen(MainScreen(self.connection))
        for title, message, severity in self.startup_notes:
            self.notify(message, title=title, severity=severity, timeout=120)
        if self._use_bridge:
            self.snapshot = self.engine.snapshot
            self._bridge = EngineBridge(self.engine, self).start()
        if threading.current_thread() is threading.main_thread():
            # Closing the terminal window or a plain `kill` quits the way q does (the
            # terminal restored, resume data saved), not from inside a half-drawn frame.
            loop = asyncio.get_running_loop()
            for sig in QUIT_SIGNALS:
                self._old_handlers[sig] = signal.signal(
                    sig, lambda n, _f: self._on_quit_signal(loop, signal.Signals(n)))

    def _on_quit_signal(self, loop: asyncio.AbstractEventLoop, sig: signal.Signals) -> None:
        if sig == signal.SIGHUP:
            # The terminal is gone: writes to it fail, and Textual's writer thread dies
            # of that, leaving the next write (restoring the terminal on exit) blocked
            # on its full queue for ever. Point the standard streams at /dev/null first.
            detach_terminal()
        self.quit_signal = sig
        loop.call_soon_threadsafe(self.exit, None, 128 + sig)

    def exit_from_thread(self) -> None:
        """Quit as ``q`` does, from any thread (the API server's ``shutdown``); a no-op
        before the app runs or after it ended."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.exit)

    def on_unmount(self) -> None:
        gc.set_threshold(*self._old_gc)
        gc.unfreeze()
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)  # the caller's, for the engine's stop that follows
        if self._bridge is not None:
            self._bridge.stop()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Like :meth:`App.notify`, but markup is off unless asked for: messages quote
        torrent names and engine errors, which are hostile text."""
        self.notified.append((title, message, severity))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def action_help_quit(self) -> None:
        """Ctrl+C: Textual keeps it for copying and says which key quits; its note is
        markup, which :meth:`notify` shows literally here, so say it in plain text."""
        keys = [key for key, active in self.active_bindings.items()
                if active.binding.action in ("quit", "app.quit")]
        if keys:
            self.notify(f"Press {' or '.join(keys)} to quit", title="Do you want to quit?")

    # ------------------------------------------------------------------ engine in

    def on_snapshot_changed(self, message: SnapshotChanged) -> None:
        self.rates.add(message.snapshot)
        self.snapshot = message.snapshot
        if not self._gc_frozen and message.snapshot.torrents:
            self._gc_frozen = True
            self.call_after_refresh(gc.freeze)  # what the loaded list holds lives long

    def on_engine_gone(self, message: EngineGone) -> None:
        self.connected = False
        self.notify(f"{message.reason}; quit with q", title="Engine stopped",
                    severity="error", timeout=30)

    def on_engine_events(self, message: EngineEvents) -> None:
        for event in message.events:
            self._notify_event(event)

    def _notify_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.DaemonConnection):
            self.connected = event.connected
        text = describe_event(event, self.snapshot)
        if text is None:
            return
        title, body, severity = text
        now = time.monotonic()
        if now - self._burst_start > 1.0:
            self._burst_start, self._burst_count = now, 0
        self._burst_count += 1
        if self._burst_count > TOASTS_PER_SECOND:
            # a burst (thousands of seeds restored at once) is summed up, not toasted one
            # by one: every toast costs layout work and a late one can stall Textual
            self._held[title] = self._held.get(title, 0) + 1
            if not self._flush_timer_set:
                self._flush_timer_set = True
                self.set_timer(1.0, self._flush_held)
            return
        self.notify(body, title=title, severity=severity)

    def _flush_held(self) -> None:
        self._flush_timer_set = False
        held, self._held = self._held, {}
        for title, count in held.items():
            self.notify(f"{count} more not shown one by one", title=title)

    # ------------------------------------------------------------------ commands out

    def run_command(self, what: str, targets: Sequence[str],
                    start: Callable[[str], Future[Any]], *, failed: str,
                    says: Callable[[list[Any]], str] | None = None) -> None:
        """Run ``start(id)`` for every target; one notification when all are done:
        ``what`` ("Paused"), or ``says(results)`` when given, or titled ``failed``
        ("Pause failed") with the first error."""
        if not targets:
            self.notify("no torrent selected", severity="warning")
            return
        ids = list(targets)
        done = partial(CommandDone, failed=failed, says=says)
        if len(ids) > BATCH_IN_THREAD:
            threading.Thread(target=self._submit, args=(what, ids, start, done),
                             name="tui-submit", daemon=True).start()
        else:
            self._submit(what, ids, start, done)

    def run_one(self, what: str, future_factory: Callable[[], Future[Any]], *, failed: str,
                says: Callable[[list[Any]], str] | None = None) -> None:
        """Run one command that is not about a torrent (add, global limits)."""
        self._submit(what, [""], lambda _id: future_factory(),
                     partial(CommandDone, failed=failed, says=says))

    def _submit(self, what: str, ids: list[str], start: Callable[[str], Future[Any]],
                message: Callable[..., CommandDone] = CommandDone) -> None:
        lock = threading.Lock()
        left = [len(ids)]
        errors: list[tuple[str, BaseException]] = []
        results: list[Any] = []

        def finished(tid: str, fut: Future[Any]) -> None:
            exc = fut.exception()
            with lock:
                if exc is not None:
                    errors.append((tid, exc))
                else:
                    results.append(fut.result())
                left[0] -= 1
                last = left[0] == 0
            if last:
                self.post_message(message(what, len(ids) - len(errors), errors,
                                          results[0] if len(results) == 1 else None,
                                          results=results))

        for tid in ids:
            try:
                fut = start(tid)
            except Exception as exc:  # a bad argument raised before any future existed
                fut = Future()
                fut.set_exception(exc)
            fut.add_done_callback(partial(finished, tid))

    def on_command_done(self, message: CommandDone) -> None:
        self.last_done = message
        if not message.errors:
            if message.says is not None:
                self.notify(message.says(message.results))
            else:
                self.notify(message.what if message.done == 1 or not message.what
                            else f"{message.what} ({message.done})")
            return
        tid, first = message.errors[0]
        name = self.snapshot.torrents[tid].name if tid in self.snapshot.torrents else tid
        more = f" (and {len(message.errors) - 1} more)" if len(message.errors) > 1 else ""
        who = f"{clean(name)}: " if name else ""
        self.notify(f"{who}{clean(str(first))}{more}", title=message.failed,
                    severity="error", timeout=10)

    def targets(self) -> list[str]:
        """The torrents an action applies to on the current screen."""
        get = getattr(self.screen, "targets", None)
        return list(get()) if get is not None else []

    def selected(self) -> list[str]:
        """:meth:`targets`, after telling the user when there is none."""
        ids = self.targets()
        if not ids:
            self.notify("no torrent selected", severity="warning")
        return ids

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen) and action in _GATED:
            return False  # keys typed in a dialog are not commands to the list behind it
        if action in ON_TORRENTS and not hasattr(self.screen, "targets"):
            return False  # no torrent is selected here (the sites view)
        return True

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action in ACTIONS:
            if (action.name in MAIN_ONLY or action.name in ON_TORRENTS) \
                    and not hasattr(screen, "targets"):
                continue
            target = screen if action.name in MAIN_ONLY else self
            yield SystemCommand(action.title, action.help,
                                partial(self.run_action, action.name, target))

    # the torrent actions: tui/torrent_actions.py (the bindings call action_<name>)

    def action_pause(self) -> None:
        self.torrent_actions.pause()

    def action_resume(self) -> None:
        self.torrent_actions.resume()

    def action_pause_resume(self) -> None:
        self.torrent_actions.pause_resume()

    def action_recheck(self) -> None:
        self.torrent_actions.recheck()

    def action_reannounce(self) -> None:
        self.torrent_actions.reannounce()

    def action_sequential(self) -> None:
        self.torrent_actions.sequential()

    def action_remove(self) -> None:
        self.torrent_actions.remove()

    def action_add(self) -> None:
        self.torrent_actions.add()

    def action_move(self) -> None:
        self.torrent_actions.move()

    def action_labels(self) -> None:
        self.torrent_actions.labels()

    def action_limits(self) -> None:
        self.torrent_actions.limits()

    def action_global_limits(self) -> None:
        self.torrent_actions.global_limits()

    def action_turtle(self) -> None:
        self.torrent_actions.turtle()

    def action_share_limits(self) -> None:
        self.torrent_actions.share_limits()

    def action_queue_move(self, where: str) -> None:
        self.torrent_actions.queue_move(where)

    def action_copy_magnet(self) -> None:
        self.torrent_actions.copy_magnet()

    def action_open_folder(self) -> None:
        self.torrent_actions.open_folder()

    # navigation

    def action_priorities(self) -> None:
        ids = self.targets()
        if ids:
            self.open_details(ids[0], tab="files")
        else:
            self.notify("no torrent selected", severity="warning")

    def open_details(self, torrent_id: str, tab: str = "files") -> None:
        from .screens.detail import DetailScreen

        if isinstance(self.screen, DetailScreen):
            if self.screen.targets() == [torrent_id]:
                self.screen.show_tab(tab)
                return
            self.pop_screen()
        self.push_screen(DetailScreen(torrent_id, tab=tab))

    def action_sites(self) -> None:
        from .screens.sites import SitesScreen

        if not isinstance(self.screen, SitesScreen):
            self.push_screen(SitesScreen())

    def action_rss(self) -> None:
        from .screens.rss import RssDialog

        if not isinstance(self.screen, RssDialog):
            self.push_screen(RssDialog(self.engine))

    def action_comments(self) -> None:
        from .screens.comments import CommentsDialog

        if not isinstance(self.screen, CommentsDialog):
            self.push_screen(CommentsDialog(self.engine))

    def action_watch_folders(self) -> None:
        from .watch_view import show_watch_folders

        show_watch_folders(self)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"
