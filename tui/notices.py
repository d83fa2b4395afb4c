"""Which engine events become notifications, and what they say.

Only events a user should hear about are toasted; everything else (pauses, resumes,
additions) is already visible in the list, and the command that caused it reports once
per batch. :data:`NOTIFIED` lets the bridge drop the rest before they reach the UI
thread, so a daemon pausing 10,000 torrents costs the app nothing per event.
``EventsLost`` is not toasted: the list shows the engine's state whatever was lost,
and the user could do nothing about it.
"""

from __future__ import annotations

from textual.notifications import SeverityLevel

from tidegate.engine import events as ev
from tidegate.engine.safetext import clean
from tidegate.engine.state import Snapshot

NOTIFIED: tuple[type[ev.Event], ...] = (
    ev.TorrentCompleted, ev.MetadataReceived, ev.TorrentErrored, ev.StorageMoveFailed,
    ev.ShareLimitReached, ev.ResumeDataError, ev.DaemonConnection, ev.Log, ev.TorrentChecked,
    ev.PartFailed, ev.PartRestarted,
)
"""Event types :func:`describe_event` may turn into a notification."""


def notified(event: ev.Event) -> bool:
    """May :func:`describe_event` turn this event into a notification? (The checks at add
    and start are not news, and a daemon starting runs thousands of them.)"""
    if isinstance(event, ev.TorrentChecked):
        return event.recheck
    return isinstance(event, NOTIFIED)


def describe_event(event: ev.Event, snap: Snapshot) -> tuple[str, str, SeverityLevel] | None:
    """``(title, body, severity)`` of the notification an event deserves, if any."""
    def name(tid: str) -> str:
        t = snap.torrents.get(tid)
        return clean(t.name) if t is not None and t.name else tid[:12]

    match event:
        case ev.TorrentCompleted(after_check=True):
            return None  # its recheck's TorrentChecked says it
        case ev.TorrentCompleted(torrent_id=tid, name=n):
            return "Download complete", clean(n) or name(tid), "information"
        case ev.TorrentChecked(torrent_id=tid, progress=p, recheck=True):
            if p >= 1.0:
                return "Check finished", f"{name(tid)}: all data present and good", \
                    "information"
            return "Check finished", (f"{name(tid)}: {_percent(p)} of the data present and "
                                      "good; the rest is to be downloaded"), "warning"
        case ev.MetadataReceived(name=n, awaiting_selection=True):
            return "Choose files", f"{clean(n)}: pick files (f), then resume (p)", "information"
        case ev.TorrentErrored(torrent_id=tid, message=m):
            return "Torrent error", f"{name(tid)}: {clean(m)}", "error"
        case ev.PeerBanned(torrent_id=tid, peer=peer, reason=r):
            return "Peer banned", f"{name(tid)}: {clean(peer)}: {clean(r)}", "warning"
        case ev.StorageMoveFailed(torrent_id=tid, message=m):
            return "Move failed", f"{name(tid)}: {clean(m)}", "error"
        case ev.ShareLimitReached(torrent_id=tid, reason=r):
            return "Share limit reached", f"{name(tid)}: {clean(r)}", "information"
        case ev.ResumeDataError(file=f, message=m):
            return "Saved torrent not restored", f"{clean(f)}: {clean(m)}", "error"
        case ev.DaemonConnection(connected=c, endpoint=e, message=m):
            if c:
                return "Daemon connected", clean(e), "information"
            return "Daemon connection lost", clean(m or e), "error"
        case ev.PartFailed(part=part, why=why, attempt=n, retry_in=delay):
            again = f"restarting in {delay:g} s" + (f" (death {n} in a row)" if n > 1 else "")
            return f"{clean(part)} stopped", f"{clean(why)}; {again}", "error"
        case ev.PartRestarted(part=part):
            return f"{clean(part)} restarted", "the watcher started it again", "information"
        case ev.Log(level="error", message=m):
            return "Engine", clean(m), "error"
    return None


def _percent(p: float) -> str:
    """Never "100%" for less than all, nor "0%" for some."""
    if 0.0 < p < 0.001:
        return "under 0.1%"
    return f"{min(p, 0.999):.1%}"
