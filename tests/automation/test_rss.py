"""RSS on real parts: a real HTTP server on loopback serving RSS 2.0 and Atom feeds that
point at real .torrent files it also serves, and magnets; a real engine (in a Node, run
through the commands) adding what the rules match."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LOOPBACK, build_engine, merge
from tidegate.engine import commands as cmds
from tidegate.engine.automation.rss_rules import RssRule
from tidegate.engine.automation.rss_service import RssService
from tidegate.engine.automation.rss_state import RssState
from tidegate.engine.config import LoadedConfig, from_dict
from tidegate.engine.errors import InputError
from tidegate.engine.node import Node
from tidegate.engine.paths import resolve_paths

from .feed_server import FeedServer, atom, rss


def make_node(home: Path, **sections: dict[str, Any]) -> Node:
    cfg = from_dict(merge(merge(LOOPBACK, {"storage": {"download_dir": str(home / "dl")}}),
                          sections))
    loaded = LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(home)}), frozenset(),
                          False)
    return Node(loaded, sites=False)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def feed_of(state: RssState, url: str) -> Any:
    return next(f for f in state.feeds if f.url == url)


def test_rss_and_atom_feeds_add_what_rules_match_with_category_and_save_path(
        tmp_path: Path, server: FeedServer) -> None:
    t1, _ = server.torrent(tmp_path, "Show.S01E01.720p")
    t2, _ = server.torrent(tmp_path, "Show.S01E02.720p")
    t3, _ = server.torrent(tmp_path, "Show.S01E03.CAM")
    _, m4 = server.torrent(tmp_path, "Show.S02E01.720p")
    _, m5 = server.torrent(tmp_path, "Other.Film.720p")
    rss_url = server.serve("/rss", rss([("Show S01E01 720p", "g1", t1),
                                        ("Show S01E02 720p", "g2", t2),
                                        ("Show S01E03 CAM", "g3", t3),
                                        ("Other Film 720p", "g5", m5)]))
    atom_url = server.serve("/atom", atom([("Show 2x01 720p", "a1", m4)]),
                            "application/atom+xml")
    save = tmp_path / "shows"
    with make_node(tmp_path / "n") as node:
        node.run(cmds.RssRuleSet("shows", include=r"^show\b", exclude="cam",
                                 episodes="S01E02-;", category="tv",
                                 save_path=str(save))).result(10)
        node.run(cmds.RssFeedAdd(rss_url)).result(10)
        node.run(cmds.RssFeedAdd(atom_url, 3600)).result(10)
        state = node.run(cmds.RssRefresh()).result(60)
        names = {t.name: t for t in node.snapshot.torrents.values()}
        assert feed_of(state, rss_url).last_error == ""
        assert feed_of(state, rss_url).items == 4
        assert feed_of(state, atom_url).title == "atom feed"
        # S01E01 is before the episode filter, E03 is excluded, the film is not included
        node.wait_for(lambda s: len(s.torrents) == 2, 15)
        names = {t.name: t for t in node.snapshot.torrents.values()}
        assert set(names) == {"Show.S01E02.720p", "Show.S02E01.720p"}, names
        for t in names.values():
            assert t.category == "tv"
            assert Path(t.save_path) == save
        assert "tv" in node.snapshot.categories
        assert "/t/Show.S01E02.720p.torrent" in server.asked
        assert "/t/Show.S01E01.720p.torrent" not in server.asked  # never fetched
        listed = node.run(cmds.RssList()).result(10)
        assert [r.name for r in listed.rules] == ["shows"]
        assert {e.outcome.split()[0] for e in listed.log} == {"added"}
        assert listed.history == 4  # two items, each by guid and by target
        # a second poll adds nothing
        node.run(cmds.RssRefresh()).result(60)
        assert len(node.snapshot.torrents) == 2


def test_nothing_is_added_twice_across_a_restart(tmp_path: Path, server: FeedServer) -> None:
    t1, _ = server.torrent(tmp_path, "Series.1x01")
    url = server.serve("/f", rss([("Series 1x01", "s1", t1)]))
    home = tmp_path / "e"
    engine = build_engine(home)
    engine.start()
    service = RssService(engine, home / "rss").start()
    try:
        service.rule_set(RssRule(name="all"))
        service.feed_add(url)
        service.refresh().result(60)
        engine.wait_for(lambda s: len(s.torrents) == 1, 15)
        (tid,) = engine.snapshot.torrents
        history = json.loads((home / "rss" / "history.json").read_text())
        assert {k for k, _ in history["items"]} == {f"{url}#s1", t1}
        assert (home / "rss").stat().st_mode & 0o777 == 0o700
    finally:
        service.stop()
        engine.stop()
    # the user removes the torrent while the engine is down: only the history keeps it out
    engine = build_engine(home)
    engine.start()
    try:
        engine.wait_for(lambda s: tid in s.torrents, 15)
        engine.remove(tid).result(10)
        engine.wait_for(lambda s: not s.torrents, 10)
        service = RssService(engine, home / "rss").start()
        try:
            state = service.refresh().result(60)
            assert [r.name for r in state.rules] == ["all"]  # feeds.json kept them
            assert [f.url for f in state.feeds] == [url]
            assert feed_of(state, url).last_error == ""
            assert feed_of(state, url).added == 0
            assert not engine.snapshot.torrents
            assert server.asked.count("/t/Series.1x01.torrent") == 1
        finally:
            service.stop()
    finally:
        engine.stop()


def test_a_malformed_a_huge_and_a_missing_feed_show_their_errors_and_the_rest_goes_on(
        tmp_path: Path, server: FeedServer) -> None:
    t1, _ = server.torrent(tmp_path, "Good.One")
    good = server.serve("/good", rss([("Good One", "ok1", t1)]))
    broken = server.serve("/broken", b'<rss version="2.0"><channel><item><title>Good Two'
                                     b"<enclosure url='http://127.0.0.1:1/x.torrent'")
    garbage = server.serve("/garbage", b"\x00\xff not a feed \x89PNG" * 50, "text/html")
    huge_items = [(f"Good {i}", f"h{i}", t1) for i in range(20_000)]
    huge = server.serve("/huge", rss(huge_items))
    assert len(server.routes["/huge"][0]) > 1024 * 1024
    unsized = server.serve("/unsized", server.routes["/huge"][0])
    server.no_length.add("/unsized")
    slow = server.serve("/slow", rss([("Good slow", "s1", t1)]))
    server.slow["/slow"] = 4.0
    missing = server.url("/missing")
    with make_node(tmp_path / "n", rss={"max_feed_size": 1024 * 1024, "timeout": 1}) as node:
        node.run(cmds.RssRuleSet("good", include="good")).result(10)
        for url in (broken, garbage, huge, unsized, slow, missing, good):
            node.run(cmds.RssFeedAdd(url)).result(10)
        state = node.run(cmds.RssRefresh()).result(60)
        errors = {f.url: f.last_error for f in state.feeds}
        assert errors[good] == ""
        for url in (broken, garbage, huge, unsized, slow, missing):
            assert errors[url].startswith(url + ": "), errors[url]
        assert "not a well-formed RSS or Atom feed" in errors[broken]
        assert "not a well-formed RSS or Atom feed" in errors[garbage]
        assert "larger than the limit of 1048576" in errors[huge]  # by its Content-Length
        assert errors[unsized].endswith("larger than the limit of 1048576 bytes")  # read
        assert errors[slow].endswith("no answer within 1 s")
        assert "HTTP 404" in errors[missing]
        node.wait_for(lambda s: len(s.torrents) == 1, 15)
        assert [t.name for t in node.snapshot.torrents.values()] == ["Good.One"]
        assert node.running
        # a feed that recovers loses its error at its next good poll
        server.serve("/missing", rss([]))
        state = node.run(cmds.RssRefresh(missing)).result(60)
        assert feed_of(state, missing).last_error == ""


def test_a_torrent_url_that_fails_is_that_items_error_and_is_tried_again(
        tmp_path: Path, server: FeedServer) -> None:
    url = server.serve("/f", rss([("Later 1x01", "l1", server.url("/t/later.torrent"))]))
    with make_node(tmp_path / "n") as node:
        node.run(cmds.RssRuleSet("later", include="later")).result(10)
        node.run(cmds.RssFeedAdd(url)).result(10)
        state = node.run(cmds.RssRefresh()).result(60)
        (entry,) = state.log
        assert entry.outcome.startswith("error: ") and "HTTP 404" in entry.outcome
        assert entry.rule == "later" and entry.title == "Later 1x01"
        assert state.history == 0 and not node.snapshot.torrents
        state = node.run(cmds.RssRefresh()).result(60)
        assert len(state.log) == 1  # the same error is not logged again at every poll
        assert server.asked.count("/t/later.torrent") == 2  # but it was tried again
        t, _ = server.torrent(tmp_path, "later")
        assert t == server.url("/t/later.torrent")
        state = node.run(cmds.RssRefresh()).result(60)
        assert state.log[-1].outcome.startswith("added ")
        node.wait_for(lambda s: len(s.torrents) == 1, 15)


def test_bad_rules_and_feeds_are_refused_naming_them(tmp_path: Path) -> None:
    with make_node(tmp_path / "n") as node:
        with pytest.raises(InputError, match=r"^rule bad: include '\(unclosed' is not a "
                                             "valid regular expression"):
            node.run(cmds.RssRuleSet("bad", include="(unclosed")).result(10)
        with pytest.raises(InputError, match=r"^rule eps: episode filter term '1x05-x'"):
            node.run(cmds.RssRuleSet("eps", episodes="1x01;1x05-x")).result(10)
        with pytest.raises(InputError, match="rule cat"):
            node.run(cmds.RssRuleSet("cat", save_path="relative/path")).result(10)
        with pytest.raises(InputError, match="must start with http:// or https://"):
            node.run(cmds.RssFeedAdd("ftp://example.invalid/feed")).result(10)
        with pytest.raises(InputError, match="interval"):
            node.run(cmds.RssFeedAdd("http://127.0.0.1:1/f", -5)).result(10)
        state = node.run(cmds.RssList()).result(10)
        assert state.rules == [] and state.feeds == []


def test_feeds_are_polled_at_their_interval_and_not_when_polling_is_off(
        tmp_path: Path, server: FeedServer) -> None:
    t1, _ = server.torrent(tmp_path, "Tick.1x01")
    t2, _ = server.torrent(tmp_path, "Tick.1x02")
    url = server.serve("/f", rss([("Tick 1x01", "k1", t1)]))
    with make_node(tmp_path / "n") as node:
        node.run(cmds.RssRuleSet("tick", include="tick")).result(10)
        node.run(cmds.RssFeedAdd(url, 1)).result(10)  # polled at once, then every second
        node.wait_for(lambda s: len(s.torrents) == 1, 15)
        server.serve("/f", rss([("Tick 1x01", "k1", t1), ("Tick 1x02", "k2", t2)]))
        node.wait_for(lambda s: len(s.torrents) == 2, 15)  # no refresh asked
        assert server.asked.count("/t/Tick.1x01.torrent") == 1
        polls = server.asked.count("/f")
        assert polls >= 2
    t3, _ = server.torrent(tmp_path, "Off.1x01")
    url = server.serve("/off", rss([("Off 1x01", "o1", t3)]))
    with make_node(tmp_path / "m", rss={"enabled": False}) as node:
        node.run(cmds.RssRuleSet("off", include="off")).result(10)
        node.run(cmds.RssFeedAdd(url, 1)).result(10)
        with pytest.raises(TimeoutError):
            node.wait_for(lambda s: len(s.torrents) > 0, 2.5)
        assert "/off" not in server.asked
        state = node.run(cmds.RssList()).result(10)
        assert state.enabled is False and feed_of(state, url).last_poll == 0
        node.run(cmds.RssRefresh()).result(60)  # asked for: polled all the same
        node.wait_for(lambda s: len(s.torrents) == 1, 15)
