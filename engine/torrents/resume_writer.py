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

Each :meth:`put` returns a ticket; :attr:`ResumeWriter.durable` is the highest ticket whose
write (or a newer write to the same file) has been made durable, so the engine can hold a
command's reply until the resume file that records it survives a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ..durable import sync_folder, write_synced

DELETE = None
"""Queued instead of bytes: remove the file."""


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
        self._inflight: frozenset[Path] = frozenset()
        """Files taken by the thread and not yet durable."""
        self._errors: list[tuple[Path, OSError]] = []
        self._ticket = 0
        """The newest ticket handed out by :meth:`put`."""
        self._durable = 0
        """Every put with a ticket up to this one is on disk (or failed, and reported)."""
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="tidegate-resume-writer",
                                        daemon=True)
        self._thread.start()

    def put(self, path: Path, data: bytes | None) -> int:
        """Queue ``data`` for ``path`` (:data:`DELETE` removes it); never blocks on disk.

        Returns the write's ticket: it is durable once :attr:`durable` reaches it."""
        with self._cond:
            if self._closing:
                raise RuntimeError("the resume writer is closed")
            self._queue.pop(path, None)  # re-queued at the end: files go out in order
            self._queue[path] = data
            self._ticket += 1
            self._cond.notify()
            return self._ticket

    @property
    def ticket(self) -> int:
        """The newest ticket handed out (everything queued so far is durable at it)."""
        with self._cond:
            return self._ticket

    @property
    def durable(self) -> int:
        """The highest ticket whose write is durable: every put up to it is on disk, or
        failed and is waiting in :meth:`take_errors`."""
        with self._cond:
            return self._durable

    def delete_now(self, path: Path) -> None:
        """Remove ``path`` before returning, dropping any queued write to it.

        If the thread is writing it this very moment, wait for that batch first, so the
        write can never land after the delete.
        """
        with self._cond:
            self._queue.pop(path, None)
            self._cond.wait_for(lambda: path not in self._inflight)
            path.unlink(missing_ok=True)  # under the lock: the thread cannot take it now
            try:
                sync_folder(self.folder)  # the removal survives a power cut as well
            except OSError:
                pass  # the file is gone for this boot; nothing better to do

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
                    return  # closing, and nothing left
                batch, self._queue = self._queue, {}
                self._inflight = frozenset(batch)
                upto = self._ticket
            self._write(batch)
            with self._cond:
                self._inflight = frozenset()
                self._durable = upto
                self._cond.notify_all()
            try:
                self._on_done()
            except Exception:  # a wake-up must never stop the writer
                pass

    def _write(self, batch: dict[Path, bytes | None]) -> None:
        errors: list[tuple[Path, OSError]] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            errors += [(path, exc) for path in batch]
            batch = {}
        for path, data in batch.items():
            try:
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    write_synced(path, data)
            except OSError as exc:
                errors.append((path, exc))
        try:
            if batch:
                sync_folder(self.folder)
        except OSError as exc:
            errors.append((self.folder, exc))
        if errors:
            with self._cond:
                self._errors += errors
