"""A real HTTP server on 127.0.0.1 serving feeds and .torrent files for the RSS tests."""

from __future__ import annotations

import select
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from tests.conftest import make_payload, make_torrent


class FeedServer:
    """Serves ``routes`` (path -> (body, content type)); records every path asked."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.asked: list[str] = []
        self.no_length: set[str] = set()
        """Paths answered without Content-Length (the body ends when the connection
        closes)."""
        self.slow: dict[str, float] = {}
        """Paths answered after this many seconds."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.asked.append(self.path)
                got = server.routes.get(self.path)
                if got is None:
                    self.send_error(404)
                    return
                body, kind = got
                time.sleep(server.slow.get(self.path, 0))
                self.send_response(200)
                self.send_header("Content-Type", kind)
                if self.path not in server.no_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, kind: str = "application/rss+xml") -> str:
        self.routes[path] = (body, kind)
        return self.url(path)

    def torrent(self, root: Path, name: str) -> tuple[str, str]:
        """Serve a new real .torrent at /t/<name>.torrent: (its URL, its magnet)."""
        created = make_torrent(make_payload(root / "payloads", name, sizes=(20_000,)))
        return self.serve(f"/t/{name}.torrent", created.data, "application/x-bittorrent"), \
            created.magnet


def rss(items: list[tuple[str, str, str]], title: str = "feed") -> bytes:
    """An RSS 2.0 feed; items (title, guid, url): a magnet goes in <link>, a .torrent URL
    in an <enclosure>."""
    out = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
           f"<title>{escape(title)}</title><link>http://example.invalid/</link>"
           "<description>d</description>"]
    for t, guid, url in items:
        where = (f"<link>{escape(url)}</link>" if url.startswith("magnet:") else
                 f'<enclosure url="{escape(url)}" length="1" type="application/x-bittorrent"/>')
        out.append(f"<item><title>{escape(t)}</title><guid>{escape(guid)}</guid>{where}</item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


def atom(items: list[tuple[str, str, str]], title: str = "atom feed") -> bytes:
    """An Atom 1.0 feed; each entry's link is its magnet or .torrent URL."""
    out = ['<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
           f"<title>{escape(title)}</title><id>urn:x</id><updated>2026-01-01T00:00:00Z</updated>"]
    for t, guid, url in items:
        rel = ("" if url.startswith("magnet:")
               else ' rel="enclosure" type="application/x-bittorrent"')
        out.append(f"<entry><title>{escape(t)}</title><id>{escape(guid)}</id>"
                   f"<updated>2026-01-01T00:00:00Z</updated>"
                   f'<link href="{escape(url)}"{rel}/></entry>')
    out.append("</feed>")
    return "".join(out).encode()


class ConnectProxy:
    """An HTTP proxy that takes only CONNECT (as python-socks speaks to one), sending each
    tunnel to ``route(host, port)``; records every (host, port) asked."""

    def __init__(self, route: Callable[[str, int], tuple[str, int] | None]):
        self.route = route
        self.requests: list[tuple[str, int]] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(4096).decode("latin-1").split()
                while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
                    pass
                if len(line) < 2 or line[0] != "CONNECT":
                    self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                host, _, port = line[1].rpartition(":")
                proxy.requests.append((host, int(port)))
                target = proxy.route(host, int(port))
                if target is None:
                    self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                    return
                with socket.create_connection(target, timeout=10) as up:
                    self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self.wfile.flush()
                    pipe(self.connection, up)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ConnectProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def pipe(a: socket.socket, b: socket.socket, timeout: float = 15.0) -> None:
    """Copy both ways until either side closes (or ``timeout`` seconds pass)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([a, b], [], [], 0.5)
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)
