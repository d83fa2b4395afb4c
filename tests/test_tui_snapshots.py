"""Pixel snapshots (pytest-textual-snapshot) of every screen, on frozen engine state.

Run ``pytest tests/test_tui_snapshots.py --snapshot-update`` after an intended
change of the look, and review the SVGs in tests/__snapshots__/ before committing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from textual.pilot import Pilot

from engine.interface import EngineAPI
from tui.app import TidegateApp

from .still_engine import StillEngine

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


def test_palette(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=SMALL,
                        run_before=after("ctrl+p", *"limit", settle=0.8))
