"""Building an embedded engine for one-shot commands from CLI options."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from tidegate.engine.config import LoadedConfig, load
from tidegate.engine.errors import InputError
from tidegate.engine.units import port_number

if TYPE_CHECKING:
    from tidegate.engine import Engine


def load_config(listen: str | None = None) -> LoadedConfig:
    """The user's config, with ``--listen`` applied on top."""
    loaded = load()
    if listen:
        net = msgspec.structs.replace(loaded.config.network,
                                      listen_interfaces=listen_interfaces(listen))
        cfg = msgspec.structs.replace(loaded.config, network=net)
        loaded = LoadedConfig(cfg, loaded.paths, loaded.file_values | {"network.listen_interfaces"},
                              loaded.file_exists)
    return loaded


def listen_interfaces(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or port_number(port, 0) is None:
        raise InputError(text, "--listen takes HOST:PORT (port 0 picks a free one)")
    return f"{host or '0.0.0.0'}:{port}"


def resolve_peer(text: str) -> str:
    """``host:port`` with a name resolved to an address (the engine takes IPs only)."""
    t = text.strip()
    if t.startswith("["):
        return t
    host, sep, port = t.rpartition(":")
    if not sep or port_number(port) is None:
        raise InputError(text, "a peer is HOST:PORT")
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InputError(text, f"cannot resolve {host!r}: {exc}") from None
    addr = str(infos[0][4][0])
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def oneshot_engine(loaded: LoadedConfig, key: str, download_dir: Path | None) -> Engine:
    """An engine whose resume data lives in its own folder for this one job.

    Re-running the same job finds the saved resume data and continues.
    """
    # libtorrent: imported by the command that uses it
    from tidegate.engine import Engine

    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    state = loaded.paths.data_dir / "oneshot" / digest
    return Engine(loaded, state_dir=state, restore=False, download_dir=download_dir)
