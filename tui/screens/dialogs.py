"""Modal dialogs for actions that need an answer: add, remove, move, limits, trackers, peers.

Each dialog validates what the user typed and shows the problem under the
field; it is dismissed only with a value the engine can take (or with None on
cancel). The add dialog and the words dialog (trackers, peers) go further: they
send the command themselves and stay open until the engine took it, so the
engine's refusal is shown there too, with the text kept.
Reading a .torrent file happens here, on the frontend's side, as the
CLI does, so the same dialog works with a remote daemon.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester, SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Static

from tidegate.engine import units
from tidegate.engine.config import LimitsConfig
from tidegate.engine.errors import InputError, TidegateError, UnknownCategoryError, UnsafePathError
from tidegate.engine.labels import check_category, check_tags
from tidegate.engine.metainfo import looks_like_uri, request_for
from tidegate.engine.requests import (
    MAX_RATE,
    AddRequest,
    check_ratio,
    check_seed_time,
    check_tracker_url,
    parse_peer,
)
from tidegate.engine.safetext import clean

DIALOG_CSS = """
Dialog { align: center middle; }
Dialog > Vertical {
    width: 76; max-width: 100%; height: auto; max-height: 100%;
    border: round $primary; background: $surface; padding: 0 1;
}
Dialog .title { text-style: bold; width: 100%; color: $primary; }
Dialog .problem { color: $error; height: auto; }
Dialog Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
Dialog Button { margin: 0 0 0 2; min-width: 10; }
Dialog Input { margin: 0 0 1 0; background: $boost; }
"""


class PathSuggester(Suggester):
    """Completes file-system paths: the one match, or the longest common prefix."""

    def __init__(self, dirs_only: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.dirs_only = dirs_only

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value, self.dirs_only)


def complete_path(value: str, dirs_only: bool = False) -> str | None:
    """The completion of ``value`` as a path, or None (magnets are not paths)."""
    if not value or looks_like_uri(value):
        return None
    expanded = os.path.expanduser(value)
    folder, _, prefix = expanded.rpartition(os.sep)
    folder = folder or ("/" if expanded.startswith(os.sep) else ".")
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name + (os.sep if e.is_dir() else "") for e in entries
                           if e.name.startswith(prefix) and (e.is_dir() or not dirs_only)
                           and (prefix.startswith(".") or not e.name.startswith(".")))
    except OSError:
        return None
    if not names:
        return None
    common = os.path.commonprefix(names)
    if len(common) <= len(prefix):
        return None
    return value + common[len(prefix):]


_T = TypeVar("_T")


class Dialog(ModalScreen[_T | None]):
    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def problem(self, text: str) -> None:
        self.query_one(".problem", Static).update(Text(clean(text)))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


def _buttons(ok: str, variant: str = "primary") -> Horizontal:
    return Horizontal(Button("Cancel", id="cancel", compact=True),
                      Button(ok, id="ok", variant=variant, compact=True))  # type: ignore[arg-type]


NO_SOURCES_HINT = ("no trackers and DHT is off: add a peer or a tracker (a: the same magnet "
                   "again with a peer, or `tidegate add MAGNET --peer IP:PORT`)")


@dataclass(frozen=True)
class Added:
    """What the add dialog answers once the engine took the torrent."""

    torrent_id: str
    hint: str = ""
    """Why it may sit fetching metadata for ever (:data:`NO_SOURCES_HINT`), or empty."""


def _words(text: str) -> list[str]:
    return [w for w in text.replace(",", " ").split() if w]


def magnet_trackers(uri: str) -> list[str]:
    """The ``tr=`` values of a magnet link (none for a bare info-hash)."""
    if not uri.lower().startswith("magnet:"):
        return []
    return parse_qs(urlsplit(uri).query).get("tr", [])


class AddDialog(Dialog[Added]):
    """A .torrent path (with completion), a magnet link or an info-hash, and optionally
    peers and trackers. The dialog adds the torrent itself and stays open until the
    engine took it: an error (a bad path, a duplicate, a peer that is not IP:PORT) is
    shown under its field with everything typed kept.

    Args:
        submit: the engine's ``add``.
        settings: the engine's ``session_settings`` (is the DHT on?), for the hint.
    """

    DEFAULT_CSS = DIALOG_CSS + "AddDialog .problem { display: none; }"

    def __init__(self, limits: LimitsConfig | None,
                 submit: Callable[[AddRequest], Future[str]],
                 settings: Callable[[], Future[dict[str, Any]]] | None = None,
                 categories: list[str] | None = None) -> None:
        super().__init__()
        self.categories = categories or []
        """Names the category field completes."""
        self.limits = limits or LimitsConfig()
        self.submit = submit
        self.settings = settings
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Add torrent", classes="title")
            yield Label("A .torrent file (→ completes the path), a magnet link or an info-hash")
            yield Input(id="source", suggester=PathSuggester(), compact=True,
                        placeholder="~/Downloads/file.torrent or magnet:?xt=…")
            yield Static("", classes="problem", id="source-problem")
            yield Label("Download folder (empty: the default)")
            yield Input(id="folder", suggester=PathSuggester(dirs_only=True), compact=True)
            yield Static("", classes="problem", id="folder-problem")
            yield Label("Peers to connect to (optional): IP:PORT [IP:PORT …]")
            yield Input(id="peers", compact=True, placeholder="192.168.1.20:6881")
            yield Static("", classes="problem", id="peers-problem")
            yield Label("Trackers (optional): URL [URL …]")
            yield Input(id="trackers", compact=True, placeholder="udp://tracker.example:6969")
            yield Static("", classes="problem", id="trackers-problem")
            yield Label("Category and tags (optional): a category, then tags after commas")
            yield Input(id="labels", compact=True, placeholder="tv, hd, to-watch",
                        suggester=SuggestFromList(self.categories, case_sensitive=True))
            yield Static("", classes="problem", id="labels-problem")
            yield Checkbox("Start paused", id="paused", compact=True)
            yield Checkbox("Choose files before downloading", id="choose", compact=True)
            yield Checkbox("Sequential (for streaming)", id="sequential", compact=True)
            yield _buttons("Add")

    def problem(self, text: str, field: str = "source") -> None:
        for widget in self.query(".problem").results(Static):
            widget.update("")
            widget.display = False
        shown = self.query_one(f"#{field}-problem", Static)
        shown.update(Text(clean(text)))
        shown.display = True
        self.query_one(f"#{field}", Input).focus()

    def request(self) -> AddRequest | None:
        """The request typed in, or None with the problem shown under its field."""
        source = self.query_one("#source", Input).value.strip()
        folder = self.query_one("#folder", Input).value.strip()
        if not source:
            self.problem("type a path, a magnet link or an info-hash")
            return None
        peers: list[str] = []
        for text in _words(self.query_one("#peers", Input).value):
            try:
                host, port = parse_peer(text)
            except TidegateError as exc:
                self.problem(str(exc), "peers")
                return None
            peers.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        trackers: list[str] = []
        for text in _words(self.query_one("#trackers", Input).value):
            try:
                trackers.append(check_tracker_url(text))
            except TidegateError as exc:
                self.problem(str(exc), "trackers")
                return None
        category, *tags = [w.strip() for w in self.query_one("#labels", Input).value.split(",")]
        try:
            check_category(category, allow_empty=True)
            check_tags(tags)
        except TidegateError as exc:
            self.problem(str(exc), "labels")
            return None
        if not looks_like_uri(source):
            source = os.path.expanduser(source)
        save_path = str(Path(folder).expanduser().resolve()) if folder else None
        try:
            return request_for(
                source, self.limits, save_path=save_path, peers=tuple(peers),
                trackers=tuple(trackers),
                paused=self.query_one("#paused", Checkbox).value,
                metadata_first=self.query_one("#choose", Checkbox).value,
                sequential=self.query_one("#sequential", Checkbox).value,
                category=category, tags=tuple(tags))
        except TidegateError as exc:
            self.problem(str(exc))
            return None

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        if self.busy:
            return
        request = self.request()
        if request is None:
            return
        self.busy = True
        self.query_one("#ok", Button).disabled = True
        self.run_worker(self._add(request), exclusive=True)

    async def _add(self, request: AddRequest) -> None:
        try:
            tid = await asyncio.wrap_future(self.submit(request))
        except Exception as exc:  # the engine's answer: shown, the dialog stays
            self.busy = False
            self.query_one("#ok", Button).disabled = False
            self.problem(str(exc), "labels" if isinstance(exc, UnknownCategoryError) else
                         "folder" if isinstance(exc, UnsafePathError | OSError)
                         and request.save_path else "source")
            return
        self.dismiss(Added(tid, await self._hint(request)))

    async def _hint(self, request: AddRequest) -> str:
        """:data:`NO_SOURCES_HINT` for a magnet or hash with no tracker and no peer on an
        engine whose DHT is off: it would sit at "metadata" with nothing to ask."""
        if request.torrent is not None or request.peers or request.trackers \
                or magnet_trackers(request.uri or "") or self.settings is None:
            return ""
        try:
            settings = await asyncio.wrap_future(self.settings())
        except Exception:
            return ""
        return "" if settings.get("enable_dht", True) else NO_SOURCES_HINT


class WordsDialog(Dialog[list[str]]):
    """One or more words in one field (tracker URLs, peers as IP:PORT), separated by spaces,
    for one command that the dialog sends itself, as :class:`AddDialog` does: it stays open
    until the engine took them, with the engine's refusal (a bad URL, a peer that is not
    IP:PORT) under the field and the text kept. Answers the words sent.

    Args:
        title: the dialog's title ("Add trackers").
        label: what to type, above the field.
        placeholder: an example, in the empty field.
        submit: runs the command on the words (``engine.run(cmds.AddTrackers(id, words))``).
        ok: the button's word.
    """

    def __init__(self, title: str, label: str, placeholder: str,
                 submit: Callable[[list[str]], Future[Any]], ok: str = "Add") -> None:
        super().__init__()
        self.heading = title
        self.label = label
        self.placeholder = placeholder
        self.submit = submit
        self.ok = ok
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.heading, classes="title")
            yield Label(self.label)
            yield Input(id="words", compact=True, placeholder=self.placeholder)
            yield Static("", classes="problem")
            yield _buttons(self.ok)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        if self.busy:
            return
        words = _words(self.query_one("#words", Input).value)
        if not words:
            self.problem("type one or more, separated by spaces (escape cancels)")
            return
        self.busy = True
        self.query_one("#ok", Button).disabled = True
        self.run_worker(self._send(words), exclusive=True)

    async def _send(self, words: list[str]) -> None:
        try:
            await asyncio.wrap_future(self.submit(words))
        except Exception as exc:  # the engine's answer: shown, the dialog stays
            self.busy = False
            self.query_one("#ok", Button).disabled = False
            self.problem(str(exc) or type(exc).__name__)
            self.query_one("#words", Input).focus()
            return
        self.dismiss(words)


class RemoveDialog(Dialog[bool]):
    """Asks before removing; answers True to delete data too, False to keep it."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        shown = ", ".join(clean(n) for n in self.names[:3])
        if len(self.names) > 3:
            shown += f" and {len(self.names) - 3} more"
        with Vertical():
            yield Label(f"Remove {len(self.names)} torrent(s)?", classes="title")
            yield Label(Text(shown))
            yield Checkbox("Also delete the downloaded data", id="delete", compact=True)
            yield Static("", classes="problem")
            yield _buttons("Remove", "error")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(self.query_one("#delete", Checkbox).value)


