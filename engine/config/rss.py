"""The ``[rss]`` section: how feeds are polled and how much of them is read
(docs/automation.md, RSS; the ranges are checked in ``load._CHECKS``). Feeds and rules
themselves are kept by the engine (``tidegate rss``), not in the config file."""

from __future__ import annotations

import msgspec


class RssConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """RSS and Atom feeds: polling, bounds, history."""

    enabled: bool = True
    """Poll the feeds at their intervals (the daemon and the TUI's embedded engine). Off:
    feeds and rules are kept and listed, a feed is fetched only when asked (``rss
    refresh``)."""
    interval: float = 900.0
    """Seconds between polls of a feed that sets no interval of its own (10 to 604800)."""
    timeout: float = 30.0
    """Seconds a feed or a .torrent it names may take to fetch, in all (1 to 600)."""
    max_feed_size: int = 4 * 1024 * 1024
    """Largest feed read, bytes (a larger one is that feed's error, nothing of it is
    parsed); .torrent files are bounded by ``limits.max_torrent_file_size``."""
    max_items: int = 1000
    """Most items of one feed looked at per poll (the first ones, newest first in most
    feeds)."""
    history_size: int = 20000
    """Most items remembered as added (the oldest are forgotten first); an item
    remembered is never added again, across restarts."""
