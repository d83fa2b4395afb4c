"""The proxy thread: an asyncio loop (uvloop when installed) running aiohttp's server.

Started by the Engine with the sites thread (the daemon and the TUI). It reads the
sites thread's :class:`~.served.ServedTable` (an immutable mapping swapped as a whole),
asks the engine for torrent pieces (streaming), sends ``{"hostname"}`` to the Blockchain
Handler on its own bus socket, and reports failed verifications to the sites thread,
which has Hosting recheck the snapshot. Verified reads of large files run in a small
thread pool (``hashlib`` releases the GIL while it hashes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp.web_response
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..errors import EngineError
from ..events import Log
from ..part_bell import ringing
from ..sites.app_handlers import HandlerTable
from ..sites.served import ServedTable
from ..state import WebState
from .app import ProxyApp
from .fastpath import FastPath
from .limits import Gate, connection_cap, fds_in_use, soft_fd_limit
from .responses import SERVER
from .stream import Streamer
from .token import load_or_create
from .verify import Verifier
from .visit import Visitor

if TYPE_CHECKING:
    from ..config import Config
    from ..services import TorrentService

REPORT_EVERY = 1.0
READ_THREADS = 4

# aiohttp names itself and its version in the Server header of the responses it makes on
# its own (400 for a malformed request); a proxy names no version.
aiohttp.web_response.SERVER_SOFTWARE = SERVER


SERVER_ERRORS_EVERY = 10.0
"""At most one Log event per kind of error per this many seconds (the first at once)."""
MAX_KINDS = 64
DIVERTED_LOGGERS = ("asyncio", "aiohttp.access", "aiohttp.client", "aiohttp.internal",
                    "aiohttp.server", "aiohttp.web", "aiohttp.websocket")
"""Loggers the event loop and aiohttp write to: records made on the proxy thread go to
:class:`_ServerLog`, never to logging's last-resort handler (stderr)."""


class _ServerLog(logging.Handler):
    """Where the proxy thread's logs and the event loop's exceptions go instead of stderr.

    aiohttp logs a full traceback at ERROR for every malformed request it answers 400 and
    every exception out of a handler, and the event loop's default exception handler logs
    one for every exception out of a protocol callback, synchronously on the event loop:
    any local program could fill the daemon's stderr at will, and a stderr pipe nobody read
    froze the whole proxy mid-write. Malformed requests are the client's fault and already
    answered: they are counted as refused. Anything else is ours: counted in ``errors``,
    and one ``Log`` event (bounded streams, never blocking) at the first of each kind, then
    at most one per :data:`SERVER_ERRORS_EVERY` per kind, with how many were folded into it.
    """

    def __init__(self, service: ProxyService) -> None:
        super().__init__(logging.DEBUG)
        self.service = service
        self.errors = 0
        self._kinds: dict[str, tuple[float, int]] = {}
        """kind -> (time of its last Log event, how many since)."""

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        app = self.service.app
        if isinstance(exc, HttpProcessingError | ConnectionError) or record.levelno < \
                logging.WARNING:
            if app is not None:
                app.counters.bump("refused")
            return
        what = f"{type(exc).__name__}: {exc}" if exc is not None else record.getMessage()
        kind = type(exc).__name__ if exc is not None else f"{record.name} {record.msg!s:.40}"
        self.report(kind, f"a request failed: {what}")

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The event loop's exception handler (instead of its default, which logs a
        traceback to stderr)."""
        exc = context.get("exception")
        message = str(context.get("message", ""))
        kind = type(exc).__name__ if exc is not None else message[:40]
        self.report(f"loop {kind}", f"{message}: {exc!r}" if exc is not None else message)

    def report(self, kind: str, text: str) -> None:
        self.errors += 1
        now = time.monotonic()
        if kind not in self._kinds and len(self._kinds) >= MAX_KINDS:
            kind = "other"
        last, folded = self._kinds.get(kind, (-SERVER_ERRORS_EVERY, 0))
        if now - last < SERVER_ERRORS_EVERY:
            self._kinds[kind] = (last, folded + 1)
            return
        self._kinds[kind] = (now, 0)
        more = f" (and {folded} more since the last report)" if folded else ""
        with contextlib.suppress(Exception):
            self.service.engine.post_event(Log(level="error", message=(
                f"proxy: {text}"[:300] + more)))


class _Divert(logging.Filter):
    """On a shared logger: records made on the proxy's thread go to its handler only."""

    def __init__(self, thread: int, handler: _ServerLog) -> None:
        super().__init__()
        self.thread = thread
        self.handler = handler

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        with contextlib.suppress(Exception):
            self.handler.handle(record)
        return False


