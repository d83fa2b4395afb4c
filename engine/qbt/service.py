"""The qBittorrent API thread: an asyncio loop running aiohttp's server on its own port.

Started by the Node when ``qbt.enabled`` (the daemon and the TUI's embedded engine).
Requests are bounded (``client_max_size``: one body holds at most a few .torrent files
of ``limits.max_torrent_file_size``), aiohttp's own logs go nowhere (a client must not
be able to fill the daemon's stderr), and a port that cannot be bound is reported in
:attr:`QbtService.error`, not fatal to the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from ..part_bell import ringing
from . import reads, writes
from .app import Host, QbtApp
from .auth import ensure_password

KEEPALIVE = 30.0
"""Seconds an idle keep-alive connection is kept (aiohttp's default is an hour)."""
MAX_BODY_FILES = 2
"""A request body may hold this many maximal .torrent files (plus 1 MiB of fields)."""


class QbtService:
    """The endpoint's thread. ``first_password`` holds a password made at this start
    (none was stored) for the daemon to print once; "" otherwise.

    A supervised part (engine/supervisor.py): ``alive()`` is False when the thread ended
    while not stopped; ``restart()`` serves again on the same port."""

    on_exit: Callable[[], object] | None = None
    """The watcher's nudge, rung when this part's thread ends (engine/part_bell.py)."""

    name = "qbt"

    def __init__(self, host: Host, data_dir: Path, default_save_path: str):
        self.host = host
        self.data_dir = data_dir
        self.default_save_path = default_save_path
        self.port = 0
        self.error = ""
        self.first_password = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app = QbtApp(host, data_dir, default_save_path, lambda: self.port,
                          reads.ENDPOINTS, writes.ENDPOINTS)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._stopped = False
        self._bound_port = 0
        self.failure = ""
        """Why the thread ended last while it should have run."""
        self.log = logging.Logger("tidegate.qbt", logging.CRITICAL + 1)
        """aiohttp's logger for this server: not in logging's registry, writes nothing."""

    @property
    def url(self) -> str:
        host = self.host.config.qbt.listen
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" if self.port else ""

    def start(self, timeout: float = 10.0) -> QbtService:
        self.first_password = ensure_password(self.data_dir)
        self._stopped = False
        self._thread = threading.Thread(target=ringing(self._run, self),
                                        name="tidegate-qbt", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.error = f"the qBittorrent API did not start within {timeout:g} s"
        return self

    def alive(self) -> bool:
        thread = self._thread
        if self._stopped or thread is None or thread.is_alive():
            return True
        self.failure = self.failure or self.error or "the qBittorrent API thread ended"
        return False

    def restart(self, timeout: float = 10.0) -> None:
        """Serve again (after the thread died), on the port bound before."""
        self._halt(timeout)
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"the qBittorrent API thread did not end within {timeout:g} s")
        self.failure = ""
        self.loop, self._stop, self.error = None, None, ""
        self._ready = threading.Event()
        self.start(timeout)
        if self.error:
            raise RuntimeError(self.error)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped = True
        self._halt(timeout)

    def _halt(self, timeout: float) -> None:
        """Ask the loop to end and wait for the thread (up to ``timeout`` s)."""
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda loop, context: None)  # never to stderr
        self.loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # recorded for the watcher, never to stderr
            self.failure = f"its loop raised {exc!r}"
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        cfg = self.host.config
        app = web.Application(logger=self.log, handler_args={"max_field_size": 8190},
                              client_max_size=MAX_BODY_FILES
                              * cfg.limits.max_torrent_file_size + (1 << 20))
        app.router.add_route("*", "/{tail:.*}", self.app.handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, logger=self.log,
                               keepalive_timeout=KEEPALIVE)
        await runner.setup()
        port = self._bound_port or cfg.qbt.port
        site = web.TCPSite(runner, cfg.qbt.listen, port, backlog=64, reuse_address=True)
        try:
            await site.start()
        except OSError as e:
            self.error = f"cannot listen on {cfg.qbt.listen}:{port}: {e.strerror or e}"
            await runner.cleanup()
            self._ready.set()
            return
        bound = runner.addresses
        self.port = self._bound_port = int(bound[0][1]) if bound else port
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
