"""The RSS files in the data folder (``<data>/rss/``), each written atomically (temp file,
fsync, rename, folder fsync: engine/durable.py), as ``categories.json`` is.

* ``feeds.json``: the feeds (URL, own interval) and the rules, rewritten by every command
  that changes them, before it replies.
* ``history.json``: what was added, by item key and by target (the magnet or .torrent
  URL), oldest first, at most ``rss.history_size`` entries (the oldest are dropped).
  Written after each poll that added something; an item in it is never added again.

A file that cannot be read is set aside as ``<name>.bad`` (kept for the user, named in
``RssState.error``) and the service starts without it: it never stops the engine.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

from ..durable import sync_folder, write_synced
from ..paths import private_dir
from .rss_rules import MAX_FEEDS, MAX_RULES, RssRule

FEEDS_FILE = "feeds.json"
HISTORY_FILE = "history.json"
MAX_FILE = 256 * 1024 * 1024


class FeedEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    url: str
    interval: float = 0.0


class FeedsFile(msgspec.Struct, frozen=True, kw_only=True):
    feeds: list[FeedEntry] = msgspec.field(default_factory=list)
    rules: list[RssRule] = msgspec.field(default_factory=list)


class HistoryFile(msgspec.Struct, frozen=True, kw_only=True):
    version: int = 1
    items: list[tuple[str, float]] = msgspec.field(default_factory=list)


def _write(folder: Path, name: str, value: object) -> None:
    private_dir(folder)  # 0700, as the other state folders: the feeds may carry tokens
    write_synced(folder / name, msgspec.json.encode(value))
    sync_folder(folder)


def _set_aside(path: Path, exc: Exception) -> str:
    bad = path.with_name(path.name + ".bad")
    try:
        path.replace(bad)
    except OSError:
        pass
    return f"{path} was unreadable ({str(exc)[:200]}); set aside as {bad.name}"


def load_feeds(folder: Path) -> tuple[FeedsFile, str]:
    """The feeds and rules (none when there is no file), and a problem met ("" none)."""
    path = folder / FEEDS_FILE
    try:
        if path.stat().st_size > MAX_FILE:
            raise ValueError("too large")
        got = msgspec.json.decode(path.read_bytes(), type=FeedsFile)
        if len(got.feeds) > MAX_FEEDS or len(got.rules) > MAX_RULES:
            raise ValueError("too many feeds or rules")
        return got, ""
    except FileNotFoundError:
        return FeedsFile(), ""
    except (OSError, ValueError, msgspec.DecodeError) as exc:
        return FeedsFile(), _set_aside(path, exc)


def save_feeds(folder: Path, feeds: FeedsFile) -> None:
    _write(folder, FEEDS_FILE, feeds)


class History:
    """Keys of items added, oldest first, bounded; loaded once, saved when changed."""

    def __init__(self, folder: Path, size: int):
        self.folder, self.size = folder, size
        self.error = ""
        self.items: dict[str, float] = {}
        path = folder / HISTORY_FILE
        try:
            if path.stat().st_size > MAX_FILE:
                raise ValueError("too large")
            got = msgspec.json.decode(path.read_bytes(), type=HistoryFile)
            self.items = dict(got.items)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, msgspec.DecodeError) as exc:
            self.error = _set_aside(path, exc)
        self._trim()
        self.dirty = False

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def __len__(self) -> int:
        return len(self.items)

    def add(self, *keys: str) -> None:
        now = time.time()
        for key in keys:
            self.items.pop(key, None)
            self.items[key] = now
        self._trim()
        self.dirty = True

    def _trim(self) -> None:
        extra = len(self.items) - self.size
        if extra > 0:
            for key in list(self.items)[:extra]:
                del self.items[key]

    def save(self) -> None:
        """Write it when changed (raises OSError; the caller shows it)."""
        if self.dirty:
            _write(self.folder, HISTORY_FILE, HistoryFile(items=list(self.items.items())))
            self.dirty = False
