"""RSS download rules: what they hold, how they are checked and how an item is matched.

Sans-IO: no sockets, no threads, no clock. A rule matches an item's title when its
``include`` expression is found in it (empty: every title), its ``exclude`` expression is
not (empty: none excluded), and, when it has an ``episodes`` filter, the title names an
episode the filter holds. Expressions are Python regular expressions, searched
case-insensitively.

The episode filter (docs/automation.md): terms separated by ``;`` (spaces ignored, a last
``;`` optional), each one of

* ``2`` or ``2x`` or ``S02``: every episode of season 2;
* ``1x05`` or ``S01E05``: that episode;
* ``1x01-10`` or ``S01E01-E10``: episodes 1 to 10 of season 1;
* ``1x08-2x03`` or ``S01E08-S02E03``: from one episode to another, across seasons;
* ``1x05-`` or ``S01E05-``: that episode and every later one (later seasons too);
* ``2x-`` or ``S02-``: season 2 and every later season.

A title names an episode as ``S01E05`` (also ``s1e5``, ``S01.E05``, ``S01 E05``) or
``1x05``; the first one found counts. With a filter, a title that names no episode (a
season pack, a film) does not match.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from ..errors import InputError

MAX_PATTERN = 1000
"""Longest include or exclude expression, characters."""
MAX_TITLE = 1000
"""Characters of an item's title that rules look at."""
MAX_RULES = 1000
MAX_FEEDS = 1000
MAX_URL = 2048
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")

Episode = tuple[int, int]
"""(season, episode)."""
Span = tuple[Episode, Episode]
"""Inclusive bounds."""
_END = 1 << 30


class RssRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One download rule (kept in ``rss/feeds.json``)."""

    name: str
    """Its name, unique."""
    include: str = ""
    """Regular expression a title must contain (case-insensitive); empty: any title."""
    exclude: str = ""
    """Regular expression a title must not contain; empty: none excluded."""
    episodes: str = ""
    """Episode filter (``1x01-1x10;2x-``, ``S01E01-S01E10;S02-``); empty: no filter."""
    feeds: Annotated[list[str], msgspec.Meta(max_length=MAX_FEEDS)] = msgspec.field(
        default_factory=list)
    """URLs of the feeds it applies to; empty: every feed."""
    category: str = ""
    """Category of the torrents it adds ("" none; made when missing)."""
    save_path: str = ""
    """Folder of the torrents it adds ("" the category's or the default)."""
    enabled: bool = True


_TERM = re.compile(r"^(\d{1,5})(?:x(\d{1,5})?)?(?:(-)(?:(\d{1,5})(?:x(\d{1,5}))?)?)?$")


def _normalise(term: str) -> str:
    """``S01E05-S02E03`` and ``S01E01-E10`` in the ``1x05-2x03`` form."""
    t = term.lower().replace(" ", "")
    t = re.sub(r"s(\d+)e(\d+)", r"\1x\2", t)
    t = re.sub(r"-e(\d+)$", r"-\1", t)
    return re.sub(r"s(\d+)", r"\1x", t)


def parse_episodes(text: str, rule: str = "") -> list[Span]:
    """The spans an episode filter holds.

    Raises:
        InputError: a term that is none of the forms above, or a range that ends before
            it starts, naming the rule and the term.
    """
    spans: list[Span] = []
    for raw in text.split(";"):
        if not raw.strip():
            continue
        m = _TERM.match(_normalise(raw))
        if m is None:
            raise InputError(rule or text, f"episode filter term {raw.strip()!r} is not "
                                           "one of 2, 1x05, 1x01-10, 1x08-2x03, 1x05-, 2x- "
                                           "(or S01E05 forms)")
        season, ep, dash, end_a, end_b = m.groups()
        s = int(season)
        low = (s, int(ep) if ep else 0)
        if not dash:
            high = (s, int(ep)) if ep else (s, _END)
        elif end_a is None:
            high = (_END, _END)
        elif end_b is None:  # 1x01-10: within the season
            if not ep:
                raise InputError(rule or text, f"episode filter term {raw.strip()!r}: a "
                                               "range within a season needs its first "
                                               "episode (1x01-10)")
            high = (s, int(end_a))
        else:
            high = (int(end_a), int(end_b))
        if high < low:
            raise InputError(rule or text, f"episode filter term {raw.strip()!r} ends "
                                           "before it starts")
        spans.append((low, high))
    return spans


_EPISODE = re.compile(r"(?<![a-z0-9])s(\d{1,4})[ ._-]?e(\d{1,4})(?!\d)"
                      r"|(?<![a-z0-9])(\d{1,2})x(\d{1,3})(?!\d)", re.IGNORECASE)


def title_episode(title: str) -> Episode | None:
    """The first episode a title names (``S01E05``, ``1x05``), or None."""
    m = _EPISODE.search(title[:MAX_TITLE])
    if m is None:
        return None
    a, b, c, d = m.groups()
    return (int(a), int(b)) if a is not None else (int(c), int(d))


def _compile(pattern: str, rule: str, what: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    if len(pattern) > MAX_PATTERN:
        raise InputError(rule, f"{what} is longer than {MAX_PATTERN} characters")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise InputError(rule, f"{what} {pattern[:80]!r} is not a valid regular expression: "
                               f"{exc}") from None


def check_url(url: str) -> str:
    """A feed URL: http or https, printable, bounded."""
    u = url.strip()
    if not u.lower().startswith(("http://", "https://")):
        raise InputError(url[:200], "a feed URL must start with http:// or https://")
    if len(u) > MAX_URL or any(ord(c) < 0x21 or ord(c) == 0x7f for c in u):
        raise InputError(url[:200], "the feed URL is too long or holds spaces or control "
                                    "characters")
    return u


def check_rule(rule: RssRule) -> RssRule:
    """The rule with its name trimmed, once every part of it is valid.

    Raises:
        InputError: naming the rule and what is wrong with it.
    """
    name = rule.name.strip()
    if not _NAME.fullmatch(name):
        raise InputError(rule.name[:100] or "(empty)", "a rule name is 1 to 100 printable "
                                                       "characters")
    label = f"rule {name}"
    _compile(rule.include, label, "include")
    _compile(rule.exclude, label, "exclude")
    parse_episodes(rule.episodes, label)
    for url in rule.feeds:
        check_url(url)
    return msgspec.structs.replace(rule, name=name,
                                   feeds=list(dict.fromkeys(u.strip() for u in rule.feeds)))


class Matcher:
    """A checked rule, compiled (build once per poll)."""

    def __init__(self, rule: RssRule):
        label = f"rule {rule.name}"
        self.rule = rule
        self.include = _compile(rule.include, label, "include")
        self.exclude = _compile(rule.exclude, label, "exclude")
        self.spans = parse_episodes(rule.episodes, label)
        self.feeds = frozenset(rule.feeds)

    def applies_to(self, feed_url: str) -> bool:
        return self.rule.enabled and (not self.feeds or feed_url in self.feeds)

    def matches(self, title: str) -> bool:
        t = title[:MAX_TITLE]
        if self.include is not None and not self.include.search(t):
            return False
        if self.exclude is not None and self.exclude.search(t):
            return False
        if self.rule.episodes:
            ep = title_episode(t)
            return ep is not None and any(lo <= ep <= hi for lo, hi in self.spans)
        return True
