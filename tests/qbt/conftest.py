"""The contract suite's fixtures: tidegate's qBittorrent API and the real qbittorrent-nox,
side by side; every process stopped by its pid at the end of the test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .servers import Client, RealQbt, Reply, TidegateQbt

T = TypeVar("T")

def shape(value: Any) -> Any:
    """A JSON value's shape: its keys and the JSON type of each value (numbers are one
    type: JSON has no integers); a list by its first element."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return ["list", shape(value[0]) if value else "empty"]
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    raise TypeError(type(value))


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 20) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Pair:
    """tidegate (``ours``) and qbittorrent-nox (``theirs``), each with a client."""

    tidegate: TidegateQbt
    real: RealQbt
    ours: Client
    theirs: Client

    @property
    def clients(self) -> tuple[Client, Client]:
        return self.ours, self.theirs

    def both(self, path: str, params: dict[str, str] | None = None,
             **kw: Any) -> tuple[Reply, Reply]:
        """The same request to both: (tidegate's reply, qBittorrent's reply)."""
        return (self.ours.call(path, params, **kw), self.theirs.call(path, params, **kw))

    def login(self) -> None:
        for c in self.clients:
            assert c.login().text == "Ok.", c.name


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    real = RealQbt(tmp_path / "qbittorrent")
    tidegate = TidegateQbt()
    try:
        real.start()
        tidegate.start()
        yield Pair(tidegate, real, tidegate.client(), real.client())
    finally:
        real.stop()
        tidegate.stop()
