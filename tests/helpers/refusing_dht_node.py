"""A DHT node on 127.0.0.1 that answers every query but refuses every BEP 44 put.

A real UDP KRPC node (BEP 5): ``ping``, ``find_node``, ``get_peers``, ``announce_peer`` and
``get`` (BEP 44, with a token and no item) are answered as a node that knows nobody else
would; ``put`` gets a KRPC error. A node that is reachable and stores nothing is what a
full or hostile DHT looks like to a publisher, and no libtorrent setting makes a real
node do it.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import fastbencode

PUT_REFUSED = 205  # BEP 44: "message (v field) too big" -- any error code refuses the put
SEQ_TOO_LOW = 302  # BEP 44: "sequence number less than current" (a seq picked too low)


class RefusingDhtNode:
    """``with RefusingDhtNode() as node:`` -- ``node.port`` on 127.0.0.1; ``node.puts``
    counts the puts it refused (with error ``code``), ``node.queries`` every query by
    name."""

    def __init__(self, code: int = PUT_REFUSED) -> None:
        self.code = code
        self.id = os.urandom(20)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.puts = 0
        self.queries: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="refusing-dht", daemon=True)

    def __enter__(self) -> RefusingDhtNode:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._answer(data)
            if reply is not None:
                self.sock.sendto(bytes(fastbencode.bencode(reply)), peer)

    def _answer(self, data: bytes) -> dict[bytes, Any] | None:
        try:
            msg = fastbencode.bdecode(data)
        except Exception:
            return None
        if not isinstance(msg, dict) or msg.get(b"y") != b"q":
            return None
        t = msg.get(b"t", b"")
        q = msg.get(b"q", b"")
        name = q.decode("ascii", "replace") if isinstance(q, bytes) else "?"
        self.queries[name] = self.queries.get(name, 0) + 1
        if q == b"put":
            self.puts += 1
            return {b"t": t, b"y": b"e", b"e": [self.code, b"refused"]}
        r: dict[bytes, Any] = {b"id": self.id, b"nodes": b""}
        if q in (b"get", b"get_peers"):
            r[b"token"] = b"tok"
        return {b"t": t, b"y": b"r", b"r": r}
