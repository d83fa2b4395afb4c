"""A recheck completes whatever the pause state.

libtorrent 2.x queues ``force_recheck`` of a paused torrent that is not auto-managed until
it is resumed: the torrent shows "checking 0 %" for ever (seen for 14 minutes, and across a
restart). So a torrent the user paused runs for the check, with auto-management off (the
queue does not take it over), and is paused again when ``torrent_checked_alert`` says the
check ended. Both facts are kept in its resume data (``TorrentExtras.rechecking`` and
``pause_after_check``): a restart in the middle checks again and pauses again. A pause
asked during the check is kept for its end; a resume forgets it. Engine thread only.
"""

from __future__ import annotations

import libtorrent as lt

from .record import TorrentRecord
from .resume import TorrentExtras

_TF = lt.torrent_flags
_S = lt.torrent_status.states
_CHECKING = {_S.checking_files, _S.checking_resume_data}


def held(flags: int) -> bool:
    """Paused by the user (or a limit, or a fault), not by the queue."""
    return bool(flags & _TF.paused) and not flags & _TF.auto_managed


def start(t: TorrentRecord) -> None:
    """Check every piece of ``t`` again; a paused torrent runs for it and is paused again."""
    if t.handle.torrent_file() is None:
        return  # no metadata yet: nothing to check
    flags = t.handle.flags()
    if held(flags):
        t.extras.pause_after_check = True
    t.extras.rechecking = True
    t.restored_complete = False  # what this check finds is news
    if flags & _TF.auto_managed and not flags & _TF.paused:
        # checked now, not at libtorrent's next auto-manage pass; managed again at the end
        t.extras.manage_after_check = True
        t.handle.unset_flags(_TF.auto_managed)
    t.handle.force_recheck()
    if flags & _TF.paused and t.extras.pause_after_check:
        t.handle.unset_flags(_TF.auto_managed)
        t.handle.resume()


def restoring(params: lt.add_torrent_params, extras: TorrentExtras) -> None:
    """A torrent is restored whose recheck was interrupted: let it run to check again
    (:func:`resume_check` once added). A quarantined torrent stays paused, unchecked."""
    if not extras.rechecking:
        return
    if extras.quarantined:
        extras.rechecking = extras.pause_after_check = False
        if extras.manage_after_check:
            extras.manage_after_check = False
            params.flags |= _TF.auto_managed
        return
    if held(params.flags):
        extras.pause_after_check = True
    if extras.pause_after_check:
        params.flags &= ~(_TF.paused | _TF.auto_managed)


def resume_check(t: TorrentRecord) -> None:
    """Just added: a recheck interrupted by a stop starts again, once the check of its load
    has ended (:func:`after_load`). Asked at once, it raced that check: the load's
    ``torrent_checked_alert`` could come while the torrent was not checking and be taken
    for the recheck's end, which then paused the recheck at 97 % (seen once libtorrent's
    queue of adds no longer slowed the add alert's handling)."""
    if t.extras.rechecking and t.handle.torrent_file() is not None:
        t.recheck_after_load = True


def after_load(t: TorrentRecord) -> bool:
    """``torrent_checked_alert`` came: if it ends the load of a torrent whose recheck was
    interrupted, the recheck starts now. True if so (the alert is not a recheck's end)."""
    if not t.recheck_after_load:
        return False
    t.recheck_after_load = False
    t.handle.force_recheck()
    return True


def defer_pause(t: TorrentRecord) -> bool:
    """A pause asked during a recheck: kept for its end (pausing now would stall it)."""
    if not t.extras.rechecking or t.handle.status().state not in _CHECKING:
        return False
    t.extras.pause_after_check = True
    t.extras.manage_after_check = False  # paused by the user at the end, not managed
    t.handle.unset_flags(_TF.auto_managed)
    return True


def ended(t: TorrentRecord) -> bool:
    """``torrent_checked_alert`` came: True when it ends a recheck asked here (``t`` is
    paused again if it was paused). An alert of an earlier check (the one at add, before
    an interrupted recheck started again) leaves the recheck running."""
    if not t.extras.rechecking:
        return False
    if t.handle.status().state in _CHECKING:
        return False
    t.extras.rechecking = False
    if t.extras.manage_after_check:
        t.extras.manage_after_check = False
        t.handle.set_flags(_TF.auto_managed)
    if t.extras.pause_after_check:
        t.extras.pause_after_check = False
        t.handle.unset_flags(_TF.auto_managed)
        t.handle.pause()
    return True
