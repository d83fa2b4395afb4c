"""A video page for a torrent's video, streamed while the torrent downloads (seek works).

    python examples/video_page.py TORRENT_ID [--file N] [--port P] [--connect ENDPOINT]

It uses only tidegate's program API: ``AppClient.connect`` to the running daemon
(``tidegate daemon``) and ``TorrentFileStream``, which reads the file with the daemon's
``torrent_read`` command. It serves on 127.0.0.1 a page with a ``<video>`` element and the
video's bytes at ``/video`` with Range support (206, Content-Range, HEAD), so the browser
plays from the start and, when the user seeks, asks for bytes far ahead: the daemon asks
the swarm for those pieces first (piece deadlines) and the answer comes as soon as they
have passed their hash check, long before the download gets there by itself.

The first line on stdout is ``serving http://127.0.0.1:PORT/ ...``; each request is
logged on stderr (method, path, Range, status).
"""

from __future__ import annotations

import argparse
import html
import io
import mimetypes
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePosixPath
from typing import Any

from tidegate.engine.api.torrent_stream import TorrentFileStream, torrent_files
from tidegate.engine.apps.client import AppClient
from tidegate.engine.errors import TidegateError
from tidegate.engine.interface import EngineAPI
from tidegate.engine.state import FileState
from tidegate.engine.torrent_refs import resolve_torrent

CHUNK = 256 << 10
"""Bytes per ``torrent_read``: small enough that the first bytes go out quickly."""
MAX_REQUESTS = 16
"""Requests served at once; more get 503 (a player opens two or three)."""
METADATA_WAIT = 60.0
"""Seconds to wait for a magnet's metadata before giving up."""

VIDEO_TYPES = {".webm": "video/webm", ".mkv": "video/x-matroska", ".mp4": "video/mp4",
               ".m4v": "video/mp4", ".mov": "video/quicktime", ".ogv": "video/ogg",
               ".ogg": "video/ogg", ".avi": "video/x-msvideo"}

PAGE = """<!doctype html><meta charset=utf-8><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}video{{max-width:100%}}</style>
<h1>{title}</h1>
<video id=video src="/video" controls preload=metadata></video>
<p>{size:,} bytes, streamed from torrent <code>{tid}</code> while it downloads.</p>
"""

_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")  # bounded: int() of any digits


def content_type(path: str) -> str:
    ext = PurePosixPath(path).suffix.lower()
    return VIDEO_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """``(start, end)`` (end exclusive) of a single byte range; None: no usable Range (send
    the whole file); False: unsatisfiable (416)."""
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None  # malformed or several ranges: ignoring Range is allowed (RFC 9110)
    first, last = m.group(1), m.group(2)
    if not first:  # the last N bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else False
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        return False
    return start, end


def pick_file(files: tuple[FileState, ...], wanted: int | None) -> FileState:
    if wanted is not None:
        for f in files:
            if f.index == wanted:
                return f
        raise SystemExit(f"the torrent has no file {wanted}; its files: "
                         + ", ".join(f"{f.index} {f.path!r}" for f in files))
    videos = [f for f in files if PurePosixPath(f.path).suffix.lower() in VIDEO_TYPES]
    return max(videos or files, key=lambda f: f.size)


class VideoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, engine: EngineAPI, torrent_id: str, f: FileState):
        super().__init__(("127.0.0.1", port), Handler)
        self.engine = engine
        self.torrent_id = torrent_id
        self.file = f
        self.slots = threading.BoundedSemaphore(MAX_REQUESTS)


