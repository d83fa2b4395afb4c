"""Fault isolation: an unexpected exception in one torrent's work stays that torrent's.

The engine thread runs every alert handler and every per-torrent step of its loop through
:class:`Containment`. An exception there (a bug of ours, or a libtorrent value nobody
foresaw) never leaves the step: it becomes the torrent's error, shown in every snapshot
with the step and the reason, reported once as ``TorrentErrored`` and once as a ``Log``
line; the torrent is paused so that it does nothing the engine no longer understands, and
every other torrent and command goes on. ``resume`` clears it.

A torrent that fails :data:`QUARANTINE_AFTER` times in one session is quarantined: the
reason is written into its resume data, so after a restart it comes back paused with the
message instead of failing again at once (the old behaviour was to lose the engine at
every start). It is never dropped; ``resume`` lifts the quarantine.

A failure with no torrent to blame (session statistics, the DHT, a listen socket) is
logged once per place and kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import describe
from ..events import Event, Log

QUARANTINE_AFTER = 3
"""Internal errors in one torrent, in one session, after which it is quarantined."""


@dataclass
class TorrentFaults:
    count: int = 0
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

    def torrent_fault(self, torrent_id: str, where: str, exc: BaseException) -> tuple[str, bool]:
        """Record a fault of ``torrent_id`` in ``where``; returns (its error message,
        whether it is now quarantined). Logs it once per place."""
        self.total += 1
        f = self._torrents.setdefault(torrent_id, TorrentFaults())
        f.count += 1
        text = describe(exc)
        message = f"internal error in {where}: {text}"
        quarantined = f.count >= QUARANTINE_AFTER
        if quarantined:
            message = (f"quarantined after {f.count} internal errors (last in {where}: "
                       f"{text}); resume tries it again")
        key = f"{where}:{type(exc).__name__}"
        if key not in f.logged or f.count == QUARANTINE_AFTER:
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
        """The user resumed it: it starts again with a clean record."""
        self._torrents.pop(torrent_id, None)

    def forget(self, torrent_id: str) -> None:
        self._torrents.pop(torrent_id, None)
