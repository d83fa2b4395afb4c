"""A program's HTTP handler for paths of an owned site (``AppClient.serve``).

:class:`HandlerServer` runs a small HTTP server on the loopback (the standard library's
``ThreadingHTTPServer``: a thread per request), registers it for the site's ``prefix``
(``handler_register``) and renews the lease every third of its ttl until closed, so the
Smart Proxy forwards the site's requests under ``prefix`` here only while this program
lives. A renewal that fails (the daemon restarting) is retried every second; the daemon's
new lease table gets it again at once.

Requests come as :class:`AppRequest` values and the program answers with an
:class:`AppResponse`; an exception in the program is a 500 that names nothing of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from ..commands_apps import HandlerRegister, HandlerUnregister

if TYPE_CHECKING:
    from ..interface import EngineAPI

MAX_BODY = 1 << 20
"""The proxy forwards at most this much of a request body."""
RETRY = 1.0


@dataclass(frozen=True)
class AppRequest:
    method: str
    path: str
    """The path as the browser sent it (percent-encoded), without the query."""
    query: str
    headers: Mapping[str, str]
    body: bytes
    site: str
    """The site's address (``Tidegate-Site``, set by the proxy)."""


@dataclass
class AppResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    """The whole body, or chunks (sent as they come; the connection then ends the body)."""


Handler = Callable[[AppRequest], AppResponse]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    handler: Handler


class _Request(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: a body may end with it

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass  # a program's stderr is its own; requests are not logged

    def _handle(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        req = AppRequest(self.command, path, query, dict(self.headers.items()), body,
                         self.headers.get("Tidegate-Site", ""))
        try:
            resp = self.server.handler(req)
        except Exception:  # the program's fault: a 500, the server goes on
            self.send_error(500, "the program failed on this request")
            return
        self.send_response(resp.status)
        chunks: Iterable[bytes]
        if isinstance(resp.body, bytes):
            chunks = (resp.body,)
            resp.headers.setdefault("Content-Length", str(len(resp.body)))
        else:
            chunks = resp.body
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):  # the proxy (the browser) went away
            pass
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


class HandlerServer:
    """``handler`` serving ``site``'s paths under ``prefix``, from a loopback port.

    Args:
        engine: the daemon's client (or any engine that runs sites).
        site: an owned site's name or address.
        prefix: ``/folder/``.
        handler: called on a server thread per request.
        ttl: the lease's seconds; renewed every ``ttl / 3``.
        port: the loopback port to listen on (0: any free one).
    """

    def __init__(self, engine: EngineAPI, site: str, prefix: str, handler: Handler,
                 ttl: float = 30.0, port: int = 0):
        self.engine, self.site, self.prefix, self.ttl = engine, site, prefix, ttl
        self._server = _Server(("127.0.0.1", port), _Request)
        self._server.handler = handler
        self.target = f"http://127.0.0.1:{self._server.server_address[1]}"
        """Where the proxy forwards to."""
        self.last_error = ""
        """The last renewal's failure ("" after one that worked)."""
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> HandlerServer:
        """Serve, register (its errors raise here: not owned, a bad prefix), renew."""
        serving = threading.Thread(target=self._server.serve_forever, args=(0.25,),
                                   name=f"app-http{self.prefix}", daemon=True)
        serving.start()
        self._threads.append(serving)
        try:
            self._register()
        except BaseException:
            self._server.shutdown()
            self._server.server_close()
            raise
        renew = threading.Thread(target=self._renew, name=f"app-lease{self.prefix}",
                                 daemon=True)
        renew.start()
        self._threads.append(renew)
        return self

    def _register(self) -> None:
        cmd = HandlerRegister(self.site, self.prefix, self.target, self.ttl)
        self.engine.run(cmd).result(10.0)

    def _renew(self) -> None:
        wait = self.ttl / 3
        while not self._stop.wait(wait):
            try:
                self._register()
                self.last_error, wait = "", self.ttl / 3
            except Exception as exc:  # the daemon away: try again soon
                self.last_error, wait = str(exc) or type(exc).__name__, RETRY

    def close(self, unregister: bool = True) -> None:
        """Stop renewing, end the lease (unless ``unregister`` is False: it then lapses
        by itself) and stop serving."""
        self._stop.set()
        if unregister:
            try:
                self.engine.run(HandlerUnregister(self.site, self.prefix)).result(10.0)
            except Exception:  # the daemon away: the lease lapses by itself
                pass
        self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join(5.0)

    def __enter__(self) -> HandlerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
