"""Pixel snapshots (pytest-textual-snapshot) of every screen, on frozen engine state.

Run ``pytest tests/tui/test_tui_snapshots.py --snapshot-update`` after an intended
change of the look, and review the SVGs in tests/__snapshots__/ before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import Any, cast

import msgspec
import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.helpers.still_engine import SNAPSHOT, StillEngine
from tidegate.engine.interface import EngineAPI
from tidegate.engine.state import CategoryState
from tidegate.tui.app import TidegateApp

Compare = Callable[..., bool]
SMALL = (80, 24)
LARGE = (160, 40)


def app(theme: str = "textual-dark") -> TidegateApp:
    instance = TidegateApp(cast(EngineAPI, StillEngine()), connection="embedded")
    instance.theme = theme
    return instance


def after(*keys: str, settle: float = 0.3) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for the list to fill, press ``keys``, let the screen settle."""
    async def run(pilot: Pilot[Any]) -> None:
        for _ in range(100):
            if getattr(pilot.app.screen, "shown", None):
                break
            await pilot.pause(0.05)
        for key in keys:
            await pilot.press(key)
        await pilot.pause(settle)
        # a blinking cursor would make the picture depend on timing: keep it shown
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()
    return run


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x40"])
def test_main_dark(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(app(), terminal_size=size, run_before=after())


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x40"])
def test_main_light(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(app("textual-light"), terminal_size=size, run_before=after())


def test_main_marked_filtered_sorted(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=LARGE,
                        run_before=after("space", "space", "greater_than_sign", "i",
                                         "slash", "e"))


def test_state_filter(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=SMALL, run_before=after("5"))


def test_help(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=SMALL, run_before=after("question_mark"))


def test_sites(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=SMALL, run_before=after("S"))


@pytest.mark.parametrize("key", ["a", "x", "m", "l", "L"])
def test_dialogs(snap_compare: Compare, key: str) -> None:
    assert snap_compare(app(), terminal_size=SMALL, run_before=after(key))


def labelled() -> TidegateApp:
    """The still engine's torrents with categories and tags (a hostile tag among them)."""
    labels = {1: ("linux", ("iso",)), 2: ("films", ("hd", "[b]x[/b]")), 3: ("films", ())}
    torrents = {tid: msgspec.structs.replace(t, category=labels[t.number][0],
                                             tags=labels[t.number][1])
                if t.number in labels else t for tid, t in SNAPSHOT.torrents.items()}
    categories = {"films": CategoryState(name="films", save_path="/srv/films"),
                  "linux": CategoryState(name="linux")}
    snap = msgspec.structs.replace(SNAPSHOT, torrents=MappingProxyType(torrents),
                                   categories=MappingProxyType(categories))
    return TidegateApp(cast(EngineAPI, StillEngine(snap)), connection="embedded")


def test_main_labels_filtered(snap_compare: Compare) -> None:
    # the Category and Tags columns appear once a torrent has one; cat: filters by it
    assert snap_compare(labelled(), terminal_size=LARGE,
                        run_before=after("slash", *"cat:films"))


def test_labels_dialog(snap_compare: Compare) -> None:
    assert snap_compare(labelled(), terminal_size=SMALL,
                        run_before=after("slash", *"cat:films", "enter", "g"))


def test_palette(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=SMALL,
                        run_before=after("ctrl+p", *"limit", settle=0.8))


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Times on screen in UTC, whatever the machine's zone."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def _rates_wave(instance: TidegateApp, tid: str) -> None:
    import math
    from collections import deque

    from tests.helpers.still_engine import NOON

    instance.rates.series[tid] = deque(
        (NOON - 300 + i, int(2_000_000 + 1_500_000 * math.sin(i / 20)),
         int(400_000 + 300_000 * math.cos(i / 35))) for i in range(301))
    instance.rates.active[tid] = float(NOON)


@pytest.mark.parametrize("tab", ["F", "P", "T", "C", "D", "I"])
def test_detail_tabs(snap_compare: Compare, utc: None, tab: str) -> None:
    instance = app()
    bunny = "02" * 20

    async def run(pilot: Pilot[Any]) -> None:
        await after()(pilot)
        _rates_wave(instance, bunny)
        pilot.app.open_details(bunny)  # type: ignore[attr-defined]
        await pilot.pause(0.3)
        await pilot.press(tab)
        await pilot.pause(0.5)

    assert snap_compare(instance, terminal_size=LARGE if tab == "D" else SMALL, run_before=run)


def test_detail_of_a_hostile_name(snap_compare: Compare, utc: None) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await after("home")(pilot)
        await pilot.press("enter", "I")
        await pilot.pause(0.5)

    assert snap_compare(app(), terminal_size=SMALL, run_before=run)
