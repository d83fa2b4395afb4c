"""Helpers for TUI tests: run an app against a real engine, wait on it with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from tidegate.engine.interface import EngineAPI
from tidegate.tui.app import TidegateApp

SIZE = (120, 36)


def run_app(engine: EngineAPI, body: Callable[[TidegateApp, Pilot[None]], Awaitable[None]],
            size: tuple[int, int] = SIZE, **kw: Any) -> TidegateApp:
    """Run ``body(app, pilot)`` in a headless app on ``engine``; returns the app."""
    app = TidegateApp(engine, **kw)

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await body(app, pilot)

    asyncio.run(main())
    return app


async def until(pilot: Pilot[None], check: Callable[[], object], timeout: float = 15.0,
                what: str = "condition") -> None:
    """Let the app run until ``check()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await pilot.pause(0.05)


async def loaded(app: TidegateApp, pilot: Pilot[None], count: int) -> None:
    """Wait until the list shows ``count`` torrents."""
    await until(pilot, lambda: len(getattr(app.screen, "shown", ())) == count,
                what=f"{count} torrents listed")


def table_lines(app: TidegateApp) -> list[str]:
    """The torrent table's visible lines as plain text (header first)."""
    from tidegate.tui.widgets.torrent_table import TorrentTable

    table = app.screen.query_one(TorrentTable)
    return [table.render_line(y).text for y in range(table.size.height)]
