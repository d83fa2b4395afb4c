"""An unexpected exception in one torrent's work, applied to that torrent.

:class:`~.isolation.Containment` counts faults and says what each one means;
:class:`TorrentContainment` carries the verdict out on the torrent: its error, shown in
every snapshot, a pause, a save (so that a quarantine survives a restart) and one
``TorrentErrored``. Every alert handler and every per-torrent step of the engine loop ends
here when it raises; nothing here may raise.
"""

from __future__ import annotations

from collections.abc import Callable

import libtorrent as lt
import msgspec

from ..events import Event, TorrentErrored
from ..state import Phase, TorrentState
from .isolation import Containment
from .record import TorrentRecord
from .records import TorrentRecords

_TF = lt.torrent_flags


class TorrentContainment:
    """Applies :class:`~.isolation.Containment`'s verdicts to the torrents in ``records``;
    ``save`` asks for a torrent's resume data (:meth:`.saves.ResumeSaves.save_soon`)."""

    def __init__(self, records: TorrentRecords, containment: Containment,
                 save: Callable[[TorrentRecord], None], emit: Callable[[Event], None]):
        self._records = records
        self.containment = containment
        self._save = save
        self._emit = emit

    def contain(self, exc: BaseException, where: str, t: TorrentRecord | None) -> None:
        """An unexpected exception in ``where``: ``t``'s error (paused, reported once per
        episode, quarantined at its :data:`~.isolation.QUARANTINE_AFTER`-th episode), or a
        log line when no torrent is to blame.
        Nothing here may raise: this is the last stop before the engine thread."""
        if t is None or self._records.torrents.get(t.id) is not t:
            self.containment.other_fault(where, exc)
            return
        # A fault while the torrent is still stopped by an earlier one (the user has not
        # resumed it) is the same episode: kept paused and shown, but neither counted
        # nor reported again. How many such faults land (a state update, an alert of its
        # own pause, a recheck's end) is a race; one episode is one TorrentErrored.
        ongoing = bool(t.fault)
        message, quarantined = self.containment.torrent_fault(t.id, where, exc, ongoing)
        if not ongoing:
            t.fault = message
            if quarantined:
                t.extras.quarantined = message
        try:
            t.handle.unset_flags(_TF.auto_managed)
            t.handle.pause()
            if not ongoing:
                # the pause (and a quarantine) recorded; once per episode, since the
                # fault may be in saving itself
                self._save(t)
        except Exception as again:
            self.containment.other_fault(f"pausing {t.id} after an internal error", again)
        self._show_fault(t)
        if not ongoing:
            self._emit(TorrentErrored(torrent_id=t.id, message=message))

    def _show_fault(self, t: TorrentRecord) -> None:
        """Put ``t``'s fault in its state; from libtorrent's status if that can be read,
        else on the last state known (the fault may be in reading the status)."""
        try:
            self._records.refresh(t)
            return
        except Exception as exc:
            self.containment.other_fault("reading a faulty torrent's status", exc)
        old = t.state
        if old is None:
            new = TorrentState(
                id=t.id, name=t.id, info_hash_v1=None, info_hash_v2=None, phase=Phase.ERROR,
                progress=0.0, total_size=0, wanted=0, wanted_done=0, download_rate=0,
                upload_rate=0, num_peers=0, num_seeds=0, swarm_seeds=-1, swarm_peers=-1,
                all_time_download=0, all_time_upload=0, ratio=0.0, eta=-1, save_path="",
                added_time=0, completed_time=0, seeding_time=0, has_metadata=False,
                paused=True, sequential=False, queue_position=-1, download_limit=0,
                upload_limit=0, ratio_limit=t.extras.ratio_limit,
                seed_time_limit=t.extras.seed_time_limit, complete_on_disk=False,
                error=t.error, num_pieces=0, pieces_done=0)
        else:
            new = msgspec.structs.replace(old, phase=Phase.ERROR, error=t.error, paused=True,
                                          download_rate=0, upload_rate=0, eta=-1)
        self._records.set_state(t, new)

    def clear(self, t: TorrentRecord) -> None:
        """The user resumed ``t``: its contained fault (and quarantine) is over."""
        if t.fault or t.extras.quarantined:
            t.fault = ""
            t.extras.quarantined = ""
            self.containment.cleared(t.id)
