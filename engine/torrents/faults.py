"""A download folder that stops taking writes (full, read-only): say so, and recover.

On a failed write libtorrent posts ``file_error_alert`` (one per failed block) and puts the
torrent in upload mode: it seeds what it has and downloads nothing more, for ten minutes
(``optimistic_disk_retry``) and only when auto-managed. Its status shows no error, so the
torrent looks like a stalled download. Here the failure becomes the torrent's error, naming
the file, reported once; writing is tried again every ``storage.disk_retry_interval``
seconds, or at once on ``resume``, and the error clears once data arrives and is kept.

A hybrid torrent has one more way to fail: a piece hashed before its write failed and read
back after can pass one of its v1/v2 hashes and fail the other; libtorrent then reports
"v1 and v2 hashes do not describe the same data", drops every piece it had and pauses. A
recheck then leaves it stuck ("downloading" at 100 %, seen here), so the retry reloads it:
the torrent is removed from the session (files kept) and added again from its resume data
without its pieces, which makes libtorrent check the files afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import libtorrent as lt

from ..config import Config
from ..events import Event, Log, TorrentErrored
from .adding import TorrentAdds
from .record import NO_DISK_FAULT, TorrentRecord
from .records import TorrentRecords
from .saves import ResumeSaves
from .text import read_text

_TF = lt.torrent_flags

DISK_SETTLE = 3.0
"""Seconds after a retry of a failed write without a new failure before the error is
cleared (at most ``storage.disk_retry_interval``), provided data arrived meanwhile."""
DISK_PROOF = 256 * 1024
"""Payload bytes received after a retry, with no failure, that show writing works again."""
INCONSISTENT_HASHES = 217
"""libtorrent's ``errors::torrent_inconsistent_hashes`` (the binding has no name for it)."""


def inconsistent(ec: lt.error_code) -> bool:
    return ec.value() == INCONSISTENT_HASHES and ec.category().name() == "libtorrent"


