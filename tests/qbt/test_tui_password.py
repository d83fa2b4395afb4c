"""The TUI's embedded engine with the qBittorrent API on: the password made at its first
start is shown in the TUI this once (the daemon prints it), and it logs in."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import LOOPBACK, merge
from tidegate.cli.commands.tui import qbt_notes
from tidegate.engine.config import LoadedConfig, from_dict
from tidegate.engine.node import Node
from tidegate.engine.paths import resolve_paths
from tidegate.tui import TidegateApp

from .servers import Client


def _node(home: Path) -> Node:
    cfg = from_dict(merge(LOOPBACK, {"qbt": {"enabled": True, "port": 0},
                                     "sites": {"enabled": False}}))
    return Node(LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(home)}), frozenset(),
                             False))


def test_the_tui_shows_the_first_password_once_and_it_logs_in(tmp_path: Path) -> None:
    node = _node(tmp_path / "home").start()
    try:
        assert node.qbt is not None and node.qbt.first_password
        app = TidegateApp(node)
        app.startup_notes.extend(qbt_notes(node))

        async def run() -> None:
            async with app.run_test(size=(120, 30)) as pilot:
                await pilot.pause()
        asyncio.run(run())
        shown = [m for t, m, _ in app.notified if "shown this once" in t]
        assert len(shown) == 1, app.notified
        password = shown[0].split()[0]
        assert password == node.qbt.first_password
        assert any(node.qbt.url in m for _, m, _ in app.notified)
        client = Client(node.qbt.port, "tidegate")
        assert client.login("wrong").text == "Fails."
        assert client.login(password).text == "Ok."
    finally:
        node.stop()
    # the next start keeps the stored password: nothing to show
    again = _node(tmp_path / "home").start()
    try:
        assert again.qbt is not None and again.qbt.first_password == ""
        notes = qbt_notes(again)
        assert [t for t, _, _ in notes] == ["qBittorrent API"]
    finally:
        again.stop()
