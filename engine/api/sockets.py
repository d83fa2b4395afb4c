"""Endpoints and socket options every engine-API socket gets.

Measured pitfalls of pyzmq 27 / libzmq 4.3 shape this module (../docs/api.md):
every socket gets a maximum message size and bounded queues; ipc socket files
are created 0755 under the default umask, so a folder created for them is 0700 and the
file chmod-ed 0600 right after bind; a ``tcp://`` endpoint is never bound or
dialled without CURVE.
"""

from __future__ import annotations

import os
from pathlib import Path

import zmq

from ..errors import ConfigError
from ..units import port_number
from .keys import KeyPair

IPC_PATH_MAX = 107
"""Longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL)."""

SCHEMES = ("ipc://", "tcp://", "inproc://")


def check_endpoint(endpoint: str, where: str = "endpoint") -> str:
    """A usable ZeroMQ endpoint, or a ConfigError that says what is wrong."""
    ep = endpoint.strip()
    if not ep.startswith(SCHEMES):
        raise ConfigError(f"{endpoint!r} is not an ipc://PATH, tcp://HOST:PORT or "
                          "inproc://NAME endpoint", key=where)
    if ep.startswith("ipc://"):
        path = ep[len("ipc://"):]
        if not path.startswith("/"):
            raise ConfigError(f"{endpoint!r}: an ipc endpoint needs an absolute path", key=where)
        if len(path.encode()) > IPC_PATH_MAX:
            raise ConfigError(f"{endpoint!r}: socket path is {len(path.encode())} bytes, over "
                              f"the {IPC_PATH_MAX}-byte limit of unix sockets; use a shorter "
                              "TIDEGATE_HOME or set api.endpoint", key=where)
    if ep.startswith("tcp://"):
        host, sep, port = ep[len("tcp://"):].rpartition(":")
        if not sep or not host or not (port == "*" or port_number(port, 0) is not None):
            raise ConfigError(f"{endpoint!r} is not tcp://HOST:PORT", key=where)
    return ep


def is_tcp(endpoint: str) -> bool:
    return endpoint.startswith("tcp://")


def ipc_path(endpoint: str) -> Path | None:
    return Path(endpoint[len("ipc://"):]) if endpoint.startswith("ipc://") else None


def configure(sock: zmq.Socket, max_message_size: int, hwm: int = 1000) -> None:
    """Options every API socket needs: a size limit, bounded queues, no linger."""
    sock.setsockopt(zmq.MAXMSGSIZE, max_message_size)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.LINGER, 0)
    # A peer that vanished without closing its tcp connection is dropped in seconds.
    sock.setsockopt(zmq.HEARTBEAT_IVL, 1000)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)


def bind(sock: zmq.Socket, endpoint: str, keys: KeyPair | None) -> str:
    """Bind with the endpoint's safety rules; returns the endpoint actually bound."""
    if is_tcp(endpoint):
        if keys is None:
            raise ConfigError(f"refusing to listen on {endpoint} without CURVE keys: "
                              "unauthenticated tcp is never allowed")
        sock.curve_server = True
        sock.curve_secretkey = keys.secret.encode()
        sock.curve_publickey = keys.public.encode()
    path = ipc_path(endpoint)
    try:
        if path is not None and not path.parent.exists():
            # only a folder we create is narrowed (never a shared one such as /tmp)
            path.parent.mkdir(parents=True, mode=0o700)
        sock.bind(endpoint)
        if path is not None:
            os.chmod(path, 0o600)
    except (zmq.ZMQError, OSError) as exc:
        raise ConfigError(f"cannot listen on {endpoint}: {exc}") from None
    last = sock.getsockopt(zmq.LAST_ENDPOINT)
    return last.decode() if isinstance(last, bytes) else str(last)


def connect(sock: zmq.Socket, endpoint: str, client: KeyPair | None,
            server_public: str | None) -> None:
    """Connect, as a CURVE client for tcp endpoints."""
    if is_tcp(endpoint):
        if client is None or not server_public:
            raise ConfigError(f"connecting to {endpoint} needs CURVE keys: the daemon's public "
                              "key (api.server_key or --server-key) and this client's key pair")
        sock.curve_serverkey = server_public.encode()
        sock.curve_publickey = client.public.encode()
        sock.curve_secretkey = client.secret.encode()
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        raise ConfigError(f"cannot connect to {endpoint}: {exc}") from None


def remove_ipc_file(endpoint: str) -> None:
    path = ipc_path(endpoint)
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass
