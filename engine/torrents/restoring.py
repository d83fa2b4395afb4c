"""The resume folder, loaded by the engine loop a slice at a time.

Reading and adding 50,000 resume files takes seconds (about 0.1 ms of parsing each here).
Done before the engine said it was ready, the daemon's start ran into its own time limit
and nothing (the API, the TUI, a command) answered until the last file was read. So the
engine is ready once the session listens, and its loop takes a slice of this work
(:data:`SLICE` seconds) between commands, alerts and snapshots until it is done: first
the ``added_time`` of every file is read from its first bytes, then the files are read
whole and the torrents added in the order they were first added (their numbers,
``TorrentState.number``, follow it).
``SessionStats.loading`` says how many are still to come, so a frontend can show progress.

A command that names a torrent still in the queue (an ``add`` of the same torrent, say)
takes it out and adds it at once (:meth:`RestoreQueue.take_now`), so the command meets it
as it would after the start; a command that finds the id nowhere yet is told the torrents
are still loading (:meth:`RestoreQueue.unknown`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import UnknownTorrentError, describe
from ..events import Event, ResumeDataError
from .resume import Corrupt, ResumeStore, Saved, TorrentExtras

SLICE = 0.05
"""Seconds of restore work per turn of the engine loop."""


_ADDED_TIME = re.compile(rb"^d(?:11:active_timei-?\d+e)?10:added_timei(-?\d+)e")
"""``added_time`` at the head of a resume file: bencoded keys are sorted, and only
``active_time`` sorts before it (libtorrent writes both)."""
HEAD = 64
"""Bytes read of each file to find its ``added_time``."""


def added_time(file: Path) -> int:
    """When the torrent in ``file`` was first added, from the file's first bytes (0 if
    they do not say: the file is read whole, and judged, when its turn comes)."""
    try:
        with open(file, "rb") as f:
            m = _ADDED_TIME.match(f.read(HEAD))
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


class RestoreQueue:
    """Resume files not added yet.

    First each file's ``added_time`` is read from its first bytes (a slice at a time);
    then the files are read whole and added oldest first, so no torrent's parameters wait
    in memory for the others (reading every file before the first add held ~1.2 KiB more
    per torrent, docs/BENCHMARKS.md "Memory per torrent").

    ``add_one`` adds one restored torrent (``TorrentAdds.restore_one``; raises on a fault
    of that file's); ``recover`` sees the extras of every torrent read (categories a
    damaged ``categories.json`` lost)."""

    def __init__(self, store: ResumeStore, add_one: Callable[[Saved], None],
                 recover: Callable[[Iterable[TorrentExtras]], None],
                 emit: Callable[[Event], None]) -> None:
        self._store = store
        self._add_one = add_one
        self._recover = recover
        self._emit = emit
        self._files = store.files()
        """id -> resume file, not added yet (in name order)."""
        self._unkeyed = list(self._files)
        """Ids whose ``added_time`` is not read yet (popped from the end)."""
        self._keys: list[tuple[int, str]] = []
        self._order: list[str] = []
        """Ids oldest last, made once every key is read (popped from the end)."""
        self.total = len(self._files)
        self.added = 0
        """Torrents handed to libtorrent so far (a file that failed is not counted)."""

    @property
    def left(self) -> int:
        """Files not added yet."""
        return len(self._files)

    def step(self, budget: float = SLICE) -> bool:
        """Do up to ``budget`` seconds of the work; True while some is left."""
        deadline = time.monotonic() + budget
        while self._unkeyed and time.monotonic() < deadline:
            for torrent_id in self._unkeyed[-256:]:
                self._keys.append((added_time(self._files[torrent_id]), torrent_id))
            del self._unkeyed[-256:]
        if self._unkeyed:
            return True
        if self._keys:
            # in the order they were added: their numbers follow it
            self._keys.sort(reverse=True)
            self._order = [torrent_id for _t, torrent_id in self._keys]
            self._keys = []
        while self._order and time.monotonic() < deadline:
            torrent_id = self._order.pop()
            file = self._files.pop(torrent_id, None)
            if file is not None:  # else taken already by a command
                self._read_and_add(file)
        return self.left > 0

    def take_now(self, torrent_id: str) -> bool:
        """Add ``torrent_id`` now if it is still queued (a command names it); True if it
        was."""
        file = self._files.pop(torrent_id, None)
        if file is None:
            return False
        return self._read_and_add(file)

    def unknown(self, torrent_id: str) -> UnknownTorrentError:
        """The error for a command naming a torrent not in the session while this loads."""
        return UnknownTorrentError(
            torrent_id, f"no torrent {torrent_id} yet: torrents are still loading "
                        f"({self.total - self.left:,} of {self.total:,} added)")

    def _read_and_add(self, file: Path) -> bool:
        item = self._store.read(file)
        if isinstance(item, Corrupt):
            self._emit(ResumeDataError(file=str(item.file), message=item.message))
            return False
        self._recover([item.extras])
        try:
            self._add_one(item)
        except Exception as exc:  # one file's fault: reported, the others go on
            self._emit(ResumeDataError(file=str(self._store.path(item.torrent_id)),
                                       message=f"could not restore: {describe(exc)}"))
            return False
        self.added += 1
        return True
