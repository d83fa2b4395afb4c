"""``sync/maindata``: what changed since the response a client names by its ``rid``.

As qBittorrent does it: each session remembers the last response it was given and its
``rid``. A request with that ``rid`` gets only what changed since (per torrent only the
keys whose value changed; ``torrents_removed``, ``categories_removed``, ``tags_removed``;
sections with nothing in them left out); any other ``rid`` (0, an older one, one from
before a restart) gets ``full_update: true`` and everything. Sans-IO: the caller gives
the current values.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

MAX_SYNCED = 16
"""Sessions whose last response is remembered; an evicted one gets a full update next."""

Maindata = dict[str, Any]


class _Last:
    __slots__ = ("rid", "torrents", "categories", "tags", "server_state")

    def __init__(self, rid: int, torrents: dict[str, dict[str, Any]],
                 categories: dict[str, dict[str, str]], tags: list[str],
                 server_state: dict[str, Any]):
        self.rid = rid
        self.torrents = torrents
        self.categories = categories
        self.tags = tags
        self.server_state = server_state


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in new.items() if old.get(k, _MISSING) != v}


_MISSING = object()


class SyncState:
    """The last ``sync/maindata`` response of each session."""

    def __init__(self) -> None:
        self._last: OrderedDict[str, _Last] = OrderedDict()

    def forget(self, sid: str) -> None:
        self._last.pop(sid, None)

    def maindata(self, sid: str, rid: int, torrents: dict[str, dict[str, Any]],
                 categories: dict[str, dict[str, str]], tags: list[str],
                 server_state: dict[str, Any]) -> Maindata:
        last = self._last.pop(sid, None)
        new_rid = (last.rid % 1_000_000) + 1 if last is not None else 1
        self._last[sid] = _Last(new_rid, torrents, categories, tags, server_state)
        while len(self._last) > MAX_SYNCED:
            self._last.popitem(last=False)
        if last is None or rid == 0 or rid != last.rid:
            return {"rid": new_rid, "full_update": True, "torrents": torrents,
                    "categories": categories, "tags": tags, "server_state": server_state,
                    "trackers": {}}
        out: Maindata = {"rid": new_rid}
        changed = {h: (_changed(last.torrents[h], t) if h in last.torrents else t)
                   for h, t in torrents.items()}
        changed = {h: t for h, t in changed.items() if t}
        if changed:
            out["torrents"] = changed
        removed = [h for h in last.torrents if h not in torrents]
        if removed:
            out["torrents_removed"] = removed
        cats = {n: c for n, c in categories.items() if last.categories.get(n) != c}
        if cats:
            out["categories"] = cats
        cats_removed = [n for n in last.categories if n not in categories]
        if cats_removed:
            out["categories_removed"] = cats_removed
        old_tags = set(last.tags)
        new_tags = [t for t in tags if t not in old_tags]
        if new_tags:
            out["tags"] = new_tags
        now_tags = set(tags)
        tags_removed = [t for t in last.tags if t not in now_tags]
        if tags_removed:
            out["tags_removed"] = tags_removed
        state = _changed(last.server_state, server_state)
        if state:
            out["server_state"] = state
        return out
