"""Fixtures for the interop suite: opentracker, transmission-daemon and aria2c on 127.0.0.1.

Each fixture is a factory; every process it started is stopped by its pid when the test
ends, whatever the test did. Engines come from the main suite's ``make_engine``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .aria2 import Aria2
from .opentracker import Opentracker
from .qbittorrent import QBittorrent
from .transmission import Transmission

T = TypeVar("T", Opentracker, Transmission, Aria2, QBittorrent)


def _factory(tmp_path: Path, cls: type[T], start: bool) -> Iterator[Callable[[], T]]:
    made: list[Any] = []

    def make() -> T:
        obj = cls(tmp_path / f"{cls.__name__.lower()}{len(made)}")
        made.append(obj)  # before start: a start that fails half-way is still stopped
        return obj.start() if start else obj

    try:
        yield make
    finally:
        for obj in reversed(made):
            obj.stop()


@pytest.fixture
def opentracker(tmp_path: Path) -> Iterator[Callable[[], Opentracker]]:
    """``opentracker()`` -> an unstarted Opentracker on a free port (``allow``, ``start``)."""
    yield from _factory(tmp_path, Opentracker, start=False)


@pytest.fixture
def transmission(tmp_path: Path) -> Iterator[Callable[[], Transmission]]:
    """``transmission()`` -> a started transmission-daemon of its own."""
    yield from _factory(tmp_path, Transmission, start=True)


@pytest.fixture
def aria2(tmp_path: Path) -> Iterator[Callable[[], Aria2]]:
    """``aria2()`` -> a started aria2c with its JSON-RPC."""
    yield from _factory(tmp_path, Aria2, start=True)


@pytest.fixture
def qbittorrent(tmp_path: Path) -> Iterator[Callable[[], QBittorrent]]:
    """``qbittorrent()`` -> a started qbittorrent-nox with its WebUI API."""
    yield from _factory(tmp_path, QBittorrent, start=True)
