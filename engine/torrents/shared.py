"""One object for many equal values: the strings and numbers tens of thousands of
torrents repeat.

Each :class:`~engine.state.TorrentState` and record would otherwise hold its own copy of
the same save path, tracker URL or size (a ``str`` of a 60-character path is ~110 bytes, an
``int`` above 256 is 32): at 10,000 torrents those copies were a good part of tidegate's own
memory per torrent (docs/BENCHMARKS.md "Memory per torrent"). Values are immutable, so
sharing one object changes nothing else. Only the engine thread uses a :class:`Shared`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V", str, int)


class Shared(Generic[V]):
    """Hands back the first object seen equal to each value (one type per instance:
    ``1 == 1.0 == True`` would mix them). Bounded: past ``limit`` distinct values it
    forgets them all and starts again, so a value that never repeats costs nothing lasting.
    ``limit`` 0 shares nothing.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._seen: dict[V, V] = {}

    def __call__(self, value: V) -> V:
        if not self._limit:
            return value
        kept = self._seen.get(value)
        if kept is not None:
            return kept
        if len(self._seen) >= self._limit:
            self._seen.clear()
        self._seen[value] = value
        return value

    def __len__(self) -> int:
        return len(self._seen)
