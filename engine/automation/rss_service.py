"""The RSS service: its own thread that polls feeds and adds what the rules match.

It sees the engine only through :class:`engine.services.TorrentService`: ``add`` (the
engine's add path: a magnet as is, a .torrent URL fetched here first), ``category_add``
(a rule's category is made when missing), ``config`` and ``post_event`` (a ``Log`` event
for every torrent added and every feed or item that failed). Feeds and the .torrent files
they name are fetched along the configured route (:mod:`.rss_http`: tor-all, proxy, or
direct when neither), with ``rss.timeout`` and size caps.

Polls run one feed at a time on the thread; a feed that fails keeps its error in
``RssFeedState.last_error`` (naming the feed) until its next good poll and the others go
on. Nothing a feed holds can stop the thread: every fault becomes that feed's or that
item's error. Commands change the feeds and rules under a lock and write
``feeds.json`` before replying (:mod:`.rss_store`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from ..errors import EngineError, InputError, TidegateError
from ..events import Log
from ..labels import check_category, check_save_path
from ..requests import AddRequest
from ..safetext import clean
from . import rss_http
from .rss_feed import FeedItem, parse
from .rss_rules import MAX_FEEDS, MAX_RULES, Matcher, RssRule, check_rule, check_url
from .rss_state import RssFeedState, RssLogEntry, RssState
from .rss_store import FeedEntry, FeedsFile, History, load_feeds, save_feeds

if TYPE_CHECKING:
    from ..services import TorrentService

LOG_SIZE = 100
"""Items acted on that ``RssState.log`` keeps."""
ADD_TIMEOUT = 60.0
"""Seconds the engine may take to take one torrent."""
MAX_INTERVAL = 604800.0


def history_keys(url: str, item: FeedItem) -> list[str]:
    """What the history remembers an item by: its target (the magnet or .torrent URL, the
    same in any feed) and, when it has one, its guid within its feed."""
    return [item.target] + ([f"{url}#{item.guid}"] if item.guid else [])


def check_interval(interval: float) -> float:
    """A feed's own interval: 0 (``rss.interval``) or 1 to 604800 seconds."""
    if not (interval == 0 or 1 <= interval <= MAX_INTERVAL):  # NaN fails too
        raise InputError(str(interval), "a feed's interval is 0 (rss.interval) or 1 to "
                                        f"{MAX_INTERVAL:.0f} seconds")
    return float(interval)


