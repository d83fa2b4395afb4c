"""The RSS commands (engine/automation/rss_service.py; docs/automation.md). They are run
by a :class:`engine.node.Node`, which owns the RSS service; a bare Engine refuses them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .automation.rss_rules import MAX_FEEDS, RssRule
from .automation.rss_state import RssFeedState, RssState
from .command_base import Command

FeedUrls = Annotated[list[str], msgspec.Meta(max_length=MAX_FEEDS)]

RSS_TUI = "RSS dialog (R)"


class RssFeedAdd(Command[RssFeedState], frozen=True, forbid_unknown_fields=True):
    """Add an RSS or Atom feed (or give one a new interval, seconds; 0: ``rss.interval``);
    it is polled at once."""

    cmd = "rss_feed_add"
    cli = "rss add"
    tui = "RSS dialog (R): Add feed"
    url: str
    interval: float = 0.0


class RssFeedRemove(Command[None], frozen=True, forbid_unknown_fields=True):
    """Stop polling a feed (what it added stays; its items stay in the history)."""

    cmd = "rss_feed_remove"
    cli = "rss rm"
    tui = "RSS dialog (R): Remove feed"
    url: str


class RssRuleSet(Command[RssRule], frozen=True, forbid_unknown_fields=True):
    """Add a download rule or replace the one of that name: include/exclude regular
    expressions, an episode filter, the feeds it applies to (none: all), the category and
    save path of what it adds."""

    cmd = "rss_rule_set"
    cli = "rss rule set"
    tui = "RSS dialog (R): Set rule (name and include)"
    name: str
    include: str = ""
    exclude: str = ""
    episodes: str = ""
    feeds: FeedUrls = msgspec.field(default_factory=list)
    category: str = ""
    save_path: str = ""
    enabled: bool = True


class RssRuleRemove(Command[None], frozen=True, forbid_unknown_fields=True):
    """Remove a download rule."""

    cmd = "rss_rule_remove"
    cli = "rss rule rm"
    no_face = "TUI: not yet; the CLI's `tidegate rss rule rm`"
    name: str


class RssList(Command[RssState], frozen=True, forbid_unknown_fields=True):
    """Feeds (with their last poll and error), rules and the latest items acted on."""

    cmd = "rss_list"
    cli = "rss ls"
    tui = RSS_TUI
    # not in the snapshot: asked for by who shows it (the CLI, the TUI's RSS screen)


class RssRefresh(Command[RssState], frozen=True, forbid_unknown_fields=True):
    """Poll one feed (``url``) or every feed now; resolves once polled."""

    cmd = "rss_refresh"
    timeout = 600.0
    cli = "rss refresh"
    tui = "RSS dialog (R): Refresh all"
    url: str = ""


RSS_COMMANDS = frozenset({RssFeedAdd, RssFeedRemove, RssRuleSet, RssRuleRemove, RssList,
                          RssRefresh})
"""Commands the node runs (its RSS service), not the torrent engine."""
