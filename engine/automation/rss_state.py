"""What the RSS service shows: its feeds, rules and the latest things it did
(``rss_list``). Plain values, safe to send over the wire. Every text from a feed (titles,
errors quoting it) is cleaned (engine/safetext.py) and is never markup."""

from __future__ import annotations

import msgspec

from .rss_rules import RssRule


class RssFeedState(msgspec.Struct, frozen=True, kw_only=True):
    """One feed."""

    url: str
    interval: float = 0.0
    """Its own seconds between polls; 0: ``rss.interval``."""
    title: str = ""
    """The feed's title, from its last good poll."""
    last_poll: float = 0.0
    """Unix time of its last poll (good or not); 0: never."""
    last_error: str = ""
    """Why its last poll failed, naming the feed; "" when it went well."""
    items: int = 0
    """Items with something to add in its last good poll."""
    added: int = 0
    """Torrents added from it since the engine started."""


class RssLogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Something done with one item."""

    time: float
    feed: str
    title: str
    rule: str
    outcome: str
    """``added <id>``, or the error that kept it out (it is tried again at the next poll,
    and logged again only when the error changes)."""


class RssState(msgspec.Struct, frozen=True, kw_only=True):
    """Feeds, rules, and the latest items acted on (newest last)."""

    enabled: bool = True
    """``rss.enabled``: polling on."""
    feeds: list[RssFeedState] = msgspec.field(default_factory=list)
    rules: list[RssRule] = msgspec.field(default_factory=list)
    log: list[RssLogEntry] = msgspec.field(default_factory=list)
    history: int = 0
    """Items remembered as added (never added again)."""
    error: str = ""
    """A problem of the service itself (an unreadable feeds.json, set aside)."""
