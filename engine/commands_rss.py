"""The RSS commands (engine/automation/rss_service.py; docs/automation.md). They are run
by a :class:`engine.node.Node`, which owns the RSS service; a bare Engine refuses them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .automation.rss_rules import MAX_FEEDS, MAX_PATTERN, MAX_URL, RssRule
from .automation.rss_state import RssFeedState, RssState
from .command_base import Command

Url = Annotated[str, msgspec.Meta(max_length=MAX_URL)]
FeedUrls = Annotated[list[Url], msgspec.Meta(max_length=MAX_FEEDS)]
RuleName = Annotated[str, msgspec.Meta(max_length=200)]
Pattern = Annotated[str, msgspec.Meta(max_length=MAX_PATTERN)]
Text = Annotated[str, msgspec.Meta(max_length=4096)]
Interval = Annotated[float, msgspec.Meta(ge=0, le=604800)]
"""Seconds; 0 follows ``rss.interval``, else at least 1 (checked by the service)."""

RSS_TUI = "RSS dialog (R)"


class RssFeedAdd(Command[RssFeedState], frozen=True, forbid_unknown_fields=True):
    """Add an RSS or Atom feed (or give one a new interval, seconds; 0: ``rss.interval``);
    it is polled at once."""

    cmd = "rss_feed_add"
    cli = "rss add"
    tui = "RSS dialog (R): Add feed"
    url: Url
    interval: Interval = 0.0


class RssFeedRemove(Command[None], frozen=True, forbid_unknown_fields=True):
    """Stop polling a feed (what it added stays; its items stay in the history)."""

    cmd = "rss_feed_remove"
    cli = "rss rm"
    tui = "RSS dialog (R): Remove feed"
    url: Url


class RssRuleSet(Command[RssRule], frozen=True, forbid_unknown_fields=True):
    """Add a download rule or replace the one of that name: include/exclude regular
    expressions, an episode filter, the feeds it applies to (none: all), the category and
    save path of what it adds."""

    cmd = "rss_rule_set"
    cli = "rss rule set"
    tui = "RSS dialog (R): Set rule (name and include)"
    name: RuleName
    include: Pattern = ""
    exclude: Pattern = ""
    episodes: Pattern = ""
    feeds: FeedUrls = msgspec.field(default_factory=list)
    category: Text = ""
    save_path: Text = ""
    enabled: bool = True


class RssRuleRemove(Command[None], frozen=True, forbid_unknown_fields=True):
    """Remove a download rule."""

    cmd = "rss_rule_remove"
    cli = "rss rule rm"
    no_face = "TUI: not yet; the CLI's `tidegate rss rule rm`"
    name: RuleName


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
    url: Url = ""


RSS_COMMANDS = frozenset({RssFeedAdd, RssFeedRemove, RssRuleSet, RssRuleRemove, RssList,
                          RssRefresh})
"""Commands the node runs (its RSS service), not the torrent engine."""
