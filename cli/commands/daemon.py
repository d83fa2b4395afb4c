"""``tidegate daemon`` and ``tidegate stop-daemon``.

The daemon runs until SIGTERM, SIGINT, SIGHUP or a ``shutdown`` request; each
stops it the same way (API closed, resume data saved, engine stopped) and the
process exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import TYPE_CHECKING

from tidegate.engine.config import load
from tidegate.engine.errors import EngineLockedError
from tidegate.engine.lockfile import PidLock

from ..console import fail, note

if TYPE_CHECKING:
    from tidegate.engine.daemon import Daemon
from ..remote import add_connect_options, connect

EXIT_FAILED = 70
"""The daemon's exit status when a part that cannot be restarted in place died (EX_SOFTWARE):
non-zero, so systemd's ``Restart=on-failure`` starts it again; a stop exits 0."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("daemon", help="run the engine headless, driven by `tidegate` commands")
    p.add_argument("--endpoint", metavar="ENDPOINT",
                   help="command endpoint (ipc://PATH, or tcp://HOST:PORT with CURVE)")
    p.add_argument("--publish", metavar="ENDPOINT", help="snapshot/event endpoint")
    p.add_argument("--json", action="store_true",
                   help="print {pid, endpoint, publish, server_key} as one JSON line once ready")
    p.add_argument("--show-keys", action="store_true",
                   help="print this machine's CURVE public keys (daemon and client) and exit")
    unit = p.add_mutually_exclusive_group()
    unit.add_argument("--install", action="store_true",
                      help="write a systemd user unit that runs this daemon (with these "
                           "options and TIDEGATE_HOME) and restarts it on failure, then exit")
    unit.add_argument("--uninstall", action="store_true",
                      help="remove the systemd user unit, then exit")
    p.add_argument("--force", action="store_true",
                   help="with --install: replace a different unit already there")
    p.set_defaults(run=run)

    s = sub.add_parser("stop-daemon", help="ask the running daemon to save and exit")
    add_connect_options(s)
    s.set_defaults(run=run_stop)


def run(args: argparse.Namespace) -> int:
    # imported here, like everything of the API: other commands need not pay for it
    from tidegate.engine.daemon import Daemon, client_keys, server_keys

    loaded = load()
    if args.install or args.uninstall:
        return _unit(args, loaded.config.engine.stop_timeout)
    if args.show_keys:
        print(f"daemon  {server_keys(loaded).public}")
        print(f"client  {client_keys(loaded).public}")
        return 0
    daemon = Daemon(loaded, endpoint=args.endpoint, publish_endpoint=args.publish)

    def stop(signum: int, frame: object) -> None:
        daemon.request_stop()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    daemon.start()
    try:
        info = daemon.info
        if args.json:
            sys.stdout.write(json.dumps(info) + "\n")
            sys.stdout.flush()
        note(f"tidegate daemon (pid {info['pid']}) serving {info['endpoint']}, publishing on "
             f"{info['publish']}")
        _note_qbt(daemon)
        # A signal's handler sets the event, which ends the wait at once (the handler runs
        # in this thread, between the lock's retries), so the main thread need not wake
        # every second to look (issue 27: an idle daemon's wake-ups).
        while not daemon.wait(3600.0):
            pass
        note("stopping: saving resume data")
    finally:
        daemon.stop()
    if daemon.failure:
        fail(f"the daemon stopped: {daemon.failure}",
             "the data is intact (resume files are written as acknowledged); under systemd "
             "(`tidegate daemon --install`) it starts again by itself")
        return EXIT_FAILED
    return 0


def _unit(args: argparse.Namespace, stop_timeout: float) -> int:
    """``--install`` / ``--uninstall`` (cli/commands/daemon_unit.py)."""
    import os

    from . import daemon_unit as u

    path = u.unit_path()
    if args.uninstall:
        note(u.uninstall(path))
        note(u.DISABLE_HINT)
        return 0
    options = []
    if args.endpoint:
        options += ["--endpoint", args.endpoint]
    if args.publish:
        options += ["--publish", args.publish]
    text = u.render(options, os.environ, stop_timeout, pythonpath=u.source_root())
    note(u.install(text, path, force=args.force))
    note(u.ENABLE_HINT)
    return 0


def _note_qbt(daemon: Daemon) -> None:
    """Where the qBittorrent API listens, and a password made at this start (once)."""
    qbt = daemon.engine.qbt if daemon.engine is not None else None
    if qbt is None:
        return
    if qbt.error:
        note(f"qBittorrent API not served: {qbt.error}")
        return
    note(f"qBittorrent API on {qbt.url} (user {daemon.loaded.config.qbt.username!r})")
    if qbt.first_password:
        note(f"qBittorrent API password, shown this once (only its hash is stored; "
             f"`tidegate qbt password` sets another): {qbt.first_password}")


def run_stop(args: argparse.Namespace) -> int:
    from tidegate.engine.daemon import default_endpoint

    loaded = load()
    client = connect(args, loaded)
    try:
        pid = client.daemon_pid
        client.shutdown_daemon().result(client.timeout)
    finally:
        client.stop()
    if client.endpoint != default_endpoint(loaded):
        note(f"the daemon at {client.endpoint} is stopping")
        return 0
    # our own daemon: wait until it has saved everything and released its data folder
    limit = loaded.config.engine.stop_timeout + 10
    deadline = time.monotonic() + limit
    lock = PidLock(loaded.paths.data_dir / "daemon.lock", "the data folder")
    while time.monotonic() < deadline:
        try:
            lock.acquire().release()
        except EngineLockedError:
            time.sleep(0.1)
            continue
        note(f"daemon (pid {pid}) stopped")
        return 0
    note(f"daemon (pid {pid}) is still stopping after {limit:g} s")
    return 1
