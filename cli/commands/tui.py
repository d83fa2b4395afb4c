"""``tidegate`` / ``tidegate tui``: the Textual UI on an embedded engine or a daemon.

Which engine: ``--connect`` names a daemon; otherwise a daemon already running
on this data folder is attached to (it holds the data, so an embedded engine
could not start anyway); otherwise an engine runs inside this process and saves
resume data when the UI quits. ``--demo`` runs an embedded engine in a
throw-away folder, next to a seeder swarm on loopback with sample content.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from engine import Engine
from engine.config import LoadedConfig, load
from engine.errors import EngineLockedError
from engine.lockfile import PidLock

from ..console import note
from ..remote import add_connect_options, connect


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
    from tui import run_app

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
    engine = Engine(loaded, sites=True).start()
    try:
        return run_app(engine, connection="embedded", limits=loaded.config.limits)
    finally:
        quietly(note, "saving resume data…")  # the terminal may be gone (hangup)
        engine.stop()


def run_demo() -> int:
    from tui import run_app
    from tui.demo import DemoSwarm

    note("starting a demo swarm on 127.0.0.1 (sample content is being generated)…")
    with DemoSwarm() as swarm:
        engine = swarm.main_engine().start()
        try:
            for request in swarm.requests():
                engine.add(request).result(30)
            return run_app(engine, connection="embedded demo", limits=None)
        finally:
            engine.stop()  # before the swarm: its folder holds this engine's state
