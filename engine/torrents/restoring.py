"""The resume folder, loaded by the engine loop a slice at a time.

Reading and adding 50,000 resume files takes seconds (about 0.1 ms of parsing each here).
Done before the engine said it was ready, the daemon's start ran into its own time limit
and nothing (the API, the TUI, a command) answered until the last file was read. So the
engine is ready once the session listens, and its loop takes a slice of this work
(:data:`SLICE` seconds) between commands, alerts and snapshots until it is done: first
every file is read (in name order), then the torrents are added in the order they were
first added (their numbers, ``TorrentState.number``, follow it).
``SessionStats.loading`` says how many are still to come, so a frontend can show progress.

A command that names a torrent still in the queue (an ``add`` of the same torrent, say)
takes it out and adds it at once (:meth:`RestoreQueue.take_now`), so the command meets it
as it would after the start; a command that finds the id nowhere yet is told the torrents
are still loading (:meth:`RestoreQueue.unknown`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ..errors import UnknownTorrentError, describe
from ..events import Event, ResumeDataError
from .resume import Corrupt, ResumeStore, Saved, TorrentExtras

SLICE = 0.05
"""Seconds of restore work per turn of the engine loop."""


class RestoreQueue:
    """Resume files not read yet, then torrents read and not added yet.

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
        """id -> resume file, not read yet (in name order)."""
        self._saved: dict[str, Saved] = {}
        """Read and not added yet."""
        self._order: list[str] = []
        """Ids of ``_saved`` newest first, made once every file is read (popped from the
        end: the oldest is added first)."""
        self.total = len(self._files)
        self.added = 0
        """Torrents handed to libtorrent so far (a file that failed is not counted)."""

    @property
    def left(self) -> int:
        """Files not read plus torrents not added yet."""
        return len(self._files) + len(self._saved)

    def step(self, budget: float = SLICE) -> bool:
        """Do up to ``budget`` seconds of the work; True while some is left."""
        deadline = time.monotonic() + budget
        read: list[TorrentExtras] = []
        while self._files and time.monotonic() < deadline:
            torrent_id, file = next(iter(self._files.items()))
            del self._files[torrent_id]
            item = self._store.read(file)
            if isinstance(item, Corrupt):
                self._emit(ResumeDataError(file=str(item.file), message=item.message))
            else:
                self._saved[item.torrent_id] = item
                read.append(item.extras)
        if read:
            self._recover(read)
        if self._files:
            return True
        if not self._order and self._saved:
            # in the order they were added: their numbers follow it
            self._order = sorted(self._saved, reverse=True, key=lambda i: (
                self._saved[i].params.added_time, i))
        while self._order and time.monotonic() < deadline:
            saved = self._saved.pop(self._order.pop(), None)
            if saved is not None:  # else taken already by a command
                self._add(saved)
        return self.left > 0

    def take_now(self, torrent_id: str) -> bool:
        """Add ``torrent_id`` now if it is still queued (a command names it); True if it
        was."""
        saved = self._saved.pop(torrent_id, None)
        if saved is None:
            file = self._files.pop(torrent_id, None)
            if file is None:
                return False
            item = self._store.read(file)
            if isinstance(item, Corrupt):
                self._emit(ResumeDataError(file=str(item.file), message=item.message))
                return False
            saved = item
            self._recover([saved.extras])
        self._add(saved)
        return True

    def unknown(self, torrent_id: str) -> UnknownTorrentError:
        """The error for a command naming a torrent not in the session while this loads."""
        return UnknownTorrentError(
            torrent_id, f"no torrent {torrent_id} yet: torrents are still loading "
                        f"({self.total - self.left:,} of {self.total:,} read or added)")

    def _add(self, item: Saved) -> None:
        try:
            self._add_one(item)
        except Exception as exc:  # one file's fault: reported, the others go on
            self._emit(ResumeDataError(file=str(self._store.path(item.torrent_id)),
                                       message=f"could not restore: {describe(exc)}"))
            return
        self.added += 1
