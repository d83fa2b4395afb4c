"""A real BitTorrent peer on 127.0.0.1 that says whatever a test tells it to.

It accepts connections, answers the handshake for whatever info-hash it is asked about
with the peer id the test set for that hash, then sends an extension handshake (BEP 10)
whose client name ``v`` (and any other keys) are the test's bytes, and keeps the
connection open for a while. Enough for libtorrent to list it among a torrent's peers
with that client name.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import fastbencode

PSTR = b"\x13BitTorrent protocol"
RESERVED = bytes([0, 0, 0, 0, 0, 0x10, 0, 0])  # extension protocol (BEP 10)


class HostilePeer:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.says: dict[bytes, tuple[bytes, dict[bytes, Any]]] = {}
        """info-hash (20 bytes) -> (peer id, extension handshake dict)."""
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="hostile-peer", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.append(conn)
        try:
            conn.settimeout(3.0)
            hello = b""
            while len(hello) < 68:
                chunk = conn.recv(68 - len(hello))
                if not chunk:
                    return
                hello += chunk
            ih = hello[28:48]
            peer_id, ext = self.says.get(ih, (b"-XX0000-" + b"0" * 12, {}))
            conn.sendall(PSTR + RESERVED + ih + peer_id[:20].ljust(20, b"\0"))
            body = b"\x14\x00" + bytes(fastbencode.bencode(ext))
            conn.sendall(len(body).to_bytes(4, "big") + body)
            # keep it up (reading what comes) until told to stop or the other side closes
            while not self._stop.is_set():
                try:
                    if not conn.recv(65536):
                        return
                except TimeoutError:
                    continue
        except OSError:
            return
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(5)