class ProxyService:
    """The Smart Proxy's thread; a supervised part (engine/supervisor.py): ``alive()``
    is False when its thread ended while not stopped, ``restart()`` starts it again on
    the same port with the same site listeners (onion targets)."""

    on_exit: Callable[[], object] | None = None
    """The watcher's nudge, rung when this part's thread ends (engine/part_bell.py)."""

    name = "proxy"

    def __init__(self, engine: TorrentService, table: ServedTable,
                 on_bad: Callable[[str, int, str, str], None],
                 handlers: HandlerTable | None = None):
        self.engine = engine
        self.handlers = handlers
        self.config: Config = engine.config
        self.table = table
        self.on_bad = on_bad
        self.port = 0
        self.error = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app: ProxyApp | None = None
        self.visitor: Visitor | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._site_servers: dict[str, asyncio.AbstractServer] = {}
        self._fast: FastPath | None = None
        self.gate = Gate()
        """Every listener's connections against one cap (set when the thread starts)."""
        self._site_fast: dict[str, FastPath] = {}
        self._site_specs: dict[str, Path | int] = {}
        """Each site listener's socket path or 127.0.0.1 port, opened again by restart()."""
        self._bound_port = 0
        """The port bound last: a restart listens there again (with ``web.port = 0`` too)."""
        self._stopped = False
        self.failure = ""
        """Why the thread ended last while it should have run."""
        self._pool = concurrent.futures.ThreadPoolExecutor(READ_THREADS,
                                                           thread_name_prefix="tidegate-read")
        self.log = logging.Logger("tidegate.proxy", logging.DEBUG)
        """aiohttp's server logger for this proxy (not in logging's registry, no parent):
        into :class:`_ServerLog`, never stderr."""
        self.server_log = _ServerLog(self)
        self.log.addHandler(self.server_log)

    # ------------------------------------------------------------------ any thread

    @property
    def url(self) -> str:
        host = self.config.web.listen
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" if self.port else ""

    def start(self, timeout: float = 10.0) -> None:
        self._stopped = False
        self._thread = threading.Thread(target=ringing(self._run, self),
                                        name="tidegate-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.error = f"the proxy did not start within {timeout:g} s"
        self._publish()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopped = True
        self._halt(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _halt(self, timeout: float) -> None:
        """Ask the loop to end and wait for the thread (up to ``timeout`` s)."""
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        """False when the thread ended (a fault in its loop, or a port it could not bind)
        while the proxy should run."""
        thread = self._thread
        if self._stopped or thread is None or thread.is_alive():
            return True
        self.failure = self.failure or self.error or "the proxy thread ended"
        return False

    def restart(self, timeout: float = 10.0) -> None:
        """Start the thread again (after it died): the same port, the same site listeners.
        Raises EngineError when it cannot listen again (or what is left of a restart that
        failed half-way does not end)."""
        self._halt(timeout)
        if self._thread is not None and self._thread.is_alive():
            raise EngineError(f"the proxy thread did not end within {timeout:g} s")
        self.failure = ""
        self.loop, self._stop, self._fast, self.app = None, None, None, None
        self._site_servers.clear()
        self._site_fast.clear()
        self._ready = threading.Event()
        self.error = ""
        self.start(timeout)
        if self.error or not self.port:
            raise EngineError(self.error or "the proxy did not listen")
        for address, spec in list(self._site_specs.items()):
            assert self.loop is not None
            asyncio.run_coroutine_threadsafe(
                self._open_site(address, spec if isinstance(spec, Path) else None,
                                spec if isinstance(spec, int) else 0),
                self.loop).result(timeout)

    def serve_site_at(self, address: str, socket_path: Path | None
                      ) -> concurrent.futures.Future[str]:
        """Serve only ``address``, read-only, on a unix socket, or (``socket_path`` None)
        on a free 127.0.0.1 port: an onion service's target. Every request through tor
        looks local, so this listener knows one site and nothing else, whatever the Host
        header says. Resolves to tor's form of the target (``unix:/path`` or
        ``127.0.0.1:port``)."""
        if self.loop is None:
            fut: concurrent.futures.Future[str] = concurrent.futures.Future()
            fut.set_exception(EngineError("the proxy is not running"))
            return fut
        return asyncio.run_coroutine_threadsafe(self._open_site(address, socket_path),
                                                self.loop)

    def close_site(self, address: str) -> concurrent.futures.Future[None]:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(self._close_site(address), self.loop)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            import uvloop
            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        try:
            runner(self._main())
        except BaseException as exc:  # never silent
            self.failure = f"its loop raised {exc!r}"
            self.error = self.error or f"the proxy stopped: {exc!r}"
            self.engine.post_event(Log(level="error", message=self.error))
            self._publish()
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop.set_default_executor(self._pool)
        self.loop.set_exception_handler(self.server_log.loop_error)
        divert = _Divert(threading.get_ident(), self.server_log)
        for name in DIVERTED_LOGGERS:
            logging.getLogger(name).addFilter(divert)
        try:
            await self._serve()
        finally:
            for name in DIVERTED_LOGGERS:
                logging.getLogger(name).removeFilter(divert)

    async def _serve(self) -> None:
        from ..api.bus import hostname_outbox

        assert self.loop is not None
        self._stop = asyncio.Event()
        web_cfg = self.config.web
        outbox = hostname_outbox(self.config)

        def request_hostname(address: str) -> None:
            if web_cfg.follow_visited:
                outbox.request(address)

        self.visitor = Visitor(request_hostname, lambda a: self.engine.snapshot.sites.get(a),
                               web_cfg.visit_timeout, web_cfg.tor_socks,
                               check_hostname=outbox.request,
                               check_interval=self.config.sites.visit_check_interval,
                               dedup=self.config.bus.hostname_dedup_seconds)
        self.gate.cap = connection_cap(soft_fd_limit(), fds_in_use(),
                                       self.config.network.connections_limit)
        try:
            token = load_or_create(self.engine.loaded.paths.data_dir)
        except OSError as exc:  # nothing that needs it is served (403), everything else is
            token = ""
            self.engine.post_event(Log(level="error", message=(
                f"proxy: cannot keep the user's token ({exc}): streaming and visits to "
                "sites not followed are refused")))
        self.app = ProxyApp(
            token=token,
            sites=lambda: self.table.current, verifier=Verifier(web_cfg.cache_mb << 20),
            port=lambda: self.port, on_bad=self.on_bad,
            streamer=Streamer(self.engine, web_cfg.stream_timeout, web_cfg.readahead_mb << 20),
            visitor=self.visitor, handlers=self.handlers)
        server = web.Server(self.app.handle, access_log=None, logger=self.log)
        fast = FastPath(self.app, server, self.server_log.report, self.gate)
        self._fast = fast
        try:
            listener = await self.loop.create_server(
                fast.protocol, web_cfg.listen, self._bound_port or web_cfg.port,
                reuse_address=True)
        except OSError as exc:
            self.error = (f"cannot listen on {web_cfg.listen}:"
                          f"{self._bound_port or web_cfg.port}: {exc.strerror}"
                          " (set web.port in the config, or 0 for any free port)")
            self.engine.post_event(Log(level="error", message=f"proxy: {self.error}"))
            outbox.close()
            self._ready.set()
            return
        self.port = self._bound_port = listener.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            while not self._stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), REPORT_EVERY)
                for fast_path in self._fast_paths():
                    fast_path.close_idle()
                if self.app.counters.changed:
                    self.app.counters.changed = False
                    self._publish()
        finally:
            listener.close()
            for site_server in self._site_servers.values():
                site_server.close()
            for fast_path in self._fast_paths():
                for conn in list(fast_path.conns):
                    conn.close()
            await server.shutdown(1.0)
            outbox.close()
            self.port = 0

    async def _open_site(self, address: str, socket_path: Path | None, port: int = 0) -> str:
        assert self.app is not None and self.loop is not None
        await self._close_site(address)
        app = ProxyApp(sites=self.app.sites, verifier=self.app.verifier,
                       port=lambda: self.port, on_bad=self.on_bad, site_only=address,
                       counters=self.app.counters, handlers=self.handlers)
        fast = FastPath(app, web.Server(app.handle, access_log=None, logger=self.log),
                        self.server_log.report, self.gate)
        if socket_path is None:
            server = await self.loop.create_server(fast.protocol, "127.0.0.1", port,
                                                   reuse_address=True)
            port = server.sockets[0].getsockname()[1]
            target = f"127.0.0.1:{port}"
            self._site_specs[address] = port
        else:
            socket_path.unlink(missing_ok=True)
            server = await self.loop.create_unix_server(fast.protocol, str(socket_path))
            socket_path.chmod(0o600)
            target = f"unix:{socket_path}"
            self._site_specs[address] = socket_path
        self._site_servers[address] = server
        self._site_fast[address] = fast
        return target

    async def _close_site(self, address: str) -> None:
        self._site_specs.pop(address, None)
        server = self._site_servers.pop(address, None)
        if server is not None:
            server.close()
        fast = self._site_fast.pop(address, None)
        if fast is not None:
            for conn in list(fast.conns):
                conn.close()

    def _fast_paths(self) -> list[FastPath]:
        main = [self._fast] if self._fast is not None else []
        return main + list(self._site_fast.values())

    def _publish(self) -> None:
        c = self.app.counters if self.app is not None else None
        state = WebState(url=self.url, port=self.port, error=self.error,
                         served=c.served if c else 0, refused=c.refused if c else 0,
                         bad=c.bad if c else 0, busy=c.busy if c else 0,
                         max_connections=self.gate.cap if self.port else 0,
                         token=self.app.token if self.app is not None and self.port else "")
        with contextlib.suppress(Exception):
            self.engine.set_web(state)