class DiskFaults:
    """Failed writes of the torrents in ``records``: their errors, retries and reloads.

    Given what it works with: the table's ``records``, ``adds`` (to add a reloaded
    torrent again), ``saves`` (its resume data, asked for before a reload), ``contain``
    (where a fault in a retry ends, :mod:`.contain`) and ``emit``."""

    def __init__(self, ses: lt.session, cfg: Config, records: TorrentRecords,
                 adds: TorrentAdds, saves: ResumeSaves,
                 contain: Callable[[BaseException, str, TorrentRecord | None], None],
                 emit: Callable[[Event], None]):
        self.ses = ses
        self.cfg = cfg
        self._records = records
        self._adds = adds
        self._saves = saves
        self._contain = contain
        self._emit = emit
        self._reloading: dict[str, tuple[lt.add_torrent_params, TorrentRecord]] = {}
        """Torrents removed from the session to be added again."""

    def handlers(self) -> dict[type, Callable[[Any], None]]:
        return {lt.file_error_alert: self._on_file_error}

    # ------------------------------------------------------------------ failures

    def _on_file_error(self, a: lt.file_error_alert) -> None:
        t = self._records.torrent_of(a)
        if t is None:
            return
        message, file = read_text(a.error.message), read_text(a.filename)
        if t.handle.status(0).flags & _TF.upload_mode and not t.extras.metadata_first:
            # A failed write: libtorrent now only seeds this torrent. Say so on the
            # torrent, naming the file, and try again later (retry_disk_errors).
            d = t.own_disk()
            first = not d.error
            if first:  # later ones follow from it (a read of a block never written)
                d.error = f"{message}: {file}" if file else message
            d.retried = False
            d.retry_at = time.monotonic() + self.cfg.storage.disk_retry_interval
            self._records.refresh(t)
            if not first:
                return  # one failed block after another, or a retry that failed
        self._emit(TorrentErrored(torrent_id=t.id, message=message, file=file))

    def retry_disk_errors(self, now: float) -> None:
        """Torrents stopped by a failed write try again every
        ``storage.disk_retry_interval`` seconds (space may have been freed, the folder made
        writable). A retry followed by :data:`DISK_PROOF` bytes received and no failure
        for :data:`DISK_SETTLE` seconds clears the error; a failure brings it back, and so
        does any error libtorrent stops the torrent with after the retry."""
        for t in list(self._records.torrents.values()):
            d = t.disk
            if not d.error or now < d.retry_at or t.reload:
                continue
            try:
                self._retry_one(t, now)
            except Exception as exc:  # this torrent's fault only
                self._contain(exc, "retrying a failed write", t)

    def _retry_one(self, t: TorrentRecord, now: float) -> None:
        d = t.own_disk()
        if not d.retried:
            self.retry_disk(t)
            return
        s = t.handle.status(0)
        if s.errc.value():
            # libtorrent stopped it again since the retry without a failed write of
            # its own (a hybrid's "v1 and v2 hashes do not describe the same data"
            # after reading back what the full disk lost, a failed read while
            # checking): the retry failed too; the next one starts from that error
            d.retried = False
            d.retry_at = now + self.cfg.storage.disk_retry_interval
        elif s.is_finished or s.total_payload_download > d.mark + DISK_PROOF:
            t.disk = NO_DISK_FAULT  # received and kept: recovered
            self._records.refresh(t)
        # else nothing arrived to write yet (no peer, checking): still unknown

    def retry_disk(self, t: TorrentRecord) -> None:
        """Try writing again now."""
        d = t.own_disk()
        s = t.handle.status(0)
        d.retried = True
        d.mark = s.total_payload_download
        d.retry_at = time.monotonic() + min(DISK_SETTLE, self.cfg.storage.disk_retry_interval)
        if inconsistent(s.errc):
            self.reload(t)
            return
        if s.errc.value():
            # libtorrent's own error after the failed write (reading back a block that
            # was never written), which paused it: clearing it starts it again
            t.handle.clear_error()
        if not t.extras.metadata_first:
            t.handle.unset_flags(_TF.upload_mode)

    def clear_disk_error(self, t: TorrentRecord) -> None:
        """Every wanted byte is on disk: whatever failed before is over."""
        if t.disk.error and t.handle.status(0).is_finished:
            t.disk = NO_DISK_FAULT

    # ------------------------------------------------------------------ reload

    def reload(self, t: TorrentRecord, purge: bool = False) -> None:
        """Remove ``t`` from the session and add it again with its files checked afresh
        (``purge``: with its pieces as they are and no peers, :mod:`.flood`); its resume
        data is asked for first (:meth:`resume_saved` takes it from there)."""
        if t.handle.is_valid() and not t.reload:
            self._saves.save_soon(t)
            t.reload = t.saves_asked
            t.purge = purge

    def resume_saved(self, t: TorrentRecord, params: lt.add_torrent_params) -> None:
        """libtorrent answered a save of ``t`` with its resume data: a reload waiting for
        that answer goes on (:meth:`_reload_saved`)."""
        if t.reload and t.saves_answered >= t.reload:
            self._reload_saved(t, params)

    def resume_failed(self, t: TorrentRecord) -> None:
        """libtorrent answered a save of ``t`` without resume data."""
        if t.reload and t.saves_answered >= t.reload:
            t.reload = 0  # not without its resume data: the next retry asks again

    def cancel_reload(self, torrent_id: str) -> bool:
        """``torrent_id`` is being removed: if it was being reloaded, it is already leaving
        the session and now does not come back (True)."""
        return self._reloading.pop(torrent_id, None) is not None

    def _reload_saved(self, t: TorrentRecord, params: lt.add_torrent_params) -> None:
        """Its resume data came: remove it. The record stays in the table (and in
        snapshots) until the new handle arrives, so the torrent never seems to vanish."""
        copy = lt.read_resume_data(lt.write_resume_data_buf(params))
        if t.purge:
            copy.peers = []  # the ones the user named are dialled again on add
        else:
            copy.have_pieces = []
            copy.verified_pieces = []
            copy.unfinished_pieces = {}
        copy.flags = (copy.flags & ~_TF.upload_mode) | _TF.duplicate_is_error
        self._reloading[t.id] = (copy, t)
        self._records.unindex(t)
        self._saves.drop(t.id)
        self.ses.remove_torrent(t.handle)

    def reload_removed(self, torrent_id: str) -> bool:
        """The old handle is gone: add the torrent again (True if it was being reloaded)."""
        entry = self._reloading.pop(torrent_id, None)
        if entry is None:
            return False
        params, old = entry
        self._adds.again(torrent_id, params, old)
        if old.purge:
            self._emit(Log(level="info", message=f"torrent {torrent_id}: reloaded without "
                                                 "the peers a flooding tracker gave"))
        else:
            self._emit(Log(level="warning", message=f"torrent {torrent_id}: "
                                                    f"{old.disk.error}; "
                                                    "reloaded to check its files again"))
        return True

    def reload_added(self, new: TorrentRecord, old: TorrentRecord | None) -> None:
        """The new handle of a reloaded torrent: it keeps the fault until it writes, and
        the trackers it dropped for flooding."""
        if old is not None:
            new.dropped_trackers = old.dropped_trackers
        if old is not None and old.reload and not old.purge:
            new.disk = old.own_disk()
            new.disk.mark = 0
            new.disk.retried = True
            new.disk.retry_at = time.monotonic() + DISK_SETTLE

