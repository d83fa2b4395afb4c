"""Resume files written by a background thread, so the engine thread never waits on fsync.

Pausing 10,000 torrents asks for 10,000 resume files. Written on the engine thread with
two fsyncs each, that took most of a minute, during which no command and no snapshot was
served. Here the engine thread only queues ``(path, bytes)``; a writer thread writes each
file atomically (temp file, fsync, rename) and fsyncs the folder once per batch rather
than once per file. A crash still leaves each file old or new, never torn: a rename is
durable once the folder is fsynced, and a new file's data was fsynced before its rename.

Queued writes to the same path coalesce (the newest wins), and a delete is queued the
same way, so a write can never resurrect a file deleted after it. :meth:`pending` lets
readers see what is queued but not yet on disk.

Each :meth:`put` returns a ticket; :meth:`ResumeWriter.done` says whether that write (or a
newer write to the same file) is durable, so the engine can hold a command's reply until
the resume file that records it survives a crash.

A write somebody waits for (``urgent``: a command's reply) overtakes the others. Batches
are at most :data:`BATCH` files, and the urgent files queued go first: when every seed of a
box is saved at once, a ``pause`` waited for the thousands of files queued ahead of its own
(1.2 s at 2,000 seeds, docs/BENCHMARKS.md). Tickets are therefore made durable out of order:
:attr:`durable` is the low-water mark (every ticket up to it is durable).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

from ..durable import sync_folder, write_synced
from ..paths import private_dir

DELETE = None
"""Queued instead of bytes: remove the file."""
BATCH = 128
"""Most files one batch writes before the folder is fsynced and urgent writes are looked
for again (128 files take ~20 ms here)."""
WRITERS = 16
"""Files of a batch written and fsynced at once. One at a time, each fsync waited for its
own journal commit: 0.33–0.76 ms a file here, so the 50,000 files of a stop took over 20 s;
16 at a time share commits, 0.12 ms a file (docs/BENCHMARKS.md, "50,000 torrents")."""


def _write_one(item: tuple[Path, bytes | None]) -> tuple[Path, OSError] | None:
    path, data = item
    try:
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_synced(path, data)
    except OSError as exc:
        return path, exc
    return None


class ResumeWriter:
    """One thread that writes and deletes files in one folder, in batches.

    ``on_done`` is called on the writer thread after each batch (the engine uses it
    to wake its loop); failures are kept for :meth:`take_errors`.
    """

    def __init__(self, folder: Path, on_done: Callable[[], None] = lambda: None) -> None:
        self.folder = folder
        self._on_done = on_done
        self._cond = threading.Condition()
        self._queue: dict[Path, bytes | None] = {}
        self._tickets: dict[Path, list[int]] = {}
        """The tickets a queued file's write makes durable (coalesced puts)."""
        self._inflight_tickets: dict[Path, list[int]] = {}
        """The same for the files being written."""
        self._urgent: set[Path] = set()
        """Queued files somebody waits for: they go out first."""
        self._inflight: frozenset[Path] = frozenset()
        """Files taken by the thread and not yet durable."""
        self._errors: list[tuple[Path, OSError]] = []
        self._ticket = 0
        """The newest ticket handed out by :meth:`put`."""
        self._pending: set[int] = set()
        """Tickets handed out and not yet durable."""
        self._closing = False
        self._pool = ThreadPoolExecutor(WRITERS, thread_name_prefix="tidegate-resume-fsync")
        self._thread = threading.Thread(target=self._run, name="tidegate-resume-writer",
                                        daemon=True)
        self._thread.start()

    def put(self, path: Path, data: bytes | None, urgent: bool = False) -> int:
        """Queue ``data`` for ``path`` (:data:`DELETE` removes it); never blocks on disk.
        ``urgent``: somebody waits for it, so it goes before the files queued already.

        Returns the write's ticket (see :meth:`done`)."""
        with self._cond:
            if self._closing:
                raise RuntimeError("the resume writer is closed")
            self._queue.pop(path, None)  # re-queued at the end: files go out in order
            self._queue[path] = data
            self._ticket += 1
            self._tickets.setdefault(path, []).append(self._ticket)
            self._pending.add(self._ticket)
            if urgent:
                self._urgent.add(path)
            self._cond.notify()
            return self._ticket

    @property
    def ticket(self) -> int:
        """The newest ticket handed out (everything queued so far is durable at it)."""
        with self._cond:
            return self._ticket

    @property
    def durable(self) -> int:
        """The low-water mark: every put up to this ticket is on disk, or failed and is
        waiting in :meth:`take_errors` (later ones may be too: :meth:`done`). Computed when
        asked: the engine waits on :meth:`not_done`, not on this."""
        with self._cond:
            return min(self._pending, default=self._ticket + 1) - 1

    def done(self, ticket: int) -> bool:
        """Whether the put that returned ``ticket`` is durable (or failed and is waiting in
        :meth:`take_errors`); 0, "no write", is."""
        with self._cond:
            return ticket not in self._pending

    def not_done(self, tickets: set[int]) -> set[int]:
        """Those of ``tickets`` not :meth:`done` yet, under one acquisition of the lock
        (the engine asks for hundreds at a time; one lock each slowed this thread)."""
        with self._cond:
            return tickets & self._pending

    def ticket_of(self, path: Path) -> int:
        """The newest ticket of a write to ``path`` queued or being written; 0 if none
        (what ``path`` holds is durable)."""
        with self._cond:
            return max(self._tickets.get(path) or self._inflight_tickets.get(path) or [0])

    def delete_now(self, path: Path) -> None:
        """Remove ``path`` before returning, dropping any queued write to it.

        If the thread is writing it this very moment, wait for that batch first, so the
        write can never land after the delete.
        """
        with self._cond:
            self._queue.pop(path, None)
            self._urgent.discard(path)
            self._cond.wait_for(lambda: path not in self._inflight)
            path.unlink(missing_ok=True)  # under the lock: the thread cannot take it now
            try:
                sync_folder(self.folder)  # the removal survives a power cut as well
            except OSError:
                pass  # the file is gone for this boot; nothing better to do
            # the writes dropped are done: nothing will ever be written over the delete
            self._pending.difference_update(self._tickets.pop(path, ()))
            self._cond.notify_all()

    def pending(self, path: Path) -> tuple[bool, bytes | None]:
        """``(True, data)`` if ``path`` has a queued write (data None: a delete)."""
        with self._cond:
            if path in self._queue:
                return True, self._queue[path]
            return False, None

    @property
    def outstanding(self) -> int:
        """Queued or in-flight files (0 once everything asked for is durable)."""
        with self._cond:
            return len(self._queue) + len(self._inflight)

    def take_errors(self) -> list[tuple[Path, OSError]]:
        with self._cond:
            errors, self._errors = self._errors, []
        return errors

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is durable; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._inflight,
                                       timeout)

    def close(self, timeout: float) -> bool:
        """Write what is queued, then stop the thread; False if it did not finish in time."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    self._pool.shutdown(wait=False)
                    return  # closing, and nothing left
                batch = self._take()
                self._inflight = frozenset(batch)
                self._inflight_tickets = {p: self._tickets.pop(p) for p in batch}
            self._write(batch)
            with self._cond:
                self._inflight = frozenset()
                for tickets in self._inflight_tickets.values():
                    self._pending.difference_update(tickets)
                self._inflight_tickets = {}
                self._cond.notify_all()
            try:
                self._on_done()
            except Exception:  # a wake-up must never stop the writer
                pass

    def _take(self) -> dict[Path, bytes | None]:
        """The next batch, under the lock: the urgent files queued, else the oldest
        :data:`BATCH` files, in queue order."""
        urgent = [p for p in self._urgent if p in self._queue][:BATCH]
        paths = urgent or list(islice(self._queue, BATCH))
        self._urgent.difference_update(paths)
        return {path: self._queue.pop(path) for path in paths}

    def _write(self, batch: dict[Path, bytes | None]) -> None:
        """Write a batch: each file fsynced before its rename, :data:`WRITERS` at a time (the
        file system commits concurrent fsyncs together), then the folder once."""
        errors: list[tuple[Path, OSError]] = []
        try:
            private_dir(self.folder)
        except OSError as exc:
            errors += [(path, exc) for path in batch]
            batch = {}
        if len(batch) > 1:
            errors += [e for e in self._pool.map(_write_one, batch.items()) if e is not None]
        else:
            errors += [e for e in map(_write_one, batch.items()) if e is not None]
        try:
            if batch:
                sync_folder(self.folder)
        except OSError as exc:
            errors.append((self.folder, exc))
        if errors:
            with self._cond:
                self._errors += errors
