"""The Comments dialog (``C``): a URL's comments as a thread, and a box to comment or
reply (docs/comments.md).

It asks the node for the endpoint's status (``comment_status``) when it opens and for a
URL's thread (``comment_list``) on Show; Post sends ``comment_post`` (the node signs and
mines: the button waits) and shows the thread again. Reply takes a comment's number in
the thread (``#3``) or the start of its id. Like the RSS dialog it stays open with the
node's refusal under the fields. Comment text, URLs and keys come from strangers: they
are cleaned and drawn as ``Text``, never markup.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from typing import Any, Protocol

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from tidegate.engine import commands as cmds
from tidegate.engine.comments.views import CommentsInfo, CommentView, threaded
from tidegate.engine.safetext import clean

from .dialogs import Dialog


class Runs(Protocol):
    def run(self, cmd: Any) -> Future[Any]: ...


def header(info: CommentsInfo) -> Text:
    out = Text()
    out.append("endpoint ", "dim")
    out.append(clean(info.url) or "not serving", "bold" if info.url else "red")
    work = (f"allow-list of {info.allow_authors}" if info.allow_authors
            else f"{info.difficulty} bits of work")
    out.append(f"  {work}, {info.count} held\n", "dim")
    if info.failure:
        out.append(clean(info.failure) + "\n", "red")
    out.append("you      ", "dim")
    out.append(info.author[:16] + "…")
    return out


def thread_text(comments: list[CommentView], now: float | None = None) -> Text:
    """The thread, numbered (``#1``...) in the order shown, replies indented."""
    now = time.time() if now is None else now
    out = Text()
    if not comments:
        out.append("no comments yet", "dim")
        return out
    for n, (depth, c) in enumerate(threaded(comments), 1):
        indent = "  " * depth
        who = c.author[:12] if c.author else "nostr:" + c.nostr[:8]
        out.append(f"{indent}#{n} ", "bold")
        out.append(f"{clean(who)}  {max(0, int(now - c.created_at))} s ago  "
                   f"{c.id[:8]}\n", "dim")
        for text_line in c.content.splitlines() or [""]:
            out.append(f"{indent}   {clean(text_line)}\n")
    return out


class CommentsDialog(Dialog[str]):
    """Comments on a URL; answers the id of the last comment posted (or None)."""

    DEFAULT_CSS = """
    CommentsDialog > Vertical { width: 110; }
    CommentsDialog #thread { height: auto; max-height: 22; overflow-y: auto; }
    CommentsDialog #reply { width: 16; margin-right: 1; }
    CommentsDialog #text { width: 1fr; }
    """

    def __init__(self, engine: Runs, url: str = "") -> None:
        super().__init__()
        self.engine = engine
        self.url = url
        self.busy = False
        self.posted = ""
        self.shown: list[CommentView] = []
        """The thread last shown, in its numbered order."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Comments", classes="title")
            yield Static(Text("asking the node…"), id="status")
            yield Label("URL (Show lists its comments)")
            yield Input(self.url, id="url", compact=True, placeholder="https://example.org/")
            yield Static(Text(""), id="thread")
            yield Label("Reply to (#number or id; empty: the URL) and your comment")
            with Horizontal():
                yield Input(id="reply", compact=True, placeholder="#1")
                yield Input(id="text", compact=True, placeholder="your comment")
            yield Static("", classes="problem")
            yield Horizontal(Button("Close", id="cancel", compact=True),
                             Button("Show", id="show", compact=True),
                             Button("Post", id="ok", variant="primary", compact=True))

    def on_mount(self) -> None:
        self.run_worker(self._status())
        if self.url:
            self._send_show()

    async def _status(self) -> None:
        try:
            info = await asyncio.wrap_future(self.engine.run(cmds.CommentStatus()))
        except Exception as exc:
            self.problem(str(exc) or type(exc).__name__)
            return
        self.query_one("#status", Static).update(header(info))

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    @on(Input.Submitted, "#url")
    @on(Button.Pressed, "#show")
    def _send_show(self) -> None:
        self._send(self._show(), "")

    async def _show(self) -> None:
        comments = await asyncio.wrap_future(self.engine.run(cmds.CommentList(
            self._value("url"))))
        self.shown = [c for _, c in threaded(comments)]
        self.query_one("#thread", Static).update(thread_text(comments))

    def parent_id(self, ref: str) -> str:
        """The id a reply field names: ``#n`` of the thread shown, or an id's start."""
        ref = ref.strip().lower()
        if not ref:
            return ""
        if ref.startswith("#") and ref[1:].isdigit():
            n = int(ref[1:])
            if not 1 <= n <= len(self.shown):
                raise ValueError(f"no comment #{n} in the thread shown")
            return self.shown[n - 1].id
        found = [c.id for c in self.shown if c.id.startswith(ref)]
        if len(found) != 1:
            raise ValueError(f"{len(found) or 'no'} comments in the thread shown start with "
                             f"{clean(ref)!r}")
        return found[0]

    @on(Input.Submitted, "#text")
    @on(Button.Pressed, "#ok")
    def _post(self) -> None:
        try:
            parent = self.parent_id(self._value("reply"))
        except ValueError as exc:
            self.problem(str(exc))
            return
        text = self.query_one("#text", Input).value
        self._send(self._do_post(self._value("url"), text, parent), "Comment posted")

    async def _do_post(self, url: str, text: str, parent: str) -> None:
        view = await asyncio.wrap_future(self.engine.run(cmds.CommentPost(url, text, parent)))
        self.posted = view.id
        self.query_one("#text", Input).value = ""
        self.query_one("#reply", Input).value = ""
        await self._show()
        await self._status()

    def _send(self, work: Any, done: str) -> None:
        if self.busy:
            work.close()
            return
        self.busy = True
        self.problem("")
        self.run_worker(self._run(work, done), exclusive=True)

    async def _run(self, work: Any, done: str) -> None:
        try:
            await work
        except Exception as exc:  # the node's answer: shown, the dialog stays
            self.problem(str(exc) or type(exc).__name__)
            return
        finally:
            self.busy = False
        if done:
            self.notify(done)

    def action_cancel(self) -> None:
        self.dismiss(self.posted or None)
