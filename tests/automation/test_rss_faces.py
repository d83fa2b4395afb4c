"""The RSS faces on a real node: the TUI's RSS dialog (``R``, driven by the pilot) adds a
feed served on loopback, shows its error and its rule, refreshes; the CLI's `tidegate rss`
parses what the commands take."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.helpers.tui_util import run_app, until
from tidegate.cli.main import build_parser
from tidegate.engine import commands as cmds
from tidegate.tui.app import TidegateApp
from tidegate.tui.screens.rss import RssDialog

from .feed_server import FeedServer, rss
from .test_rss import make_node


def _text(dialog: RssDialog, selector: str) -> str:
    return str(dialog.query_one(selector, Static).render())


def test_the_rss_dialog_adds_a_feed_sets_a_rule_and_shows_errors(tmp_path: Path) -> None:
    with FeedServer() as server, make_node(tmp_path / "n") as node:
        t1, _ = server.torrent(tmp_path, "Dialog.S01E01")
        good = server.serve("/good", rss([("Dialog S01E01", "d1", t1)], title="[b]Good[/b]"))
        bad = server.url("/nothing-here")

        async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
            await pilot.press("R")
            await until(pilot, lambda: isinstance(app.screen, RssDialog), what="the dialog")
            dialog = app.screen
            assert isinstance(dialog, RssDialog)
            await until(pilot, lambda: "Feeds" in _text(dialog, "#listing"), what="listing")
            dialog.query_one("#rule_name", Input).value = "dialog"
            dialog.query_one("#rule_include", Input).value = "(unclosed"
            await pilot.click("#rule")
            await until(pilot, lambda: "rule dialog: include" in _text(dialog, ".problem"),
                        what="the refusal naming the rule")
            dialog.query_one("#rule_include", Input).value = r"dialog\b"
            await until(pilot, lambda: not dialog.busy, what="ready")
            dialog.query_one("#rule_include", Input).focus()
            await pilot.press("enter")
            await until(pilot, lambda: "dialog: /dialog" in _text(dialog, "#listing"),
                        what="the rule listed")
            for url in (bad, good):
                dialog.query_one("#url", Input).value = url
                await until(pilot, lambda: not dialog.busy, what="ready")
                dialog.query_one("#url", Input).focus()
                await pilot.press("enter")
                await until(pilot, lambda u=url: u in _text(dialog, "#listing"),
                            what="the feed listed")
            await pilot.click("#refresh")
            await until(pilot, lambda: "HTTP 404" in _text(dialog, "#listing")
                        and "[b]Good[/b]" in _text(dialog, "#listing"), timeout=30,
                        what="the feed's error and the other's title, as text")
            node.wait_for(lambda s: len(s.torrents) == 1, 15)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, RssDialog), what="closed")

        run_app(node, body)
        state = node.run(cmds.RssList()).result(10)
        assert {f.url for f in state.feeds} == {good, bad}
        assert [t.name for t in node.snapshot.torrents.values()] == ["Dialog.S01E01"]


def test_the_cli_parses_rss_commands() -> None:
    parser = build_parser()
    args = parser.parse_args(["rss", "rule", "set", "shows", "--include", "show", "--episodes",
                              "1x01-1x10;2x-", "--feed", "http://a/f", "--feed", "http://b/f",
                              "--category", "tv", "--save-path", "/srv/tv"])
    assert (args.name, args.include, args.episodes, args.feeds, args.category,
            args.save_path) == ("shows", "show", "1x01-1x10;2x-", ["http://a/f", "http://b/f"],
                                "tv", "/srv/tv")
    args = parser.parse_args(["rss", "add", "http://a/f", "--interval", "600"])
    assert (args.url, args.interval) == ("http://a/f", 600.0)
    assert parser.parse_args(["rss", "refresh"]).url == ""
