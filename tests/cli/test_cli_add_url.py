"""``tidegate add http://.../x.torrent`` fetches the file, against a real HTTP server on
127.0.0.1: the size limit (by Content-Length and while reading), HTTP errors, redirects
to other schemes, and no direct request at all when a proxy is configured."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli.test_cli_remote import tg
from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import DaemonProc, short_home

LIMIT = 64 * 1024


class Server:
    def __init__(self, torrent: bytes):
        self.torrent = torrent
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.paths.append(self.path)
                if self.path == "/ok.torrent":
                    self._send(200, outer.torrent)
                elif self.path == "/big.torrent":  # says how large it is
                    self._send(200, b"d" + b"x" * (LIMIT * 2))
                elif self.path == "/endless.torrent":  # does not say; never ends
                    self.send_response(200)
                    self.end_headers()
                    try:
                        while True:
                            self.wfile.write(b"x" * 65536)
                    except OSError:
                        pass
                elif self.path == "/elsewhere.torrent":
                    self.send_response(302)
                    self.send_header("Location", "ftp://127.0.0.1/x.torrent")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/moved.torrent":
                    self.send_response(301)
                    self.send_header("Location", "/ok.torrent")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._send(404, b"not here")

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def home_and_torrent() -> Iterator[tuple[Path, bytes, str]]:
    home = short_home(f"\n[limits]\nmax_torrent_file_size = {LIMIT}\n")
    created = make_torrent(make_payload(home / "src", sizes=(100_000,)), "v1")
    assert created.info_hash_v1 is not None
    yield home, created.data, created.info_hash_v1
    shutil.rmtree(home, ignore_errors=True)


def test_add_fetches_http_urls(daemons: list[DaemonProc],
                               home_and_torrent: tuple[Path, bytes, str]) -> None:
    home, data, tid = home_and_torrent
    server = Server(data)
    d = DaemonProc(home).start()
    daemons.append(d)
    try:
        env = {"NO_PROXY": "*"}
        ok = server.url("/ok.torrent")
        added = json.loads(tg(home, "add", ok, "--paused", "--json", env=env).stdout)
        assert added == [{"id": tid, "source": ok}]
        assert tid in tg(home, "info", ok, env=env).stdout  # info fetches it too
        listed = json.loads(tg(home, "ls", "--json").stdout)
        assert [t["id"] for t in listed] == [tid]

        # a redirect within http is followed (and the torrent is already there)
        r = tg(home, "add", server.url("/moved.torrent"), "--paused", ok=False, env=env)
        assert "/ok.torrent" in server.paths[-1]

        for path, words in (("/missing.torrent", "HTTP 404"),
                            ("/big.torrent", f"larger than the limit of {LIMIT}"),
                            ("/endless.torrent", f"larger than the limit of {LIMIT}"),
                            ("/elsewhere.torrent", "not http or https")):
            url = server.url(path)
            r = tg(home, "add", url, "--paused", ok=False, env=env)
            flat = " ".join(r.stderr.replace("│", " ").split())
            assert r.returncode == 1, r.stderr
            assert url in flat and words in flat, (path, r.stderr)
            assert "no such file" not in flat

        # nothing listens there: the error names the URL
        server.stop()
        url = server.url("/ok.torrent")
        r = tg(home, "add", url, ok=False, env=env)
        flat = " ".join(r.stderr.replace("│", " ").split())
        assert r.returncode == 1 and url in flat and "cannot fetch" in flat, r.stderr
        assert [t["id"] for t in json.loads(tg(home, "ls", "--json").stdout)] == [tid]
    finally:
        server.stop()


def test_no_direct_fetch_with_a_proxy(home_and_torrent: tuple[Path, bytes, str]) -> None:
    home, data, _tid = home_and_torrent
    with open(home / "config.toml", "a") as f:
        f.write('\n[proxy]\ntype = "socks5"\nhost = "127.0.0.1"\nport = 9\n')
    server = Server(data)
    try:
        r = tg(home, "add", server.url("/ok.torrent"), ok=False)
        assert r.returncode == 1
        assert "a proxy is set" in " ".join(r.stderr.replace("│", " ").split()), r.stderr
        assert server.paths == []
    finally:
        server.stop()


def test_fetch_gives_up_after_its_timeout_in_all() -> None:
    """A server that never answers, and one that sends a byte now and then: both end after
    the timeout, not after a socket timeout per byte."""
    import socket
    import time

    from tidegate.engine.config import LimitsConfig
    from tidegate.engine.errors import BadTorrentError
    from tidegate.engine.torrents.fetch import fetch

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b"d")
            except OSError:
                return
            time.sleep(0.1)

    dripping = socket.socket()
    dripping.bind(("127.0.0.1", 0))
    dripping.listen()
    threading.Thread(target=lambda: drip(dripping.accept()[0]), daemon=True).start()
    try:
        for server in (silent, dripping):
            url = f"http://127.0.0.1:{server.getsockname()[1]}/x.torrent"
            start = time.monotonic()
            with pytest.raises(BadTorrentError) as err:
                fetch(url, LimitsConfig(), timeout=1.0)
            assert time.monotonic() - start < 5
            assert url in str(err.value) and "no answer within 1 s" in str(err.value)
    finally:
        stop.set()
        silent.close()
        dripping.close()
