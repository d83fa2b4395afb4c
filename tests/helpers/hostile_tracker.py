"""A real tracker process that answers whatever bytes a test tells it to.

Run as ``python -m tests.helpers.hostile_tracker``; it prints ``{"http": PORT, "udp": PORT}`` on
one line and serves on 127.0.0.1 until it is terminated.

* HTTP: ``GET /announce?r=<hex>&...`` is answered ``200`` with ``bytes.fromhex(<hex>)``
  as the body, so each torrent's announce URL carries its own answer (any bencoded dict,
  any bytes); without ``r`` it answers an empty peer list. (The path must be
  ``/announce``: libtorrent's SSRF mitigation refuses other paths on loopback.)
* UDP (BEP 15): a connect is answered with a connection id; an announce is answered with
  an error (action 3) whose message is ``bytes.fromhex`` of the value that the JSON file
  given as ``--udp-map`` holds under the info-hash in hex (re-read at every request), or
  an empty peer list when it has none.

``TrackerProc`` starts and stops it by its pid for a test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EMPTY = b"d8:intervali1800e5:peers0:e"


class _Http(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        query = self.path.partition("?")[2]
        body = EMPTY
        for part in query.split("&"):
            if part.startswith("r="):
                try:
                    body = bytes.fromhex(part[2:])
                except ValueError:
                    body = EMPTY
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve_udp(sock: socket.socket, mapping: Path | None) -> None:
    while True:
        try:
            data, addr = sock.recvfrom(2048)
        except OSError:
            return
        if len(data) < 16:
            continue
        action, txn = struct.unpack(">II", data[8:16])
        if action == 0:
            sock.sendto(struct.pack(">IIQ", 0, txn, 0x1234_5678_9ABC_DEF0), addr)
        elif action == 1 and len(data) >= 36:
            ih = data[16:36].hex()
            table: dict[str, str] = {}
            if mapping is not None:
                try:
                    table = json.loads(mapping.read_text())
                except (OSError, ValueError):
                    table = {}
            if ih in table:
                sock.sendto(struct.pack(">II", 3, txn) + bytes.fromhex(table[ih]), addr)
            else:
                sock.sendto(struct.pack(">IIIII", 1, txn, 1800, 0, 0), addr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--udp-map", type=Path)
    args = parser.parse_args()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
    http.daemon_threads = True
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    threading.Thread(target=_serve_udp, args=(udp, args.udp_map), daemon=True).start()
    print(json.dumps({"http": http.server_address[1], "udp": udp.getsockname()[1]}),
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    http.serve_forever()


class TrackerProc:
    """The tracker as a child process, stopped by its pid."""

    def __init__(self, udp_map: Path | None = None):
        cmd = [sys.executable, "-m", "tests.helpers.hostile_tracker"]
        if udp_map is not None:
            cmd += ["--udp-map", str(udp_map)]
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the hostile tracker did not start")
        ports = json.loads(line)
        self.http_port: int = ports["http"]
        self.udp_port: int = ports["udp"]

    def http_url(self, answer: bytes | None = None) -> str:
        """An announce URL whose answer is ``answer`` (an empty peer list when None)."""
        if answer is None:
            return f"http://127.0.0.1:{self.http_port}/announce"
        return f"http://127.0.0.1:{self.http_port}/announce?r={answer.hex()}"

    def udp_url(self) -> str:
        return f"udp://127.0.0.1:{self.udp_port}/announce"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


if __name__ == "__main__":
    main()