class MoveDialog(Dialog[str]):
    """A destination folder, with completion."""

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Move data to", classes="title")
            yield Input(self.current, id="folder", suggester=PathSuggester(dirs_only=True),
                        compact=True)
            yield Static("", classes="problem")
            yield _buttons("Move")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        text = self.query_one("#folder", Input).value.strip()
        if not text:
            self.problem("type a folder")
            return
        self.dismiss(str(Path(text).expanduser().resolve()))


def parse_seed_time(text: str) -> int:
    """``-1``, ``0``, seconds, or a number with ``s``/``m``/``h``/``d`` (``90m``, ``1.5h``)."""
    t = text.strip().lower().replace(" ", "")
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(t[-1:], 0)
    number = t[:-1] if scale else t
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a time (3600, 90m, 2h, 1d; -1 the default, "
                         "0 none)") from None
    seconds = value * (scale or 1)
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a time")
    return round(seconds)


def seed_time_text(seconds: int) -> str:
    if seconds <= 0:
        return str(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return str(seconds)


class ShareLimitsDialog(Dialog[tuple[float, int]]):
    """Stop seeding at a share ratio or after a seeding time (``tidegate limit ID --ratio R
    --seed-time S``): -1 follows the config's global limit, 0 is none."""

    def __init__(self, title: str, current: tuple[float, int]) -> None:
        super().__init__()
        self.heading = title
        self.current = current

    def compose(self) -> ComposeResult:
        ratio, seed_time = self.current
        with Vertical():
            yield Label(self.heading, classes="title")
            yield Label("Ratio limit (-1 = the global default, 0 = none; 1.5)")
            yield Input(f"{ratio:g}", id="ratio", compact=True)
            yield Label("Seeding time limit (-1 = the global default, 0 = none; 90m, 2h, 1d)")
            yield Input(seed_time_text(seed_time), id="seed_time", compact=True)
            yield Static("", classes="problem")
            yield _buttons("Set")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        try:
            text = self.query_one("#ratio", Input).value.strip()
            try:
                ratio = check_ratio(float(text), "ratio")
            except ValueError:
                raise InputError(text, "the ratio is a number: 1.5, 0 (none) or -1 "
                                       "(the global default)") from None
            text = self.query_one("#seed_time", Input).value
            try:
                seed_time = check_seed_time(parse_seed_time(text), "seeding time")
            except ValueError as exc:
                raise InputError(text, str(exc)) from None
        except TidegateError as exc:
            self.problem(str(exc))
            return
        self.dismiss((ratio, seed_time))


class LimitsDialog(Dialog[tuple[int, int]]):
    """Download and upload limits: ``0`` unlimited, ``500K``, ``2M``, ``1.5MiB/s``."""

    def __init__(self, title: str, current: tuple[int, int]) -> None:
        super().__init__()
        self.heading = title
        self.current = current

    def compose(self) -> ComposeResult:
        down, up = (units.rate(v) if v else "0" for v in self.current)
        with Vertical():
            yield Label(self.heading, classes="title")
            yield Label("Download limit (0 = unlimited; 500K, 2M, 1.5MiB/s)")
            yield Input(down, id="down", compact=True)
            yield Label("Upload limit")
            yield Input(up, id="up", compact=True)
            yield Static("", classes="problem")
            yield _buttons("Set")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        values = []
        for field in ("down", "up"):
            text = self.query_one(f"#{field}", Input).value
            try:
                value = units.parse_rate(text.replace(" ", ""))
            except ValueError as exc:
                self.problem(f"{field}: {exc}")
                return
            if value > MAX_RATE:
                self.problem(f"{field}: at most {units.rate(MAX_RATE)}")
                return
            values.append(value)
        self.dismiss((values[0], values[1]))