class RssService:
    """Feeds, rules and the thread that polls them.

    Args:
        engine: what the service adds torrents through.
        folder: where ``feeds.json`` and ``history.json`` are kept.
        clock: the wall clock (``RssFeedState.last_poll``, the history's times).
    """

    def __init__(self, engine: TorrentService, folder: Path,
                 clock: Callable[[], float] = time.time):
        self.engine = engine
        self.folder = folder
        self.clock = clock
        cfg = engine.config.rss
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        stored, problem = load_feeds(folder)
        self._feeds: dict[str, RssFeedState] = {
            f.url: RssFeedState(url=f.url, interval=f.interval) for f in stored.feeds}
        self._rules: dict[str, RssRule] = {r.name: r for r in stored.rules}
        self._due: dict[str, float] = dict.fromkeys(self._feeds, 0.0)
        self._history = History(folder, cfg.history_size)
        self._log: deque[RssLogEntry] = deque(maxlen=LOG_SIZE)
        self._error = "; ".join(p for p in (problem, self._history.error) if p)
        self._asked: list[tuple[str, Future[RssState]]] = []
        self._failed: dict[str, str] = {}
        """The last error of each item whose add failed (a log event only when it changes)."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tidegate-rss", daemon=True)
        if self._error:
            self._post("error", f"rss: {self._error}")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RssService:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (a poll under way ends within ``rss.timeout``)."""
        with self._wake:
            self._stopping = True
            asked, self._asked = self._asked, []
            self._wake.notify_all()
        for _, fut in asked:
            fut.set_exception(EngineError("the RSS service stopped"))
        if self._thread.is_alive():
            self._thread.join(timeout)

    # ------------------------------------------------------------------ commands

    def state(self) -> RssState:
        with self._lock:
            return RssState(enabled=self.engine.config.rss.enabled,
                            feeds=list(self._feeds.values()),
                            rules=list(self._rules.values()), log=list(self._log),
                            history=len(self._history), error=self._error)

    def feed_add(self, url: str, interval: float = 0.0) -> RssFeedState:
        """Add a feed (or give one a new interval); polled at once."""
        url, interval = check_url(url), check_interval(interval)
        with self._wake:
            if url not in self._feeds and len(self._feeds) >= MAX_FEEDS:
                raise InputError(url, f"at most {MAX_FEEDS} feeds")
            old = self._feeds.get(url)
            feed = (msgspec.structs.replace(old, interval=interval) if old is not None
                    else RssFeedState(url=url, interval=interval))
            feeds = dict(self._feeds)
            feeds[url] = feed
            self._save(feeds, self._rules)
            self._feeds = feeds
            if old is None:
                self._due[url] = 0.0
            self._wake.notify_all()
            return feed

    def feed_remove(self, url: str) -> None:
        with self._lock:
            url = url.strip()
            if url not in self._feeds:
                raise InputError(url, "no such feed (`tidegate rss ls` lists them)")
            feeds = {u: f for u, f in self._feeds.items() if u != url}
            self._save(feeds, self._rules)
            self._feeds = feeds
            self._due.pop(url, None)

    def rule_set(self, rule: RssRule) -> RssRule:
        """Add a rule or replace the one of that name (checked: a bad expression, episode
        filter, feed URL, category or save path is an error naming the rule)."""
        rule = check_rule(rule)
        label = f"rule {rule.name}"
        try:
            check_category(rule.category, allow_empty=True)
            check_save_path(rule.save_path)
        except InputError as exc:
            raise InputError(label, exc.reason + f" ({exc.source[:80]})") from None
        with self._lock:
            if rule.name not in self._rules and len(self._rules) >= MAX_RULES:
                raise InputError(label, f"at most {MAX_RULES} rules")
            rules = dict(self._rules)
            rules[rule.name] = rule
            self._save(self._feeds, rules)
            self._rules = rules
            return rule

    def rule_remove(self, name: str) -> None:
        with self._lock:
            name = name.strip()
            if name not in self._rules:
                raise InputError(name, "no such rule (`tidegate rss ls` lists them)")
            rules = {n: r for n, r in self._rules.items() if n != name}
            self._save(self._feeds, rules)
            self._rules = rules

    def refresh(self, url: str = "") -> Future[RssState]:
        """Poll one feed (or every feed) now; resolves to the state once polled."""
        fut: Future[RssState] = Future()
        url = url.strip()
        with self._wake:
            if url and url not in self._feeds:
                fut.set_exception(InputError(url, "no such feed (`tidegate rss ls` lists "
                                                  "them)"))
            elif self._stopping:
                fut.set_exception(EngineError("the RSS service stopped"))
            else:
                self._asked.append((url, fut))
                self._wake.notify_all()
        return fut

    def _save(self, feeds: dict[str, RssFeedState], rules: dict[str, RssRule]) -> None:
        save_feeds(self.folder, FeedsFile(
            feeds=[FeedEntry(url=f.url, interval=f.interval) for f in feeds.values()],
            rules=list(rules.values())))

    # ------------------------------------------------------------------ the thread

    def _interval(self, feed: RssFeedState) -> float:
        return feed.interval or self.engine.config.rss.interval

    def _next(self) -> tuple[list[str], list[Future[RssState]]] | None:
        """Wait for what to poll next: (feed URLs, futures to resolve after), None: stop."""
        with self._wake:
            while not self._stopping:
                if self._asked:
                    asked, self._asked = self._asked, []
                    urls = ([u for u in self._feeds] if any(not u for u, _ in asked)
                            else list(dict.fromkeys(u for u, _ in asked if u in self._feeds)))
                    return urls, [f for _, f in asked]
                now = time.monotonic()
                if self.engine.config.rss.enabled:
                    due = [u for u, t in self._due.items() if t <= now]
                    if due:
                        return due, []
                    wait = min(self._due.values(), default=now + 3600) - now
                else:
                    wait = 3600.0
                self._wake.wait(max(0.05, min(wait, 3600.0)))
            return None

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            urls, futures = job
            for url in urls:
                with self._lock:
                    if self._stopping:
                        break
                try:
                    self._poll(url)
                except Exception as exc:  # a fault of ours is that feed's error, never fatal
                    self._feed_done(url, error=f"{url}: internal error: "
                                               f"{type(exc).__name__}: {exc}"[:500])
            state = self.state()
            for fut in futures:
                if not fut.done():
                    fut.set_result(state)

    def _feed_done(self, url: str, *, error: str = "", title: str = "", items: int = 0,
                   added: int = 0) -> None:
        with self._lock:
            feed = self._feeds.get(url)
            if feed is None:  # removed meanwhile
                return
            self._due[url] = time.monotonic() + self._interval(feed)
            self._feeds = dict(self._feeds)
            self._feeds[url] = msgspec.structs.replace(
                feed, last_poll=self.clock(), last_error=error,
                title=title or feed.title, items=items if not error else feed.items,
                added=feed.added + added)
        if error and error != feed.last_error:  # once per new error, not at every poll
            self._post("error", f"rss: {error}")

    def _poll(self, url: str) -> None:
        cfg = self.engine.config
        try:
            data = rss_http.get(cfg, url, cfg.rss.max_feed_size, cfg.rss.timeout,
                                accept="application/rss+xml, application/atom+xml, "
                                       "application/xml, text/xml, */*")
            parsed = parse(data, url, cfg.rss.max_items)
        except TidegateError as exc:
            self._feed_done(url, error=clean(str(exc))[:500])
            return
        with self._lock:
            matchers = [Matcher(r) for r in self._rules.values()]
        matchers = [m for m in matchers if m.applies_to(url)]
        added = 0
        for item in parsed.items:
            if self._stopping:
                break
            keys = history_keys(url, item)
            if any(k in self._history for k in keys):
                continue
            rule = next((m.rule for m in matchers if m.matches(item.title)), None)
            if rule is not None and self._add(url, item, rule, keys):
                added += 1
        error = ""
        try:
            self._history.save()
        except OSError as exc:
            error = f"{url}: the history could not be saved: {exc}"[:500]
        self._feed_done(url, error=error, title=parsed.title, items=len(parsed.items),
                        added=added)

    def _add(self, url: str, item: FeedItem, rule: RssRule, keys: list[str]) -> bool:
        """Add one matched item; True once the engine has it (it is then remembered)."""
        cfg = self.engine.config
        try:
            if rule.category and rule.category not in self.engine.snapshot.categories:
                self.engine.category_add(rule.category, "").result(ADD_TIMEOUT)
            common = dict(source=f"{item.target[:300]} (RSS {url[:200]})",
                          category=rule.category, save_path=rule.save_path or None)
            if item.target.lower().startswith("magnet:"):
                request = AddRequest(uri=item.target, **common)  # type: ignore[arg-type]
            else:
                data = rss_http.get(cfg, item.target, cfg.limits.max_torrent_file_size,
                                    cfg.rss.timeout,
                                    accept="application/x-bittorrent, */*")
                request = AddRequest(torrent=data, **common)  # type: ignore[arg-type]
            torrent_id = self.engine.add(request).result(ADD_TIMEOUT)
        except Exception as exc:  # the engine's refusal, a fetch, a timeout: this item's error
            text = clean(str(exc) or type(exc).__name__)[:400]
            if self._failed.get(keys[0]) != text:  # once per new error, not at every poll
                self._failed[keys[0]] = text
                self._note(url, item, rule, f"error: {text}")
                while len(self._failed) > LOG_SIZE * 10:
                    del self._failed[next(iter(self._failed))]
                self._post("error", f"rss: {url}: {item.title[:100]}: {text}")
            return False
        self._failed.pop(keys[0], None)
        self._history.add(*keys)
        self._note(url, item, rule, f"added {torrent_id}")
        self._post("info", f"rss: added {item.title[:100]} (rule {rule.name})")
        return True

    def _note(self, url: str, item: FeedItem, rule: RssRule, outcome: str) -> None:
        with self._lock:
            self._log.append(RssLogEntry(time=self.clock(), feed=url, title=item.title,
                                         rule=rule.name, outcome=outcome))

    def _post(self, level: str, message: str) -> None:
        try:
            self.engine.post_event(Log(level=level, message=message))
        except Exception:  # an engine stopping: the state still shows it
            pass
