"""RSS rules without the network: the episode filter, expressions, the feed parser's
choice of what to add, and the bounded history."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tidegate.engine.automation.rss_feed import parse
from tidegate.engine.automation.rss_rules import (
    Matcher,
    RssRule,
    check_rule,
    parse_episodes,
    title_episode,
)
from tidegate.engine.automation.rss_store import History
from tidegate.engine.errors import InputError

from .feed_server import atom, rss

END = 1 << 30


@pytest.mark.parametrize(("text", "spans"), [
    ("1x01-1x10;2x-", [((1, 1), (1, 10)), ((2, 0), (END, END))]),
    ("S01E01-S01E10; S02-", [((1, 1), (1, 10)), ((2, 0), (END, END))]),
    ("3", [((3, 0), (3, END))]),
    ("S04", [((4, 0), (4, END))]),
    ("1x05;", [((1, 5), (1, 5))]),
    ("s01e01-e10", [((1, 1), (1, 10))]),
    ("1x08-2x03", [((1, 8), (2, 3))]),
    ("1x05-", [((1, 5), (END, END))]),
    ("", []),
])
def test_episode_filters_parse(text: str, spans: list[object]) -> None:
    assert parse_episodes(text) == spans


@pytest.mark.parametrize("bad", ["x", "1x05-x", "1x10-1x02", "S01E", "1-3", "1x2x3", "a;1"])
def test_bad_episode_filters_are_refused_naming_the_rule(bad: str) -> None:
    with pytest.raises(InputError, match=r"^rule r: episode filter term"):
        parse_episodes(bad, "rule r")


@pytest.mark.parametrize(("title", "episode"), [
    ("Show.S01E05.720p", (1, 5)), ("show s1e5", (1, 5)), ("Show S02.E10", (2, 10)),
    ("Show 3x07 HDTV", (3, 7)), ("Show 1920x1080", None), ("Film (2020)", None),
    ("Show S01 complete", None),
])
def test_titles_name_their_episode(title: str, episode: object) -> None:
    assert title_episode(title) == episode


def test_a_rule_includes_excludes_and_filters_episodes() -> None:
    m = Matcher(check_rule(RssRule(name="r", include=r"^show\b", exclude=r"\bcam\b",
                                   episodes="1x02-1x03;2x-")))
    assert [t for t in ("Show S01E01", "Show S01E02", "Show S01E03 CAM", "Show S01E03",
                        "Show S01E04", "Show S05E01", "Other S01E02", "Show complete")
            if m.matches(t)] == ["Show S01E02", "Show S01E03", "Show S05E01"]
    assert Matcher(RssRule(name="any")).matches("anything at all")


def test_a_rule_applies_to_its_feeds_and_only_when_enabled() -> None:
    m = Matcher(check_rule(RssRule(name="r", feeds=[" http://a/f "])))
    assert m.applies_to("http://a/f") and not m.applies_to("http://b/f")
    assert not Matcher(RssRule(name="off", enabled=False)).applies_to("http://a/f")


@pytest.mark.parametrize(("rule", "message"), [
    (RssRule(name="r", include="(x"), r"^rule r: include '\(x' is not a valid regular"),
    (RssRule(name="r", exclude="[a"), r"^rule r: exclude '\[a' is not a valid regular"),
    (RssRule(name="r", feeds=["gopher://x"]), "must start with http:// or https://"),
    (RssRule(name=" "), "a rule name is 1 to 100 printable characters"),
    (RssRule(name="a\x1bb"), "a rule name is 1 to 100 printable characters"),
])
def test_bad_rules_are_refused_naming_the_rule(rule: RssRule, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_rule(rule)


def test_items_give_a_magnet_first_then_a_torrent_enclosure_and_titles_are_cleaned() -> None:
    data = rss([("A \x1b[31mred\x1b[0m title", "g1", "magnet:?xt=urn:btih:" + "a" * 40),
                ("B", "", "http://h/b.torrent")])
    feed = parse(data, "http://h/f", 100)
    assert [(i.title, i.target, i.guid) for i in feed.items] == [
        ("A \\x1b[31mred\\x1b[0m title", "magnet:?xt=urn:btih:" + "a" * 40, "g1"),
        ("B", "http://h/b.torrent", "")]
    assert [i.target for i in parse(atom([("C", "c", "http://h/c.torrent")]), "u", 9).items] \
        == ["http://h/c.torrent"]
    assert len(parse(rss([(f"t{i}", f"g{i}", f"http://h/{i}.torrent") for i in range(50)]),
                     "u", 10).items) == 10


def test_feed_bytes_that_look_like_a_path_are_not_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss([("leak", "x", "http://h/leak.torrent")]))
    with pytest.raises(InputError, match="not a well-formed RSS or Atom feed"):
        parse(str(secret).encode(), "http://h/f", 10)


def test_the_history_is_bounded_oldest_first_and_kept(tmp_path: Path) -> None:
    h = History(tmp_path, 100)
    for i in range(150):
        h.add(f"k{i}")
    assert len(h) == 100 and "k49" not in h and "k50" in h and "k149" in h
    h.save()
    again = History(tmp_path, 100)
    assert len(again) == 100 and "k50" in again and again.error == ""
    (tmp_path / "history.json").write_bytes(b"{not json")
    broken = History(tmp_path, 100)
    assert len(broken) == 0 and "set aside as history.json.bad" in broken.error
    assert (tmp_path / "history.json.bad").exists()


def test_an_entity_bomb_is_not_expanded() -> None:
    ents = '<!ENTITY a0 "dos">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE rss [{ents}]><rss version="2.0"><channel>'
            f"<title>&a9;</title><item><title>&a9;</title>"
            f"<link>magnet:?xt=urn:btih:{'a' * 40}</link></item></channel></rss>").encode()
    started = time.monotonic()
    try:
        feed = parse(bomb, "http://h/f", 10)
    except InputError as exc:  # refused is as good as not expanded
        assert str(exc).startswith("http://h/f: ")
    else:
        assert all(len(i.title) < 1000 for i in feed.items) and len(feed.title) <= 200
    assert time.monotonic() - started < 10
