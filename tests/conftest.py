"""Shared fixtures: real engines on 127.0.0.1, payloads, torrents.

Every engine a test starts is stopped by the fixture, whatever the test does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tidegate.engine import AddRequest, Engine
from tidegate.engine.config import LOOPBACK_NETWORK, LoadedConfig, from_dict, loopback_toml
from tidegate.engine.metainfo import Created, CreateSpec, create_torrent
from tidegate.engine.paths import resolve_paths

LOOPBACK: dict[str, Any] = {
    "network": dict(LOOPBACK_NETWORK),
    "storage": {"resume_save_interval": 1.0},
    "web": {"port": 0},  # several engines per test: each proxy on a free port
}

LOOPBACK_TOML = "\n" + loopback_toml() + "\n[web]\nport = 0\n"


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for k, v in extra.items():
        if isinstance(v, dict):
            out.setdefault(k, {}).update(v)
        else:
            out[k] = v
    return out


EngineFactory = Callable[..., Engine]


def build_engine(home: Path, **sections: dict[str, Any]) -> Engine:
    """An unstarted engine on loopback whose TIDEGATE_HOME is ``home``."""
    cfg = from_dict(merge(LOOPBACK, sections))
    return Engine(LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(home)}), frozenset(),
                               False))


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[EngineFactory]:
    """``make_engine(name, **config_sections)`` -> a started Engine on loopback."""
    started: list[Engine] = []

    def factory(name: str, start: bool = True, **sections: dict[str, Any]) -> Engine:
        engine = build_engine(tmp_path / name, **sections)
        if start:
            engine.start()
            started.append(engine)
        return engine

    yield factory
    for engine in started:
        engine.stop()


def port_of(engine: Engine) -> int:
    snap = engine.wait_for(lambda s: s.stats.listen_port > 0, 10)
    return snap.stats.listen_port


def make_payload(root: Path, name: str = "payload",
                 sizes: tuple[int, ...] = (3_000_000, 5)) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for i, size in enumerate(sizes):
        (folder / f"file{i}.bin").write_bytes(os.urandom(size))
    return folder


def make_torrent(folder: Path, fmt: str = "hybrid", **kw: Any) -> Created:
    return create_torrent(CreateSpec(path=str(folder), format=fmt, **kw))  # type: ignore[arg-type]


def start_seed(engine: Engine, created: Created, folder: Path) -> str:
    tid = engine.add(AddRequest(torrent=created.data, save_path=created.save_path)).result(10)
    engine.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding", 15)
    return tid


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# The real-daemon fixture, available to every test module (defined next to DaemonProc).
from tests.helpers.daemon_util import daemons  # noqa: E402, F401
