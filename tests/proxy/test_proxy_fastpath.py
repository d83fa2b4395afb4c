"""The proxy's fast path (engine/proxy/fastpath.py) on a real uvloop server on 127.0.0.1:
it answers exactly what aiohttp would, only when it may, and hands everything else over
with the order of pipelined replies kept."""

from __future__ import annotations

import asyncio
import http.client
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvloop
from aiohttp import web

from tidegate.engine.chain.keys import SiteKey
from tidegate.engine.proxy.app import ProxyApp
from tidegate.engine.proxy.fastpath import KEEPALIVE, FastPath
from tidegate.engine.proxy.verify import Verifier
from tidegate.engine.sites.merkle import leaves_of, root_of_leaves
from tidegate.engine.sites.served import ServedFile, ServedSite, content_type

FILES = {
    "index.html": b"<!doctype html><title>fast</title><h1>fast</h1>\n",
    "style.css": b"h1 { color: teal }\n",
    "docs/index.html": b"<h1>docs</h1>\n",
}
PIECE = 16 << 10


@dataclass
class Server:
    port: int
    host: str
    address: str
    folder: Path
    fast: FastPath
    loop: asyncio.AbstractEventLoop
    bad: list[tuple[str, int, str, str]] = field(default_factory=list)

    def call(self, fn: object) -> None:
        done = threading.Event()

        def run() -> None:
            fn()  # type: ignore[operator]
            done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(5)


