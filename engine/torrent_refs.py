"""Naming a torrent the way a user does: its number (the first column of ``tidegate ls``)
or a prefix of its info-hash, for code that holds a snapshot (the CLI, programs)."""

from __future__ import annotations

from .errors import InputError
from .state import Snapshot
from .units import decimal


def resolve_torrent(snapshot: Snapshot, ref: str) -> str:
    """The id of the torrent named by its number or an info-hash prefix.

    A number of up to 6 digits is a torrent's number (the first column of ``tidegate
    ls``), which stays the torrent's while the daemon runs, whatever else is removed;
    anything else is a prefix of the v1 or v2 info-hash (case-insensitive).
    """
    torrents = snapshot.torrents.values()
    text = ref.strip().lower()
    n = decimal(text, 6)
    if n is not None:
        for t in torrents:
            if t.number == n:
                return t.id
        raise InputError(ref, f"no torrent has the number {n} (see `tidegate ls`; numbers "
                              "are kept while the daemon runs, never reused)")
    if not text:
        raise InputError(ref, "empty torrent id")
    matches = [t for t in torrents
               if t.id.startswith(text) or (t.info_hash_v2 or "").startswith(text)]
    if not matches:
        raise InputError(ref, "no torrent has this id prefix or number (see `tidegate ls`)")
    if len(matches) > 1:
        names = ", ".join(t.id[:12] for t in matches[:5])
        raise InputError(ref, f"ambiguous: {len(matches)} torrents match ({names}...); give "
                              "more characters")
    return matches[0].id
