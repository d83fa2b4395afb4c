"""Moving a torrent's files to another folder, safe against a crash and a partial move.

A move first records its target in the resume file (``TorrentExtras.moving_to``, durable)
and only then calls ``move_storage``: a crash in the middle leaves a file that says where
the data may be (:mod:`.recover` settles it at the next start). libtorrent skips a file it
gets "no such file or directory" for, as if it were not downloaded yet; a move that left
files behind is moved back, and fails. :class:`StorageMoves` owns the moves under way and
their two alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import libtorrent as lt

from ..errors import EngineError, InputError
from ..events import Event, StorageMoved, StorageMoveFailed
from . import move_target
from .record import Then, TorrentRecord, resolve
from .records import TorrentRecords
from .recover import torrent_files
from .text import read_text


class StorageMoves:
    """Moves under way; ``save`` asks for a torrent's resume data and runs ``then`` once
    it is durable (:meth:`.saves.ResumeSaves.save_soon`)."""

    def __init__(self, records: TorrentRecords,
                 save: Callable[[TorrentRecord, Then | None], None],
                 emit: Callable[[Event], None]):
        self._records = records
        self._save = save
        self._emit = emit
        self._pending: dict[str, Future[str]] = {}
        self._checks: dict[str, tuple[Path, Path, list[str]]] = {}
        """Per moving torrent: old folder, target, files that were in the old folder."""
        self._undo: dict[str, str] = {}
        """Torrents moved back after a move that left their files behind: why it failed."""

    def handlers(self) -> dict[type, Callable[[Any], None]]:
        return {lt.storage_moved_alert: self._on_moved,
                lt.storage_moved_failed_alert: self._on_move_failed}

    def move(self, t: TorrentRecord, path: str, fut: Future[str]) -> None:
        """The ``move`` command: resolves ``fut`` with the new folder once the resume file
        names it."""
        torrent_id = t.id
        if torrent_id in self._pending:
            raise EngineError(f"torrent {torrent_id} is already being moved")
        # a folder we can make folders and files in, not /proc or /sys: libtorrent would
        # report such a move done without moving anything (engine/torrents/move_target.py)
        target = move_target.check_target(path)
        old = Path(read_text(lambda: t.handle.status().save_path))
        if target == old:
            fut.set_result(str(target))
            return
        ti = t.handle.torrent_file()
        files: list[str] = []
        if ti is not None:
            params = lt.add_torrent_params()
            params.ti = ti
            files = torrent_files(params)
            taken = [rel for rel in files if (target / rel).exists()]
            if taken:
                # what libtorrent's fail_if_exist refuses too; checked here so that after a
                # crash any torrent file in the target is known to come from this move
                raise InputError(path, f"{target / taken[0]} already exists")
        self._checks[torrent_id] = (old, target, move_target.present(old, files))
        self._pending[torrent_id] = fut
        # The target is recorded durably first: a crash during the move leaves a resume
        # file that says where the data may be (engine/torrents/recover.py).
        t.extras.moving_to = str(target)

        def start() -> None:
            if self._records.torrents.get(torrent_id) is not t:  # removed meanwhile
                moving = self._pending.pop(torrent_id, None)
                if moving is not None and not moving.done():
                    moving.set_exception(EngineError(f"torrent {torrent_id} was removed"))
                return
            t.handle.move_storage(str(target), lt.move_flags_t.fail_if_exist)
        self._save(t, start)

    def forget(self, torrent_id: str) -> None:
        """The torrent left the table (a move waiting to start fails when it would)."""
        self._checks.pop(torrent_id, None)
        self._undo.pop(torrent_id, None)

    def _on_moved(self, a: lt.storage_moved_alert) -> None:
        t = self._records.torrent_of(a)
        if t is None:
            return
        path = read_text(a.storage_path)
        undo = self._undo.pop(t.id, None)
        if undo is not None:  # back where the data is, after a move that moved nothing
            self._move_failed(t, undo)
            return
        old, target, before = self._checks.pop(t.id, (Path(), Path(), []))
        behind = move_target.left_behind(old, Path(path), before)
        if behind:
            # libtorrent skips a file it gets "no such file or directory" for, as if it
            # were not downloaded yet: the torrent would point at a folder without its data
            self._undo[t.id] = (
                f"{old / behind[0]} was not moved to {target} ({len(behind)} of "
                f"{len(before)} files looked at); the data stays in {old}")
            t.handle.move_storage(str(old), lt.move_flags_t.dont_replace)
            return
        t.extras.moving_to = ""
        self._records.refresh(t)
        # the event first: whoever waits on the future sees it in their stream already
        self._emit(StorageMoved(torrent_id=t.id, path=path))
        fut = self._pending.pop(t.id, None)
        # acknowledged once the resume file names the new folder
        self._save(t, resolve(fut, path) if fut is not None else None)

    def _on_move_failed(self, a: lt.storage_moved_failed_alert) -> None:
        t = self._records.torrent_of(a)
        if t is None:
            return
        message, file = read_text(a.error.message), read_text(a.file_path)
        message = f"{message} ({file})" if file else message
        self._checks.pop(t.id, None)
        undo = self._undo.pop(t.id, None)
        self._move_failed(t, f"{undo}; moving back failed too: {message}" if undo else message)

    def _move_failed(self, t: TorrentRecord, message: str) -> None:
        t.extras.moving_to = ""
        self._records.refresh(t)
        self._save(t, None)
        self._emit(StorageMoveFailed(torrent_id=t.id, message=message))
        fut = self._pending.pop(t.id, None)
        if fut is not None and not fut.done():
            fut.set_exception(EngineError(f"could not move {t.id}: {message}"))
