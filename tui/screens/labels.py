"""The category and tags dialog (``g`` on the list): set the selected torrents' category
(a new one is added first, with the save path typed) and their tags.

Like the add dialog it sends the commands itself and stays open with the engine's refusal
under the fields and the text kept (a bad name, a move the category's save path cannot
make). Names are drawn as text, never markup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static

from tidegate.engine import commands as cmds
from tidegate.engine.errors import TidegateError
from tidegate.engine.labels import check_category, check_tags
from tidegate.engine.state import CategoryState, TorrentState

from .dialogs import Dialog, PathSuggester, _buttons


class Runs(Protocol):
    def run(self, cmd: Any) -> Future[Any]: ...


def split_tags(text: str) -> list[str]:
    """Tags typed in one field, separated by commas (a tag cannot hold one)."""
    return [t for t in (part.strip() for part in text.split(",")) if t]


class LabelsDialog(Dialog[str]):
    """Category and tags of ``torrents``; answers what it did ("Category and tags set").

    Args:
        engine: runs the commands (``CategoryAdd``, ``SetCategory``, ``AddTags``,
            ``RemoveTags``).
        torrents: the selected torrents.
        categories: the engine's categories (``Snapshot.categories``).
    """

    DEFAULT_CSS = "LabelsDialog .hint { color: $text-muted; }"

    def __init__(self, engine: Runs, torrents: Sequence[TorrentState],
                 categories: Mapping[str, CategoryState]) -> None:
        super().__init__()
        self.engine = engine
        self.ids = [t.id for t in torrents]
        self.categories = categories
        shared = {t.category for t in torrents}
        self.category = shared.pop() if len(shared) == 1 else ""
        common = set.intersection(*(set(t.tags) for t in torrents)) if torrents else set()
        self.common = sorted(common)
        self.busy = False

    def compose(self) -> ComposeResult:
        names = sorted(self.categories)
        with Vertical():
            yield Label(f"Category and tags of {len(self.ids)} torrent(s)", classes="title")
            yield Label("Category (empty: none); one with a save path moves the data there")
            yield Input(self.category, id="category", compact=True,
                        suggester=SuggestFromList(names, case_sensitive=True))
            yield Label("Save path, if the category is a new one (optional)")
            yield Input(id="save_path", compact=True, suggester=PathSuggester(dirs_only=True))
            yield Label("Tags, separated by commas (the ones all of them have now)")
            yield Input(", ".join(self.common), id="tags", compact=True,
                        placeholder="hd, to-watch")
            yield Static("", classes="problem")
            yield _buttons("Set")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        if self.busy:
            return
        category = self.query_one("#category", Input).value.strip()
        save_path = self.query_one("#save_path", Input).value.strip()
        try:
            check_category(category, allow_empty=True)
            tags = check_tags(split_tags(self.query_one("#tags", Input).value))
        except TidegateError as exc:
            self.problem(str(exc))
            return
        if save_path:
            save_path = str(Path(save_path).expanduser().resolve())
        self.busy = True
        self.query_one("#ok", Button).disabled = True
        self.run_worker(self._send(category, save_path, list(tags)), exclusive=True)

    async def _send(self, category: str, save_path: str, tags: list[str]) -> None:
        run = self.engine.run
        steps: list[cmds.Command[Any]] = []
        if category and category not in self.categories:
            steps.append(cmds.CategoryAdd(category, save_path))
        if category != self.category:
            steps.append(cmds.SetCategory(self.ids, category))
        gone = [t for t in self.common if t not in tags]
        if gone:
            steps.append(cmds.RemoveTags(self.ids, gone))
        if tags:
            steps.append(cmds.AddTags(self.ids, tags))
        try:
            for step in steps:
                await asyncio.wrap_future(run(step))
        except Exception as exc:  # the engine's answer: shown, the dialog stays
            self.busy = False
            self.query_one("#ok", Button).disabled = False
            self.problem(str(exc) or type(exc).__name__)
            return
        self.dismiss("Category and tags set" if steps else "Nothing to change")
