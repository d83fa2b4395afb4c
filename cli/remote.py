"""Connecting the CLI to a running daemon, and naming torrents by id or number."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.engine.config import LoadedConfig, load
from tidegate.engine.state import Snapshot, TorrentState
from tidegate.engine.torrent_refs import resolve_torrent

if TYPE_CHECKING:
    from tidegate.engine.api import RemoteEngine

CONNECT_TIMEOUT = 3.0
"""Seconds to wait for a daemon before saying none is running."""


def add_connect_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect", metavar="ENDPOINT",
                   help="daemon endpoint (default: api.endpoint, or this user's ipc socket)")
    p.add_argument("--server-key", metavar="KEY",
                   help="the daemon's CURVE public key, for tcp:// endpoints")


def connect(args: argparse.Namespace, loaded: LoadedConfig | None = None) -> RemoteEngine:
    """A started client of the daemon named by ``--connect`` or the config.

    Raises:
        DaemonUnavailableError: no daemon answers; the message says how to start one.
    """
    # imported here: the API client (zmq, asyncio) costs ~50 ms of start-up that commands
    # without a daemon (download, create, seed) need not pay
    from tidegate.engine.api import RemoteEngine
    from tidegate.engine.api.keys import check_public_key
    from tidegate.engine.daemon import client_keys, default_endpoint

    loaded = loaded or load()
    api = loaded.config.api
    endpoint = getattr(args, "connect", None) or default_endpoint(loaded)
    keys = server_key = None
    if endpoint.startswith("tcp://"):
        keys = client_keys(loaded)
        server_key = getattr(args, "server_key", None) or api.server_key or _local_server_key(
            loaded)
        if server_key:
            server_key = check_public_key(server_key, "--server-key")
    client = RemoteEngine(endpoint, client_keys=keys, server_key=server_key,
                          timeout=api.request_timeout, max_message_size=api.max_message_size)
    return client.start(CONNECT_TIMEOUT)


def _local_server_key(loaded: LoadedConfig) -> str | None:
    from tidegate.engine.daemon import keys_dir

    public = keys_dir(loaded) / "server.key"
    if not public.exists():
        return None
    for line in public.read_text().splitlines():
        if "public-key" in line:
            return line.split("=", 1)[1].strip().strip('"')
    return None


def ordered(snapshot: Snapshot) -> list[TorrentState]:
    """Torrents in list order: by their numbers (``TorrentState.number``), which follow
    the order they were added in."""
    return sorted(snapshot.torrents.values(),
                  key=lambda t: (t.number or 1 << 62, t.added_time, t.name, t.id))


resolve = resolve_torrent
"""The torrent's id from its number or an info-hash prefix (engine/torrent_refs.py)."""


def resolve_all(snapshot: Snapshot, refs: Iterable[str]) -> list[str]:
    """Every id, resolved before anything is done, so one typo changes nothing."""
    ids = [resolve(snapshot, r) for r in refs]
    return list(dict.fromkeys(ids))


def local_folder(text: str | None) -> str | None:
    """A folder given on the command line, absolute: the daemon has another working
    folder, so a relative one is resolved here before it is sent."""
    return str(Path(text).expanduser().resolve()) if text else None
