"""Wake a thread that sleeps in ``select``/``zmq.Poller``, from any thread.

A non-blocking socketpair: ``wake()`` writes a byte (a full pipe means the
sleeper is awake already), the sleeper polls ``reader`` and calls ``drain()``, then looks
at its work. A wake while one is pending writes nothing: a daemon loading 50,000
torrents emits an event for each, and a write per event took seconds of the engine's
time. (The sleeper clears the flag after reading the socket and before looking at its
work, and wakers queue their work before calling ``wake``, so no work is missed.)
The engine's command channel, the API server and the API client all sleep this way.
"""

from __future__ import annotations

import socket


class Waker:
    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)
        self._pending = False

    def wake(self) -> None:
        if self._pending:
            return  # a byte is waiting already: the sleeper will look
        self._pending = True
        try:
            self._writer.send(b"\0")
        except OSError:
            pass  # full: the sleeper is awake already (or closed at stop)

    def drain(self) -> None:
        drain(self.reader)
        self._pending = False

    def close(self) -> None:
        self.reader.close()
        self._writer.close()


def drain(sock: socket.socket) -> None:
    """Read everything waiting on a non-blocking socket and throw it away."""
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass
