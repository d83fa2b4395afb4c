"""How many connections the proxy may hold: file descriptors are the process's, and
libzmq aborts the whole daemon when it cannot get one for an API connection, so the
proxy stops accepting well before the process runs out (sans-IO but for
:func:`fds_in_use`).

The cap is what is left of ``RLIMIT_NOFILE`` (soft) after the descriptors open when the
proxy starts, libtorrent's peers (its ``connections_limit``, which libtorrent itself
clamps to 80% of the limit), :data:`ENGINE_FILES` for libtorrent's files and sockets and
:data:`API_RESERVE` for the engine API, the bus and everything else; halved because a
connection may hold a file it is serving; never below :data:`MIN_CONNECTIONS`.
"""

from __future__ import annotations

import os
import resource

API_RESERVE = 128
"""Descriptors kept for the API server and its clients, the bus, tor, resume files."""
ENGINE_FILES = 64
"""libtorrent's open files, listen and DHT sockets, its epoll and pipes."""
PER_CONNECTION = 2
"""A connection, and the file a response reads from it."""
MIN_CONNECTIONS = 16
MAX_CONNECTIONS = 1 << 16


def connection_cap(soft_limit: int, in_use: int, peers: int) -> int:
    """The proxy's connection cap for a process whose descriptor limit is
    ``soft_limit``, with ``in_use`` open now and libtorrent allowed ``peers``."""
    lt_peers = min(peers, max(5, (soft_limit - 20) * 8 // 10))
    free = soft_limit - in_use - lt_peers - ENGINE_FILES - API_RESERVE
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, free // PER_CONNECTION))


def fds_in_use() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64


def soft_fd_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else MAX_CONNECTIONS * PER_CONNECTION


class Gate:
    """The connections of every listener of one proxy, against one cap (event loop
    thread only)."""

    def __init__(self, cap: int = MAX_CONNECTIONS) -> None:
        self.cap = cap
        self.open = 0
        self.refused = 0

    def admit(self) -> bool:
        if self.open >= self.cap:
            self.refused += 1
            return False
        self.open += 1
        return True

    def release(self) -> None:
        self.open = max(0, self.open - 1)