class Handler(BaseHTTPRequestHandler):
    server: VideoServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # one line per answer instead (see _log)

    def _log(self, status: int, waited: float | None = None) -> None:
        rng = self.headers.get("Range", "-")
        took = "" if waited is None else f" first_bytes_after={waited:.2f}s"
        print(f"{self.command} {self.path} range={rng} status={status}{took}", file=sys.stderr,
              flush=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        if not self.server.slots.acquire(blocking=False):
            self._plain(503, "too many requests at once", body)
            return
        try:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            if host not in ("127.0.0.1", "localhost"):
                # a page elsewhere could rebind its own name to 127.0.0.1 and read this
                self._plain(403, "only http://127.0.0.1/ or http://localhost/", body)
            elif self.path == "/":
                self._page(body)
            elif self.path == "/video":
                self._video(body)
            else:
                self._plain(404, "not found", body)
        except (BrokenPipeError, ConnectionResetError):
            # the browser went away (a seek closes the previous request)
            print(f"{self.command} {self.path} range={self.headers.get('Range', '-')} "
                  "closed by the browser", file=sys.stderr, flush=True)
        finally:
            self.server.slots.release()

    def _plain(self, status: int, text: str, body: bool) -> None:
        data = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)
        self._log(status)

    def _page(self, body: bool) -> None:
        f = self.server.file
        data = PAGE.format(title=html.escape(PurePosixPath(f.path).name), size=f.size,
                           tid=html.escape(self.server.torrent_id)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'")
        self.end_headers()
        if body:
            self.wfile.write(data)
        self._log(200)

    def _video(self, body: bool) -> None:
        f = self.server.file
        try:
            stream = TorrentFileStream(self.server.engine, self.server.torrent_id, f.index,
                                       chunk=CHUNK)
        except (TidegateError, TimeoutError) as exc:
            self._plain(502, f"the daemon refused: {exc}", body)
            return
        size = stream.size
        span = parse_range(self.headers.get("Range"), size)
        if span is False:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self._log(416)
            return
        start, end = span if isinstance(span, tuple) else (0, size)
        status = 206 if isinstance(span, tuple) else 200
        first = b""
        started = time.monotonic()
        if body and end > start:
            stream.seek(start)
            try:  # the first chunk before the headers: a stall is a 504, not a cut body
                first = stream.read(min(CHUNK, end - start))
            except (TidegateError, TimeoutError) as exc:
                self._plain(504, f"the torrent did not deliver: {exc}", body)
                return
        self.send_response(status)
        self.send_header("Content-Type", content_type(f.path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self._log(status, time.monotonic() - started)
        if not body:
            return
        self._send_body(stream, first, start, end)

    def _send_body(self, stream: io.RawIOBase, first: bytes, start: int, end: int) -> None:
        sent = 0
        chunk = first
        while True:
            self.wfile.write(chunk)
            sent += len(chunk)
            if start + sent >= end or not chunk:
                break
            try:
                chunk = stream.read(min(CHUNK, end - start - sent)) or b""
            except (TidegateError, TimeoutError) as exc:
                print(f"stream stalled at byte {start + sent}: {exc}", file=sys.stderr,
                      flush=True)
                self.close_connection = True  # the body is short: the browser asks again
                return


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("torrent_id", help="the torrent: its number in `tidegate ls` or an "
                   "info-hash prefix")
    p.add_argument("--file", type=int, default=None,
                   help="the file's index (default: the largest video file)")
    p.add_argument("--port", type=int, default=8480, help="port on 127.0.0.1 (0: any free)")
    p.add_argument("--connect", metavar="ENDPOINT",
                   help="the daemon's endpoint (default: api.endpoint, or this user's ipc socket)")
    p.add_argument("--server-key", metavar="KEY",
                   help="the daemon's CURVE public key, for tcp:// endpoints")
    args = p.parse_args(argv)
    try:
        app = AppClient.connect(args.connect, args.server_key)
    except TidegateError as exc:
        print(f"video_page: {exc}", file=sys.stderr)
        return 2
    engine = app.engine
    try:
        tid = resolve_torrent(engine.snapshot, args.torrent_id)
        try:
            engine.wait_for(lambda s: tid in s.torrents and s.torrents[tid].has_metadata,
                            METADATA_WAIT)
        except TimeoutError:
            raise TimeoutError(f"torrent {tid} got no metadata within {METADATA_WAIT:g} s "
                               "(no peer has it?)") from None
        f = pick_file(torrent_files(engine, tid), args.file)
        TorrentFileStream(engine, tid, f.index).close()  # refusals show here, before serving
        server = VideoServer(args.port, engine, tid, f)
    except (TidegateError, TimeoutError, OSError) as exc:
        print(f"video_page: {exc}", file=sys.stderr)
        app.close()
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    port = server.server_address[1]
    print(f"serving http://127.0.0.1:{port}/ file {f.index} ({f.path!r}, {f.size} bytes)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
