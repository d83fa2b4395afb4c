"""The watch folders through a real node: started by the node from its config, listed by
``watch_list``, shown in the TUI (key W) as plain text, a hostile file name escaped."""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual.pilot import Pilot

from tests.conftest import LOOPBACK, make_payload, make_torrent, merge
from tests.helpers.tui_util import run_app, until
from tidegate.engine import commands as cmds
from tidegate.engine.config import LoadedConfig, from_dict
from tidegate.engine.node import Node
from tidegate.engine.paths import resolve_paths
from tidegate.tui.app import TidegateApp
from tidegate.tui.watch_view import describe


def node_with(home: Path, **sections: dict[str, object]) -> Node:
    cfg = from_dict(merge(LOOPBACK, sections))
    return Node(LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(home)}), frozenset(),
                             False), sites=False)


def test_a_node_watches_its_folders_and_the_tui_shows_them(tmp_path: Path) -> None:
    watch = tmp_path / "w"
    watch.mkdir()
    t = make_torrent(make_payload(tmp_path / "p", "p", sizes=(1000,)))
    (watch / "p.torrent").write_bytes(t.data)
    hostile = "\x1b]0;owned\x07\x1b[31mred.torrent"
    (watch / hostile).write_bytes(b"junk")
    past = time.time() - 60
    os.utime(watch / hostile, (past, past))
    node = node_with(tmp_path / "home", watch={"interval": 0.05,
                                               "folders": [{"path": str(watch)}]})
    node.start()
    try:
        assert node.hooks is None  # off by default
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            [state] = node.run(cmds.WatchList()).result(5)
            if state.added + state.invalid == 2:
                break
            time.sleep(0.05)
        assert t.info_hash_v1 in node.snapshot.torrents
        assert (state.path, state.added, state.invalid) == (str(watch), 1, 1)
        assert (watch / f"{hostile}.invalid").exists()
        said = (watch / f"{hostile}.error.txt").read_text()
        assert "\x1b" not in said and "\\x1b]0;owned" in said

        async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
            await pilot.press("W")
            await until(pilot, lambda: app.last_done is not None
                        and app.last_done.what == "Watch folders", what="watch folders shown")
            assert app.last_done is not None and app.last_done.says is not None
            text = app.last_done.says(app.last_done.results)
            assert f"{watch}: 1 added, 1 invalid, 0 waiting" in text
            assert "\x1b" not in text and "\\x1b]0;owned" in text

        run_app(node, body)
    finally:
        node.stop()
    assert node.watch is not None and node.watch._thread is not None
    assert not node.watch._thread.is_alive()


def test_no_folders_say_where_to_set_them() -> None:
    assert "[[watch.folders]]" in describe([[]])
