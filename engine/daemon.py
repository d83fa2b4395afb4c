"""The headless daemon: a Node (the engine and its services) plus an ApiServer, one per
data folder.

The TUI on an embedded engine runs the same :class:`Daemon` (``cli/commands/tui.py``),
so every ``tidegate`` command reaches the engine the TUI shows.

Start order matters: the daemon lock is taken before any socket is bound, so a
second daemon on the same data folder fails with the holder's pid instead of
replacing the first one's ipc socket files. Stop order: close the API (no new
commands), then stop the engine (which saves resume data), then release.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import zmq

from .api import sockets
from .api.keys import KeyPair, check_public_key, load_or_create
from .config import LoadedConfig
from .lockfile import PidLock
from .paths import private_dir

if TYPE_CHECKING:
    # imported by Daemon.start: the CLI takes keys and endpoints from here without them
    # (the Node's Engine imports libtorrent)
    from .api.client import RemoteEngine
    from .api.server import ApiServer
    from .engine import Engine
    from .interface import EngineAPI, ServedEngine
    from .node import Node

    def _all_are_engines(local: Engine, node: Node, remote: RemoteEngine) -> list[EngineAPI]:
        """mypy proves here that each satisfies the one interface frontends use."""
        return [local, node, remote]

    def _both_can_be_served(local: Engine, node: Node) -> list[ServedEngine]:
        return [local, node]


def keys_dir(loaded: LoadedConfig) -> Path:
    return loaded.paths.data_dir / "keys"


def default_endpoint(loaded: LoadedConfig) -> str:
    """The command endpoint from the config, or the ipc socket in the runtime folder."""
    configured = loaded.config.api.endpoint
    if configured:
        return sockets.check_endpoint(configured, "api.endpoint")
    return sockets.check_endpoint(f"ipc://{loaded.paths.runtime_dir / 'api.sock'}",
                                  "api.endpoint")


def publish_endpoint_for(endpoint: str, configured: str = "") -> str:
    """The PUB endpoint: configured, or next to the command endpoint."""
    if configured:
        return sockets.check_endpoint(configured, "api.publish_endpoint")
    if endpoint.startswith("ipc://"):
        path = Path(endpoint[len("ipc://"):])
        return f"ipc://{path.with_name(path.stem + '-events' + path.suffix)}"
    if endpoint.startswith("tcp://"):
        host, _, port = endpoint.rpartition(":")
        return f"{host}:{'*' if port in ('*', '0') else int(port) + 1}"
    return endpoint + "-events"


def server_keys(loaded: LoadedConfig) -> KeyPair:
    return load_or_create(keys_dir(loaded), "server")


def client_keys(loaded: LoadedConfig) -> KeyPair:
    return load_or_create(keys_dir(loaded), "client")


def authorized_keys(loaded: LoadedConfig) -> list[str]:
    return [check_public_key(k, f"api.authorized_keys[{i}]")
            for i, k in enumerate(loaded.config.api.authorized_keys)]


class Daemon:
    """Run the engine headless and serve it.

    Args:
        loaded: configuration and paths.
        endpoint: command endpoint, overriding the config.
        publish_endpoint: PUB endpoint, overriding the config.
    """

    def __init__(self, loaded: LoadedConfig, *, endpoint: str | None = None,
                 publish_endpoint: str | None = None, context: zmq.Context | None = None):
        self.loaded = loaded
        self.endpoint = (sockets.check_endpoint(endpoint, "--endpoint") if endpoint
                         else default_endpoint(loaded))
        self.publish_endpoint = publish_endpoint_for(
            self.endpoint, publish_endpoint or loaded.config.api.publish_endpoint)
        self.context = context or zmq.Context.instance()
        self.engine: Node | None = None
        self.server: ApiServer | None = None
        self.info_file = loaded.paths.runtime_dir / "daemon.json"
        self._lock = PidLock(loaded.paths.data_dir / "daemon.lock",
                             f"the data folder {loaded.paths.data_dir}")
        self._stop = threading.Event()
        self.on_stop: Callable[[], None] | None = None
        """Also called by :meth:`request_stop` (the TUI that serves its engine quits)."""
        self.failure = ""
        """Set when the daemon stops because a part that cannot be restarted in place (the
        torrent engine) died: the process must exit non-zero (docs/watcher.md)."""

    def start(self) -> Daemon:
        """Lock the data folder, start the engine, bind the API."""
        from .api.server import ApiServer
        from .node import Node

        self._lock.acquire()
        try:
            tcp = sockets.is_tcp(self.endpoint) or sockets.is_tcp(self.publish_endpoint)
            keys = server_keys(self.loaded) if tcp else None
            allowed = authorized_keys(self.loaded) if tcp else []
            self.engine = Node(self.loaded, on_fatal=self.fail).start()
            self.server = ApiServer(
                self.engine, self.endpoint, self.publish_endpoint, keys=keys,
                authorized_keys=allowed, max_message_size=self.loaded.config.api.max_message_size,
                context=self.context, on_shutdown=self.request_stop)
            self.server.start()
            self._write_info(keys)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_info(self, keys: KeyPair | None) -> None:
        assert self.server is not None
        info = {"pid": os.getpid(), "endpoint": self.server.bound_endpoint,
                "publish": self.server.bound_publish,
                "server_key": keys.public if keys else None}
        private_dir(self.info_file.parent)
        tmp = self.info_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        os.replace(tmp, self.info_file)

    @property
    def info(self) -> dict[str, object]:
        """What the daemon serves: pid, endpoints, the server's public key."""
        return dict(json.loads(self.info_file.read_text()))

    def fail(self, why: str) -> None:
        """Stop because of an unrecoverable failure (thread-safe): :attr:`failure` says
        why, and the process exits non-zero so a supervisor (systemd) starts it again."""
        if not self.failure:
            self.failure = why or "an unrecoverable failure"
        self.request_stop()

    def request_stop(self) -> None:
        """Ask :meth:`wait` to return (thread- and signal-safe)."""
        self._stop.set()
        if self.on_stop is not None:
            self.on_stop()

    def wait(self, timeout: float | None = None) -> bool:
        """True once a stop was requested (``shutdown`` command or a signal)."""
        return self._stop.wait(timeout)

    def stop(self) -> None:
        """Close the API, save resume data, stop the engine, release the lock."""
        try:
            if self.server is not None:
                self.server.stop()
                self.server = None
            if self.engine is not None:
                self.engine.stop()
                self.engine = None
        finally:
            try:
                self.info_file.unlink()
            except OSError:
                pass
            self._lock.release()
