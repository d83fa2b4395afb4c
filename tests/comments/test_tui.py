"""The TUI's Comments dialog (``C``) on a real node, driven by the pilot: the status,
a thread shown, a comment posted and a reply by its number, hostile text shown as text,
a refusal shown under the fields."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.helpers.tui_util import run_app, until
from tidegate.engine import commands as cmds
from tidegate.tui.app import TidegateApp
from tidegate.tui.screens.comments import CommentsDialog

from .util import URL, node_with_comments


def _text(dialog: CommentsDialog, selector: str) -> str:
    return str(dialog.query_one(selector, Static).render())


def test_the_comments_dialog_shows_posts_and_replies(tmp_path: Path) -> None:
    with node_with_comments(tmp_path / "n") as node:
        hostile = node.run(cmds.CommentPost(URL, "[b]bold?[/b] \u202eflip\nline two")).result(60)

        async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
            await pilot.press("C")
            await until(pilot, lambda: isinstance(app.screen, CommentsDialog), what="dialog")
            dialog = app.screen
            assert isinstance(dialog, CommentsDialog)
            await until(pilot, lambda: "8 bits of work" in _text(dialog, "#status"),
                        what="the status")
            dialog.query_one("#url", Input).value = URL
            await pilot.click("#show")
            await until(pilot, lambda: "#1" in _text(dialog, "#thread"), what="the thread")
            shown = _text(dialog, "#thread")
            assert "[b]bold?[/b] \\u202eflip" in shown and "line two" in shown
            assert "\u202e" not in shown
            dialog.query_one("#reply", Input).value = "#7"
            dialog.query_one("#text", Input).value = "nope"
            await pilot.click("#ok")
            await until(pilot, lambda: "no comment #7" in _text(dialog, ".problem"),
                        what="the refusal")
            dialog.query_one("#reply", Input).value = "#1"
            dialog.query_one("#text", Input).value = "a reply from the TUI"
            await until(pilot, lambda: not dialog.busy, what="ready")
            dialog.query_one("#text", Input).focus()
            await pilot.press("enter")
            await until(pilot, lambda: "a reply from the TUI" in _text(dialog, "#thread"),
                        timeout=60, what="the reply shown: "
                        f"{_text(dialog, '.problem')!r} {dialog.busy}")
            assert dialog.query_one("#text", Input).value == ""
            dialog.query_one("#url", Input).value = "ftp://nope/"
            await pilot.click("#show")
            await until(pilot, lambda: "only http and https" in _text(dialog, ".problem"),
                        what="the URL refused")
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, CommentsDialog),
                        what="closed")

        run_app(node, body)
        thread = node.run(cmds.CommentList(URL)).result(10)
        assert [c.content for c in thread][1] == "a reply from the TUI"
        assert thread[1].parent == hostile.id
