"""``tidegate`` / ``tidegate tui``: the Textual UI on an embedded engine or a daemon.

Which engine: ``--connect`` names a daemon; otherwise a daemon already running
on this data folder is attached to (it holds the data, so an embedded engine
could not start anyway); otherwise an engine runs inside this process and saves
resume data when the UI quits. That embedded engine is served on the daemon's
API socket (the same :class:`engine.daemon.Daemon`: same endpoint, same
keys, same lock), so ``tidegate ls``, ``tidegate add``, ``tidegate site new``
... drive the engine the TUI shows, and ``tidegate stop-daemon`` quits the TUI.
``--demo`` runs an embedded engine in a throw-away folder, next to a seeder swarm
on loopback with sample content (not served).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from tidegate.engine.config import LoadedConfig, load
from tidegate.engine.errors import ConfigError, EngineLockedError
from tidegate.engine.lockfile import PidLock

from ..console import fail, note
from ..remote import add_connect_options, connect

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from tidegate.engine.daemon import Daemon
    from tidegate.engine.node import Node
    from tidegate.tui import TidegateApp


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tui", help="the terminal UI (the default when no command is given)")
    add_connect_options(p)
    p.add_argument("--embedded", action="store_true",
                   help="run an engine in this process even if a daemon is running")
    p.add_argument("--demo", action="store_true",
                   help="download sample content from a local seeder swarm (no internet "
                        "needed; everything is deleted on quit)")
    p.set_defaults(run=run)


def daemon_running(loaded: LoadedConfig) -> bool:
    """True when a daemon holds this data folder's daemon lock."""
    lock = PidLock(loaded.paths.data_dir / "daemon.lock", "the data folder")
    try:
        lock.acquire()
    except EngineLockedError:
        return True
    lock.release()
    return False


def quietly(fn: Callable[[str], None], text: str) -> None:
    """Print, unless the terminal is gone (writes to a hung-up tty fail with EIO)."""
    try:
        fn(text)
    except OSError:
        pass


def run(args: argparse.Namespace) -> int:
    from tidegate.tui import run_app

    if getattr(args, "demo", False):
        return run_demo()
    loaded = load()
    if getattr(args, "connect", None) or (not getattr(args, "embedded", False)
                                          and daemon_running(loaded)):
        client = connect(args, loaded)
        try:
            return run_app(client, connection=f"daemon {client.endpoint}",
                           limits=loaded.config.limits)
        finally:
            client.stop()
    daemon = serve_embedded(loaded)
    if daemon is None:
        # libtorrent: imported by the command that uses it
        from tidegate.engine.node import Node

        engine = Node(loaded).start()
        try:
            return run_app(engine, connection="embedded (API not served)",
                           limits=loaded.config.limits,
                           on_app=lambda app: app.startup_notes.extend(qbt_notes(engine)))
        finally:
            quietly(note, "saving resume data…")  # the terminal may be gone (hangup)
            engine.stop()
    assert daemon.engine is not None

    def on_app(app: TidegateApp) -> None:
        daemon.on_stop = app.exit_from_thread  # `tidegate stop-daemon` quits the TUI
        app.startup_notes.extend(qbt_notes(daemon.engine))

    try:
        rc = run_app(daemon.engine, connection="embedded", limits=loaded.config.limits,
                     on_app=on_app)
    finally:
        quietly(note, "saving resume data…")
        daemon.stop()  # the API first (its socket files removed), then the engine
    if daemon.failure:  # the engine died: the TUI quit (docs/watcher.md)
        from .daemon import EXIT_FAILED

        quietly(fail, f"stopped: {daemon.failure}")
        return EXIT_FAILED
    return rc


def serve_embedded(loaded: LoadedConfig) -> Daemon | None:
    """The embedded engine with the daemon's API server, or None (and a note) when the
    API cannot be served (an endpoint that cannot be bound): the TUI still runs, alone."""
    from tidegate.engine.daemon import Daemon

    try:
        return Daemon(loaded).start()
    except ConfigError as exc:  # not EngineLockedError: another engine holds the data
        quietly(note, f"the engine API cannot be served ({exc}); `tidegate` commands will "
                      "not reach this TUI")
        return None


def run_demo() -> int:
    from tidegate.tui import run_app
    from tidegate.tui.demo import DemoSwarm

    note("starting a demo swarm on 127.0.0.1 (sample content is being generated)…")
    with DemoSwarm() as swarm:
        engine = swarm.main_engine().start()
        try:
            for request in swarm.requests():
                engine.add(request).result(30)
            return run_app(engine, connection="embedded demo", limits=None)
        finally:
            engine.stop()  # before the swarm: its folder holds this engine's state


def qbt_notes(node: Node | None) -> list[tuple[str, str, SeverityLevel]]:
    """What ``tidegate daemon`` prints about the qBittorrent API, as TUI notifications: a
    password made at this start is shown this once (only its hash is kept)."""
    if node is None or node.qbt is None:
        return []
    qbt = node.qbt
    if qbt.error:
        return [("qBittorrent API not served", qbt.error, "error")]
    notes: list[tuple[str, str, SeverityLevel]] = [
        ("qBittorrent API", f"on {qbt.url} (user {node.config.qbt.username!r})",
         "information")]
    if qbt.first_password:
        notes.append(("qBittorrent API password, shown this once",
                      f"{qbt.first_password}  (only its hash is stored; `tidegate qbt "
                      "password` sets another)", "warning"))
    return notes
