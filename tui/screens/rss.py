"""The RSS dialog (``R``): the feeds with their last poll and error, the rules and the
latest items added or refused, asked of the engine (``rss_list``) when it opens, every
few seconds and after each change. From it: add a feed (polled at once), remove one,
set a simple rule (a name and the expression titles must contain), poll every feed now.
Rules with more (exclude, episodes, category, save path, feeds) are set with
``tidegate rss rule set``.

Like the labels dialog it sends the commands itself and stays open with the engine's
refusal under the fields (a bad URL, a bad expression, naming the rule). Feed titles,
URLs and errors come from outside: they are cleaned and drawn as text, never markup.
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
from tidegate.engine.automation.rss_state import RssState
from tidegate.engine.safetext import clean

from .dialogs import Dialog

REFRESH_SECONDS = 3.0


class Runs(Protocol):
    def run(self, cmd: Any) -> Future[Any]: ...


def listing(state: RssState, now: float | None = None) -> Text:
    """Feeds, rules and the latest items as text (every outside string cleaned)."""
    now = time.time() if now is None else now
    out = Text()
    if state.error:
        out.append(f"{clean(state.error)}\n", "red")
    if not state.enabled:
        out.append("polling is off (rss.enabled = false)\n", "yellow")
    out.append("Feeds\n", "bold")
    if not state.feeds:
        out.append("  none\n", "dim")
    for f in state.feeds:
        polled = f"{max(0, int(now - f.last_poll))} s ago" if f.last_poll else "never"
        out.append(f"  {clean(f.title or f.url)}", "bold" if f.title else "")
        out.append(f"  polled {polled}, {f.items} items, {f.added} added\n", "dim")
        if f.title:
            out.append(f"    {clean(f.url)}\n", "dim")
        if f.last_error:
            out.append(f"    {clean(f.last_error)}\n", "red")
    out.append("Rules\n", "bold")
    if not state.rules:
        out.append("  none\n", "dim")
    for r in state.rules:
        what = [f"/{r.include}/" if r.include else "any title"]
        what += [f"not /{r.exclude}/"] if r.exclude else []
        what += [f"episodes {r.episodes}"] if r.episodes else []
        what += [f"category {r.category}"] if r.category else []
        what += [] if r.enabled else ["disabled"]
        out.append(f"  {clean(r.name)}: {clean(', '.join(what))}\n")
    if state.log:
        out.append("Latest\n", "bold")
        for e in state.log[-5:]:
            style = "red" if e.outcome.startswith("error") else ""
            out.append(f"  {clean(e.title)[:60]}: {clean(e.outcome)[:120]}\n", style)
    return out


class RssDialog(Dialog[str]):
    """Feeds and rules; answers the last thing it did (or None when just closed).

    Args:
        engine: runs the commands (``RssList``, ``RssFeedAdd``, ``RssFeedRemove``,
            ``RssRuleSet``, ``RssRefresh``).
    """

    DEFAULT_CSS = """
    RssDialog > Vertical { width: 100; }
    RssDialog #listing { height: auto; max-height: 20; overflow-y: auto; }
    RssDialog #rule-fields { margin-top: 0; align-horizontal: left; }
    RssDialog #rule_name { width: 24; margin-right: 1; }
    RssDialog #rule_include { width: 1fr; }
    """

    def __init__(self, engine: Runs) -> None:
        super().__init__()
        self.engine = engine
        self.busy = False
        self.done = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("RSS feeds and rules", classes="title")
            yield Static(Text("asking the engine…"), id="listing")
            yield Label("Feed URL (Add feed polls it at once; Remove feed stops polling it)")
            yield Input(id="url", compact=True, placeholder="https://example.org/feed.xml")
            yield Label("Rule: its name, and the regular expression titles must contain")
            with Horizontal(id="rule-fields"):
                yield Input(id="rule_name", compact=True, placeholder="name")
                yield Input(id="rule_include", compact=True, placeholder=r"show\.s01")
            yield Static("", classes="problem")
            yield Horizontal(Button("Close", id="cancel", compact=True),
                             Button("Remove feed", id="remove", compact=True),
                             Button("Set rule", id="rule", compact=True),
                             Button("Refresh all", id="refresh", compact=True),
                             Button("Add feed", id="ok", variant="primary", compact=True))

    def on_mount(self) -> None:
        self.run_worker(self._show(), exclusive=False)
        self.set_interval(REFRESH_SECONDS, lambda: self.run_worker(self._show()))

    async def _show(self, state: RssState | None = None) -> None:
        if state is None:
            try:
                state = await asyncio.wrap_future(self.engine.run(cmds.RssList()))
            except Exception as exc:
                self.problem(str(exc) or type(exc).__name__)
                return
        assert state is not None
        self.query_one("#listing", Static).update(listing(state))

    def _value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    @on(Input.Submitted, "#url")
    @on(Button.Pressed, "#ok")
    def _add(self) -> None:
        self._send(cmds.RssFeedAdd(self._value("url")), "Feed added", clear="url")

    @on(Button.Pressed, "#remove")
    def _remove(self) -> None:
        self._send(cmds.RssFeedRemove(self._value("url")), "Feed removed", clear="url")

    @on(Input.Submitted, "#rule_name, #rule_include")
    @on(Button.Pressed, "#rule")
    def _rule(self) -> None:
        self._send(cmds.RssRuleSet(self._value("rule_name"),
                                   include=self.query_one("#rule_include", Input).value),
                   "Rule set")

    @on(Button.Pressed, "#refresh")
    def _refresh(self) -> None:
        self._send(cmds.RssRefresh(), "Feeds polled")

    def _send(self, cmd: cmds.Command[Any], done: str, clear: str = "") -> None:
        if self.busy:
            return
        self.busy = True
        self.problem("")
        self.run_worker(self._run(cmd, done, clear), exclusive=True)

    async def _run(self, cmd: cmds.Command[Any], done: str, clear: str) -> None:
        try:
            result = await asyncio.wrap_future(self.engine.run(cmd))
        except Exception as exc:  # the engine's answer: shown, the dialog stays
            self.problem(str(exc) or type(exc).__name__)
            return
        finally:
            self.busy = False
        if clear:
            self.query_one(f"#{clear}", Input).value = ""
        self.done = done
        self.notify(done)
        await self._show(result if isinstance(result, RssState) else None)

    def action_cancel(self) -> None:
        self.dismiss(self.done or None)