def served_site(address: str, folder: Path) -> ServedSite:
    files = {}
    for name in FILES:
        data = (folder / name).read_bytes()
        files[name] = ServedFile(name, len(data), root_of_leaves(leaves_of(data)),
                                 1_700_000_000, content_type(name))
    return ServedSite(address, "fast", 3, 2, folder, folder / "layers", PIECE, files,
                      frozenset({"", "docs"}))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    folder = tmp_path / "site"
    for name, data in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    address = SiteKey.generate().address
    site = served_site(address, folder)
    ready = threading.Event()
    state: dict[str, object] = {}
    bad: list[tuple[str, int, str, str]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        app = ProxyApp(sites=lambda: {address: site}, verifier=Verifier(8 << 20),
                       port=lambda: int(state["port"]),  # type: ignore[call-overload]
                       on_bad=lambda *a: bad.append(a))
        aio = web.Server(app.handle, access_log=None)
        fast = FastPath(app, aio)
        listener = await loop.create_server(fast.protocol, "127.0.0.1", 0)
        state.update(port=listener.sockets[0].getsockname()[1], fast=fast, loop=loop,
                     stop=stop)
        ready.set()
        await stop.wait()
        listener.close()
        for conn in list(fast.conns):
            conn.close()
        await aio.shutdown(1.0)

    thread = threading.Thread(target=uvloop.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    port = int(state["port"])  # type: ignore[call-overload]
    srv = Server(port, f"{address.removesuffix('.onion')}.localhost:{port}", address,
                 folder, state["fast"], state["loop"], bad)  # type: ignore[arg-type]
    try:
        yield srv
    finally:
        stop = state["stop"]
        srv.loop.call_soon_threadsafe(stop.set)  # type: ignore[attr-defined]
        thread.join(10)
        assert not thread.is_alive()


def exchange(port: int, raw: bytes, replies: int, method: str = "GET"
             ) -> list[http.client.HTTPResponse]:
    """Send ``raw`` at once; read ``replies`` responses in order off the one connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        out = []
        f = s.makefile("rb")
        for _ in range(replies):
            r = http.client.HTTPResponse(_Sock(f), method=method)  # type: ignore[arg-type]
            r.begin()
            r.body = r.read()  # type: ignore[attr-defined]
            out.append(r)
        return out


class _KeepOpen:
    """The connection's reader, which one response must not close for the next."""

    def __init__(self, f: io.BufferedReader) -> None:
        self.f = f

    def __getattr__(self, name: str) -> object:
        return getattr(self.f, name)

    def close(self) -> None:
        pass


class _Sock:
    def __init__(self, f: io.BufferedReader) -> None:
        self.f = _KeepOpen(f)

    def makefile(self, *_: object, **__: object) -> _KeepOpen:
        return self.f


def get(host: str, path: str, *extra: str) -> bytes:
    return "".join([f"GET {path} HTTP/1.1\r\nHost: {host}\r\n", *(e + "\r\n" for e in extra),
                    "\r\n"]).encode()


def warm(srv: Server, path: str) -> None:
    """The first GET goes through aiohttp (verified, then cached); later ones are fast."""
    (r,) = exchange(srv.port, get(srv.host, path), 1)
    assert r.status == 200


def test_fast_reply_is_what_aiohttp_sends(server: Server) -> None:
    warm(server, "/index.html")
    before = server.fast.answered
    (fast,) = exchange(server.port, get(server.host, "/index.html"), 1)
    assert server.fast.answered == before + 1
    # a header outside the plain set sends the same request through aiohttp
    (slow,) = exchange(server.port, get(server.host, "/index.html", "X-Anything: 1"), 1)
    assert server.fast.answered == before + 1
    assert fast.status == slow.status == 200
    assert fast.body == slow.body == FILES["index.html"]  # type: ignore[attr-defined]

    def heads(r: http.client.HTTPResponse) -> dict[str, str]:
        return {k.lower(): v for k, v in r.getheaders() if k.lower() != "date"}

    assert heads(fast) == heads(slow)
    assert fast.getheader("Date") and fast.getheader("Tidegate-Height") == "3"
    # a query string is ignored as aiohttp ignores it; "/" finds the index
    before = server.fast.answered
    replies = exchange(server.port, get(server.host, "/index.html?v=2") + get(server.host, "/"),
                       2)
    assert [r.body for r in replies] == [FILES["index.html"]] * 2  # type: ignore[attr-defined]
    assert server.fast.answered == before + 2


def test_pipelined_requests_keep_their_order_across_the_hand_off(server: Server) -> None:
    warm(server, "/index.html")
    warm(server, "/style.css")
    before = server.fast.answered
    raw = (get(server.host, "/index.html") + get(server.host, "/style.css", "Range: bytes=0-1")
           + get(server.host, "/style.css") + get(server.host, "/nope"))
    replies = exchange(server.port, raw, 4)
    assert [r.status for r in replies] == [200, 206, 200, 404]
    bodies = [r.body for r in replies]  # type: ignore[attr-defined]
    assert bodies[:3] == [FILES["index.html"], FILES["style.css"][:2], FILES["style.css"]]
    assert server.fast.answered == before + 1  # only the first; then aiohttp for good


@pytest.mark.parametrize("raw, status", [
    (b"GET /index.html HTTP/1.1\r\nHost: evil.example\r\n\r\n", 421),
    (b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n", 421),
    (b"GET /index.html HTTP/1.1\r\n\r\n", 400),
    (b"GET /index.html HTTP/1.1\r\nHost: %(host)s\r\nHost: evil.example\r\n\r\n", None),
    (b"POST /index.html HTTP/1.1\r\nHost: %(host)s\r\nContent-Length: 2\r\n\r\nhi", 405),
    (b"GET /%%2e%%2e/site.json HTTP/1.1\r\nHost: %(host)s\r\n\r\n", 404),
    (b"GET /st%%79le.css HTTP/1.1\r\nHost: %(host)s\r\n\r\n", 200),
    (b"GET /index.html HTTP/1.0\r\nHost: %(host)s\r\n\r\n", 200),
    (b"GET http://%(host)s/index.html HTTP/1.1\r\nHost: %(host)s\r\n\r\n", 200),
    (b"GET /docs HTTP/1.1\r\nHost: %(host)s\r\n\r\n", 301),
    (b"GET /index.html HTTP/1.1\r\nHost: %(host)s\r\nContent-Length: x\r\n\r\n", 400),
    (b"GET /index.html HTTP/1.1\r\nHost: %(host)s\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 400),
    (b"GET /index.html HTTP/9.9\r\nHost: %(host)s\r\n\r\n", 400),
    (b"GET /index.html\nHost: %(host)s\n\n", 400),
], ids=lambda v: v[:60].decode(errors="replace") if isinstance(v, bytes) else str(v))
def test_everything_else_is_aiohttps(server: Server, raw: bytes, status: int | None) -> None:
    warm(server, "/index.html")
    warm(server, "/style.css")
    before = server.fast.answered
    try:
        (r,) = exchange(server.port, raw % {b"host": server.host.encode()}, 1)
        got: int | None = r.status
    except (http.client.HTTPException, ConnectionError):
        got = None
    assert server.fast.answered == before
    if status is None:  # two Host headers: whatever aiohttp says, not the fast path's 200
        return
    assert got == status


def test_a_file_changed_on_disk_is_never_sent_from_the_cache(server: Server) -> None:
    warm(server, "/style.css")
    path = server.folder / "style.css"
    good = path.read_bytes()
    with open(path, "r+b") as f:  # same size, in place
        f.write(b"H")
    (r,) = exchange(server.port, get(server.host, "/style.css"), 1)
    assert r.status == 502 and good not in r.body  # type: ignore[attr-defined]
    assert server.bad and server.bad[-1][2] == "style.css"
    path.write_bytes(good)  # a new file (new inode) with the right bytes is served again
    before = server.fast.answered
    for _ in range(2):  # aiohttp verifies, then the fast path answers
        (r,) = exchange(server.port, get(server.host, "/style.css"), 1)
        assert r.body == good  # type: ignore[attr-defined]
    assert server.fast.answered == before + 1
    os.replace(server.folder / "index.html", path)  # renamed over: another identity
    (r,) = exchange(server.port, get(server.host, "/style.css"), 1)
    assert r.status == 502


def test_idle_connections_are_closed(server: Server) -> None:
    warm(server, "/index.html")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(get(server.host, "/index.html"))
        got = b""
        while not got.endswith(FILES["index.html"]):
            got += s.recv(65536)
        assert len(server.fast.conns) == 1
        server.call(lambda: server.fast.close_idle(time.monotonic() + KEEPALIVE / 2))
        assert len(server.fast.conns) == 1
        server.call(lambda: server.fast.close_idle(time.monotonic() + KEEPALIVE + 1))
        assert s.recv(10) == b""  # closed by the server
    deadline = time.monotonic() + 5
    while server.fast.conns and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not server.fast.conns
