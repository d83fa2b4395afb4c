"""A feed's bytes as items: parsed by feedparser (RSS 0.9x-2.0, RSS 1.0, Atom), never by
hand. Each item gives its title and what to add: a magnet link, or the URL of a .torrent
file (an enclosure, else a link). Titles are text from outside: control characters are
dropped and the length is bounded; they are never markup.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..safetext import clean
from .rss_rules import MAX_TITLE, MAX_URL

TORRENT_TYPE = "application/x-bittorrent"


@dataclass(frozen=True)
class FeedItem:
    title: str
    """The item's title (cleaned)."""
    target: str
    """A ``magnet:`` URI or an http(s) URL of a .torrent file."""
    guid: str
    """Its guid (Atom id), "" when it has none: unique within its feed only."""


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    items: list[FeedItem]
    skipped: int
    """Items with nothing to add (no magnet, no link)."""


def _ok_target(url: object) -> str | None:
    if not isinstance(url, str):
        return None
    u = url.strip()
    if len(u) > MAX_URL * 4 or any(ord(c) < 0x20 for c in u):
        return None
    low = u.lower()
    if low.startswith("magnet:?"):
        return u
    if low.startswith(("http://", "https://")) and len(u) <= MAX_URL:
        return u
    return None


def _target(entry: Any) -> str | None:
    """A magnet anywhere in the item first, then a .torrent enclosure, then any enclosure,
    then the item's link."""
    links = entry.get("links") or []
    candidates: list[tuple[int, str]] = []
    for link in links:
        href = _ok_target(link.get("href"))
        if href is None:
            continue
        rel, kind = link.get("rel", ""), (link.get("type") or "").lower()
        if href.lower().startswith("magnet:"):
            candidates.append((0, href))
        elif rel == "enclosure" and kind == TORRENT_TYPE:
            candidates.append((1, href))
        elif rel == "enclosure":
            candidates.append((2, href))
        elif href.lower().split("?")[0].endswith(".torrent"):
            candidates.append((3, href))
        else:
            candidates.append((4, href))
    link = _ok_target(entry.get("link"))
    if link is not None:
        candidates.append((0 if link.lower().startswith("magnet:") else 4, link))
    # torrent feeds often carry the magnet in their own elements (<torrent:magnetURI>)
    for key in ("torrent_magneturi", "magneturi"):
        magnet = _ok_target(entry.get(key))
        if magnet is not None and magnet.lower().startswith("magnet:"):
            candidates.append((0, magnet))
    if not candidates:
        return None
    return min(candidates, key=lambda c: c[0])[1]


def parse(data: bytes, url: str, max_items: int) -> ParsedFeed:
    """The items of a feed (at most ``max_items``).

    Raises:
        InputError: naming the feed, when nothing usable was found in it and it is not a
            well-formed feed (feedparser reads what it can of a feed with errors: such a
            feed gives the items it could read, and no error).
    """
    import feedparser  # type: ignore[import-untyped]  # here: ~50 ms, when a feed is polled

    # a stream, never bytes or str: feedparser opens a string that looks like a path or URL
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=False,
                              resolve_relative_uris=False)
    entries = parsed.get("entries") or []
    items: list[FeedItem] = []
    skipped = 0
    for entry in entries[:max_items]:
        target = _target(entry)
        if target is None:
            skipped += 1
            continue
        title = clean(str(entry.get("title") or target))[:MAX_TITLE]
        guid = entry.get("id")
        guid = clean(guid.strip())[:MAX_URL] if isinstance(guid, str) else ""
        items.append(FeedItem(title=title, target=target, guid=guid))
    if not items and (parsed.get("bozo") or not parsed.get("version")):
        problem = parsed.get("bozo_exception")
        why = clean(str(problem))[:200] if problem is not None else "no feed found"
        raise InputError(url, f"not a well-formed RSS or Atom feed: {why}")
    title = clean(str(parsed.get("feed", {}).get("title") or ""))[:200]
    return ParsedFeed(title=title, items=items, skipped=skipped)
