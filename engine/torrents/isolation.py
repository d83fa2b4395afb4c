"""Fault isolation: an unexpected exception in one torrent's work stays that torrent's.

The engine thread runs every alert handler and every per-torrent step of its loop through
:class:`Containment`. An exception there (a bug of ours, or a libtorrent value nobody
foresaw) never leaves the step: it becomes the torrent's error, shown in every snapshot
with the step and the reason, reported once as ``TorrentErrored`` and once as a ``Log``
line; the torrent is paused so that it does nothing the engine no longer understands, and
every other torrent and command goes on. ``resume`` clears it.

What is counted is the *episode*: from a torrent's first fault to the user's ``resume``.
Further faults meanwhile (each state update, each alert of the paused torrent: how many
land before the user acts is a race) belong to the same episode: they keep the torrent
paused and are logged once per place, but are neither counted nor reported again. So
each episode is exactly one ``TorrentErrored``, whatever the timing.

A torrent whose :data:`QUARANTINE_AFTER`-th episode in one session begins is quarantined
(and so is every later one in that session): the reason is written into its resume data,
so after a restart it comes back paused with the message instead of failing again at
once (the old behaviour was to lose the engine at every start). It is never dropped;
``resume`` lifts the quarantine (the session's count stays: a torrent that fails again
is quarantined again at once).

A failure with no torrent to blame (session statistics, the DHT, a listen socket) is
logged once per place and kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import describe
from ..events import Event, Log

QUARANTINE_AFTER = 3
"""Fault episodes of one torrent, in one session, at which it is quarantined."""


@dataclass
class TorrentFaults:
    count: int = 0
    """Fault episodes (first fault to the user's resume) in this session."""
    logged: set[str] = field(default_factory=set)


class Containment:
    """Counts the faults per torrent and says what each one means; the torrent table
    applies the verdict (pause, error, quarantine) to libtorrent."""

    def __init__(self, emit: Callable[[Event], None]):
        self._emit = emit
        self._torrents: dict[str, TorrentFaults] = {}
        self._logged: set[tuple[str, str]] = set()
        self.total = 0
        """Faults contained since the engine started (torrent or not)."""

    def torrent_fault(self, torrent_id: str, where: str, exc: BaseException,
                      ongoing: bool = False) -> tuple[str, bool]:
        """Record a fault of ``torrent_id`` in ``where``; returns (its error message,
        whether it is now quarantined). Logs it once per place.

        ``ongoing``: the torrent is still stopped by an earlier fault the user has not
        resumed: the same episode, not counted again (and not quarantined by it)."""
        self.total += 1
        f = self._torrents.setdefault(torrent_id, TorrentFaults())
        if not ongoing:
            f.count += 1
        text = describe(exc)
        message = f"internal error in {where}: {text}"
        quarantined = not ongoing and f.count >= QUARANTINE_AFTER
        if quarantined:
            message = (f"quarantined after {f.count} internal errors (last in {where}: "
                       f"{text}); resume tries it again")
        key = f"{where}:{type(exc).__name__}"
        if key not in f.logged or quarantined:
            f.logged.add(key)
            self._emit(Log(level="error", message=f"torrent {torrent_id}: {message}"))
        return message, quarantined

    def other_fault(self, where: str, exc: BaseException) -> None:
        """A fault with no torrent to blame: logged once per place and kind."""
        self.total += 1
        key = (where, type(exc).__name__)
        if key in self._logged:
            return
        self._logged.add(key)
        self._emit(Log(level="error", message=f"internal error in {where}: {describe(exc)} "
                                              "(the engine goes on; reported once)"))

    def cleared(self, torrent_id: str) -> None:
        """The user resumed it: its episode is over. The count of episodes stays for the
        session (a quarantine lifted by hand comes back at the next fault)."""

    def forget(self, torrent_id: str) -> None:
        """It left the session (removed)."""
        self._torrents.pop(torrent_id, None)
