"""qBittorrent/stig habits in the TUI, against real engines (issue 21): copy magnet, open
the download folder, queue positions, per-torrent share limits."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.conftest import EngineFactory, make_payload, make_torrent
from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tests.helpers.tui_util import loaded, run_app, until
from tidegate.engine import AddRequest, Engine
from tidegate.engine import commands as cmds
from tidegate.engine.errors import InputError
from tidegate.engine.state import Phase
from tidegate.tui.app import TidegateApp
from tidegate.tui.screens.dialogs import ShareLimitsDialog, parse_seed_time
from tidegate.tui.screens.main import MainScreen

HASHES = [f"{i:02x}" * 20 for i in range(1, 5)]


def point_at(app: TidegateApp, tid: str) -> None:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    assert screen.table.move_to(tid)


def positions(engine: Engine) -> list[str]:
    """Torrent ids in queue order."""
    torrents = engine.snapshot.torrents
    return sorted(HASHES, key=lambda h: torrents[h].queue_position)


def test_queue_keys_move_torrents_in_the_engines_queue(make_engine: EngineFactory) -> None:
    engine = make_engine("q")
    for h in HASHES:  # no DHT, no peer: they stay queued downloads, fetching metadata
        engine.add(AddRequest(uri=f"magnet:?xt=urn:btih:{h}&dn=t{h[:2]}")).result(10)
    engine.wait_for(lambda s: all(h in s.torrents and s.torrents[h].queue_position >= 0
                                  for h in HASHES), 10)
    start = positions(engine)
    assert sorted(engine.snapshot.torrents[h].queue_position for h in HASHES) == [0, 1, 2, 3]

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 4)
        last, first = start[3], start[0]
        point_at(app, last)
        await pilot.press("U")  # top
        await until(pilot, lambda: positions(engine) == [last, *start[:3]], what="top")
        await pilot.press("J")  # down one
        await until(pilot, lambda: positions(engine) == [start[0], last, *start[1:3]],
                    what="down")
        await pilot.press("K")  # back up
        await until(pilot, lambda: positions(engine)[0] == last, what="up")
        point_at(app, first)
        await pilot.press("B")  # bottom
        await until(pilot, lambda: positions(engine)[-1] == first, what="bottom")
        # the list's own value follows (what a Queue column or sort shows)
        await until(pilot, lambda: app.snapshot.torrents[first].queue_position == 3,
                    what="the TUI's snapshot")
        # two marked torrents moved to the top keep their order among themselves
        order = positions(engine)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        for tid in (order[2], order[3]):
            point_at(app, tid)
            await pilot.press("space")
        await pilot.press("U")
        await until(pilot, lambda: positions(engine) == [order[2], order[3], order[0],
                                                         order[1]], what="two to the top")

    run_app(engine, body)
    with pytest.raises(InputError, match="up, down, top or bottom"):
        engine.queue_move(HASHES[0], "sideways").result(5)


def test_copy_magnet_and_open_folder(make_engine: EngineFactory, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine("c")
    folder = make_payload(tmp_path / "data", "shared", sizes=(50_000,))
    created = make_torrent(folder, fmt="v1")
    tid = engine.add(AddRequest(torrent=created.data, save_path=created.save_path,
                                trackers=("http://127.0.0.1:9/announce?x=1&y=2",),
                                web_seeds=("http://127.0.0.1:9/seed/",))).result(10)
    engine.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase is Phase.SEEDING, 20)
    # a fake xdg-open on PATH records what it was asked to open
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > {opened}\n")
    opener.chmod(opener.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 1)
        await pilot.press("c")
        copied = app.torrent_actions  # the part that keeps what it copied
        await until(pilot, lambda: copied.last_copied, what="a magnet copied")
        query = parse_qs(urlsplit(copied.last_copied).query)
        assert query["xt"] == [f"urn:btih:{tid}"]
        assert query["tr"] == ["http://127.0.0.1:9/announce?x=1&y=2"]
        assert query["ws"] == ["http://127.0.0.1:9/seed/"]
        assert app.clipboard == copied.last_copied  # Textual's copy_to_clipboard
        assert any(n[0] == "Magnet copied to the clipboard" and n[1] == copied.last_copied
                   for n in app.notified)
        await pilot.press("O")
        await until(pilot, lambda: opened.exists() and opened.read_text(), what="xdg-open ran")
        assert opened.read_text() == created.save_path
        # no xdg-open: the path is shown instead
        monkeypatch.setenv("PATH", "/nonexistent")
        await pilot.press("O")
        await until(pilot, lambda: app.notified[-1][:2] == ("Download folder",
                                                            created.save_path),
                    what="the folder shown")

    run_app(engine, body)


def test_share_limits_dialog_sets_the_torrents_limits(make_engine: EngineFactory,
                                                      tmp_path: Path) -> None:
    engine = make_engine("s")
    tid = engine.add(AddRequest(uri="magnet:?xt=urn:btih:" + "ab" * 20, paused=True)).result(10)
    engine.wait_for(lambda s: tid in s.torrents, 10)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 1)
        await pilot.press("r")
        assert isinstance(app.screen, ShareLimitsDialog)
        assert app.screen.query_one("#ratio", Input).value == "-1"
        app.screen.query_one("#ratio", Input).value = "lots"
        await pilot.click("#ok")
        assert isinstance(app.screen, ShareLimitsDialog), "a bad ratio keeps the dialog"
        assert "ratio" in str(app.screen.query_one(".problem").render())
        app.screen.query_one("#ratio", Input).value = "1.5"
        app.screen.query_one("#seed_time", Input).value = "2h"
        app.screen.query_one("#ratio", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: (engine.snapshot.torrents[tid].ratio_limit,
                                    engine.snapshot.torrents[tid].seed_time_limit)
                    == (1.5, 7200), what="share limits set")
        assert app.last_done is not None and app.last_done.what == "Share limits set"
        # the dialog opens on the torrent's limits
        await pilot.press("r")
        assert app.screen.query_one("#ratio", Input).value == "1.5"
        assert app.screen.query_one("#seed_time", Input).value == "2h"

    run_app(engine, body)


@pytest.mark.parametrize(("text", "seconds"), [("-1", -1), ("0", 0), ("3600", 3600),
                                               ("90m", 5400), ("1.5h", 5400), ("2d", 172800),
                                               (" 45 s ", 45)])
def test_seed_time_text(text: str, seconds: int) -> None:
    assert parse_seed_time(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "inf", "nan", "1e400h", "h"])
def test_seed_time_text_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_seed_time(text)


def test_queue_move_through_a_real_daemon(daemons: list[DaemonProc]) -> None:
    daemon = DaemonProc(short_home()).start()
    daemons.append(daemon)
    client = daemon.client()
    try:
        for h in HASHES[:3]:
            client.run(cmds.Add(AddRequest(uri=f"magnet:?xt=urn:btih:{h}"))).result(10)
        snap = client.wait_for(lambda s: all(h in s.torrents and s.torrents[h].queue_position
                                             >= 0 for h in HASHES[:3]), 10)
        last = max(HASHES[:3], key=lambda h: snap.torrents[h].queue_position)
        client.run(cmds.QueueMove(last, "top")).result(10)
        client.wait_for(lambda s: s.torrents[last].queue_position == 0, 10)
        with pytest.raises(InputError, match="up, down, top or bottom"):
            client.run(cmds.QueueMove(last, "sideways")).result(10)
        # the same from the command line: `tidegate queue ID... WHERE`
        first = last
        bottom = max(HASHES[:3], key=lambda h: client.snapshot.torrents[h].queue_position)
        env = env_for(daemon.home)
        done = subprocess.run([*TIDEGATE, "queue", bottom[:8], "top"], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "moved to the top" in done.stderr
        client.wait_for(lambda s: s.torrents[bottom].queue_position == 0
                        and s.torrents[first].queue_position == 1, 10)
        done = subprocess.run([*TIDEGATE, "queue", bottom[:8], first[:8], "bottom"], env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        client.wait_for(lambda s: s.torrents[bottom].queue_position == 1
                        and s.torrents[first].queue_position == 2, 10)
        wrong = subprocess.run([*TIDEGATE, "queue", bottom[:8], "sideways"], env=env,
                               capture_output=True, text=True, timeout=30)
        assert wrong.returncode != 0 and "sideways" in wrong.stderr
    finally:
        client.stop()
