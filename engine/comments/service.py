"""The comment service: the store, the author key and the endpoint's asyncio thread
(``tidegate-comments``).

The store and the author key are opened when the service is built, so callers (the
node's commands, the network part) may use them before and while it serves. The
thread runs an aiohttp server on ``comments.listen``/``port`` plus the routes and tasks
others hand in (``add_routes`` before ``start``; ``add_task`` any time: run now when
serving, and again after a ``restart``). ``alive()`` is false only when the thread
died without being asked to (``failure`` says why); ``restart()`` brings it back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from ..config.comments import CommentsConfig
from ..part_bell import ringing
from .app import CommentApp
from .author import AuthorKey, load_or_create
from .store import CommentStore

TaskFactory = Callable[[], Coroutine[Any, Any, Any]]
T = TypeVar("T")


class CommentService:
    """Comments kept in ``folder`` and served over HTTP.

    Args:
        config: the ``[comments]`` section.
        folder: ``<data_dir>/comments`` (``comments.db``, ``author.key``).
        log: called with a line for each fault of ours (the node posts it as a Log event).
        clock: seconds since the epoch (the store's).
    """

    on_exit: Callable[[], object] | None = None
    """The watcher's nudge, rung when this part's thread ends (engine/part_bell.py)."""

    name = "comments"
    """Its name to the watcher (engine/supervisor.py)."""

    def __init__(self, config: CommentsConfig, folder: Path, *,
                 log: Callable[[str], None] = lambda line: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.folder = folder
        self.log = log
        self.store = CommentStore(folder / "comments.db", config.difficulty, clock,
                                  allow_authors=config.allow_authors)
        if self.store.problem:
            log(self.store.problem)
        self.author: AuthorKey = load_or_create(folder / "author.key")
        self.app = CommentApp(self.store, config, log)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._last_port = 0
        self.failure = ""
        self._routes: list[web.RouteDef] = []
        self._tasks: list[TaskFactory] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._on_purpose = False
        self._started = False
        self._work = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="tidegate-comment-work")

    # ------------------------------------------------------------------ any thread

    @property
    def url(self) -> str:
        host = self.config.listen
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" if self.port else ""

    def add_routes(self, routes: list[web.RouteDef]) -> None:
        """More routes on the endpoint (before ``start``)."""
        if self._started:
            raise RuntimeError("add_routes is called before the comment service starts")
        self._routes.extend(routes)

    def add_task(self, factory: TaskFactory) -> None:
        """Run ``factory()`` on the service's loop while it runs (now, if it does; and
        after each restart)."""
        self._tasks.append(factory)
        loop = self.loop
        if loop is not None and not loop.is_closed() and self.alive() and self.port:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._spawn, factory)

    def submit(self, call: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run ``call`` on the service's worker thread (the commands: mining and
        verifying hold the CPU, never the API's or the UI's thread)."""
        return self._work.submit(call)

    def start(self, timeout: float = 10.0) -> CommentService:
        """Start the thread and wait until it listens (or failed: ``failure``)."""
        self._started = True
        self._on_purpose = False
        self.failure = ""
        self._ready.clear()
        self._thread = threading.Thread(target=ringing(self._run, self), name="tidegate-comments",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.failure = f"the comment endpoint did not start within {timeout:g} s"
        return self

    def stop(self, timeout: float = 10.0, *, close_store: bool = True) -> None:
        self._on_purpose = True
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
        if close_store:
            self._work.shutdown(wait=True, cancel_futures=True)
            self.store.close()

    def alive(self) -> bool:
        """The thread serves, or it was stopped on purpose (false once it failed)."""
        thread = self._thread
        return self._on_purpose or (thread is not None and thread.is_alive()
                                    and not self.failure)

    def restart(self) -> None:
        """Stop the thread (if it still runs) and start it again, on the same port when
        it had one."""
        self.stop(close_store=False)
        self.start()

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # never silent
            self.failure = self.failure or f"the comment endpoint stopped: {exc!r}"
            self.log(self.failure)
        finally:
            self._last_port = self.port or self._last_port
            self.port = 0
            self.loop = None
            self._ready.set()

    def _spawn(self, factory: TaskFactory) -> None:
        task = asyncio.ensure_future(factory())
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log(f"comment service task failed: {task.exception()!r}")

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.app.build(self._routes), access_log=None,
                               handle_signals=False)
        await runner.setup()
        port = self._last_port or self.config.port
        try:
            site = web.TCPSite(runner, self.config.listen, port, reuse_address=True)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self.failure = (f"cannot listen on {self.config.listen}:{port}: {exc.strerror}"
                            " (set comments.port, or 0 for any free port)")
            self.log(self.failure)
            self._ready.set()
            return
        server = site._server  # the bound port (0 asked for any)
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        tasks = [asyncio.ensure_future(factory()) for factory in self._tasks]
        for task in tasks:
            task.add_done_callback(self._task_done)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()
