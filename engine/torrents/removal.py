"""Removing a torrent from the session, its files with it or not.

``remove`` takes the torrent out of the table at once; libtorrent confirms later, with
``torrent_removed_alert`` and, when the files go too, ``torrent_deleted_alert`` or
``torrent_delete_failed_alert``. :class:`Removals` holds each command's future until the
alert that completes it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import libtorrent as lt

from ..errors import EngineError
from ..events import Event, TorrentRemoved
from . import inputs
from .faults import DiskFaults
from .record import TorrentRecord
from .resume import ResumeStore
from .text import read_text


class Removals:
    """Removes under way; ``forget`` takes a torrent out of the table (and every part)."""

    def __init__(self, ses: lt.session, store: ResumeStore, faults: DiskFaults,
                 forget: Callable[[TorrentRecord], None], emit: Callable[[Event], None]):
        self.ses = ses
        self._store = store
        self._faults = faults
        self._forget = forget
        self._emit = emit
        self._pending: dict[str, tuple[Future[None], bool]] = {}

    def handlers(self) -> dict[type, Callable[[Any], None]]:
        return {lt.torrent_removed_alert: self._on_removed,
                lt.torrent_deleted_alert: self._on_deleted,
                lt.torrent_delete_failed_alert: self._on_delete_failed}

    def remove(self, t: TorrentRecord, delete_data: bool, fut: Future[None]) -> None:
        """The ``remove`` command: resolved once libtorrent has removed it (and its files)."""
        flags = lt.session.delete_files if delete_data else 0
        self._pending[t.id] = (fut, delete_data)
        if not self._faults.cancel_reload(t.id):
            self.ses.remove_torrent(t.handle, flags)
        # else being reloaded (engine/torrents/faults.py): it is already leaving the session
        # and now does not come back; its files stay even with delete_data (rare enough)
        self._forget(t)
        self._store.delete(t.id)

    def _on_removed(self, a: lt.torrent_removed_alert) -> None:
        tid = inputs.torrent_id(a.info_hashes)
        if self._faults.reload_removed(tid):
            return
        if tid not in self._pending:
            return
        fut, delete = self._pending[tid]
        if not delete:
            self._pending.pop(tid)
            fut.set_result(None)
            self._emit(TorrentRemoved(torrent_id=tid, data_deleted=False))

    def _on_deleted(self, a: lt.torrent_deleted_alert | lt.torrent_delete_failed_alert) -> None:
        tid = inputs.torrent_id(a.info_hashes)
        entry = self._pending.pop(tid, None)
        if entry is not None:
            entry[0].set_result(None)
            self._emit(TorrentRemoved(torrent_id=tid, data_deleted=True))

    def _on_delete_failed(self, a: lt.torrent_delete_failed_alert) -> None:
        if not a.error.value():
            # libtorrent's way of saying the torrent had no storage (a magnet without
            # metadata yet): there was nothing to delete
            self._on_deleted(a)
            return
        tid = inputs.torrent_id(a.info_hashes)
        entry = self._pending.pop(tid, None)
        if entry is not None:
            entry[0].set_exception(EngineError(f"removed {tid} but could not delete its data: "
                                               f"{read_text(a.error.message)}"))
            self._emit(TorrentRemoved(torrent_id=tid, data_deleted=False))
