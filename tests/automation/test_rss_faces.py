"""The RSS faces on a real node: the TUI's RSS dialog (``R``, driven by the pilot) adds a
feed served on loopback, shows its error and its rule, refreshes; the CLI's `tidegate rss`
parses what the commands take."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.conftest import EngineFactory
from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tests.helpers.tui_util import run_app, until
from tidegate.cli.main import build_parser
from tidegate.engine import commands as cmds
from tidegate.engine.errors import EngineError
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


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(TIDEGATE + ["rss", *args], env=env_for(home), capture_output=True,
                          text=True, timeout=120)


def test_tidegate_rss_drives_a_real_daemon(tmp_path: Path, daemons: list[DaemonProc]) -> None:
    home = short_home()
    daemon = DaemonProc(home).start()
    daemons.append(daemon)
    with FeedServer() as server:
        t1, _ = server.torrent(tmp_path, "Cli.S02E03")
        url = server.serve("/f", rss([("Cli S02E03", "c1", t1), ("Cli S01E09", "c0", t1)]))
        bad = _cli(home, "rule", "set", "cli", "--include", "cli", "--episodes", "2x-;x9")
        assert bad.returncode == 1
        assert "rule cli: episode filter term 'x9'" in " ".join(bad.stderr.split()), bad.stderr
        ok = _cli(home, "rule", "set", "cli", "--include", "cli", "--episodes", "S02-",
                  "--category", "tv")
        assert ok.returncode == 0, ok.stderr
        assert _cli(home, "add", url, "--interval", "3600").returncode == 0
        r = _cli(home, "refresh")
        assert r.returncode == 0, r.stderr
        assert "Cli S02E03 (rule cli): added" in r.stderr
        missing = server.url("/gone")
        assert _cli(home, "add", missing).returncode == 0
        r = _cli(home, "refresh", missing)
        assert r.returncode == 1 and f"error: {missing}: the server answered HTTP 404" in r.stderr
        listed = json.loads(_cli(home, "ls", "--json").stdout)
        assert [f["url"] for f in listed["feeds"]] == [url, missing]
        assert listed["rules"][0]["episodes"] == "S02-"
        assert _cli(home, "rm", missing).returncode == 0
        assert _cli(home, "rule", "rm", "cli").returncode == 0
        listed = json.loads(_cli(home, "ls", "--json").stdout)
        assert [f["url"] for f in listed["feeds"]] == [url] and listed["rules"] == []
    client = daemon.client()
    try:
        names = [(t.name, t.category) for t in client.snapshot.torrents.values()]
    finally:
        client.stop()
    assert names == [("Cli.S02E03", "tv")]


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


def test_a_bare_engine_says_where_rss_and_watch_folders_run(
        make_engine: EngineFactory) -> None:
    """The TUI's demo and one-shot jobs run a bare Engine: asked for RSS or watch folders it
    says where they run, not that the command is unknown."""
    e = make_engine("bare")
    for cmd in (cmds.RssList(), cmds.WatchList()):
        with pytest.raises(EngineError, match="run in the daemon and in the TUI"):
            e.run(cmd).result(5)
