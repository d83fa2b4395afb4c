"""The TUI's list and actions, driven with the pilot against real engines on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input

from tests.conftest import EngineFactory, make_payload, make_torrent
from tests.helpers.tui_util import loaded, run_app, table_lines, until
from tidegate.engine import AddRequest, Engine
from tidegate.engine.state import Phase
from tidegate.tui.actions import ACTIONS, key_text
from tidegate.tui.app import TidegateApp
from tidegate.tui.model import COLUMN_KEYS, ViewSpec, rows
from tidegate.tui.screens.dialogs import AddDialog, LimitsDialog, MoveDialog, RemoveDialog
from tidegate.tui.screens.help import HelpScreen
from tidegate.tui.screens.main import MainScreen
from tidegate.tui.widgets.torrent_table import TorrentTable

NAMES = ("alpha", "bravo", "charlie")


@pytest.fixture
def engine(make_engine: EngineFactory, tmp_path: Path) -> Engine:
    """An engine seeding three small torrents of different sizes."""
    eng = make_engine("tui")
    for i, name in enumerate(NAMES):
        folder = make_payload(tmp_path / "data", name, sizes=(20_000 * (i + 1), 7))
        created = make_torrent(folder, fmt="v1")
        eng.add(AddRequest(torrent=created.data, save_path=created.save_path)).result(10)
    eng.wait_for(lambda s: len(s.torrents) == 3 and all(
        t.phase is Phase.SEEDING for t in s.torrents.values()), 20)
    return eng


def main(app: TidegateApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen), screen
    return screen


def ids_by_name(engine: Engine) -> dict[str, str]:
    return {t.name: t.id for t in engine.snapshot.torrents.values()}


def test_list_shows_every_torrent_with_its_columns(engine: Engine) -> None:
    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        lines = table_lines(app)
        for title in ("Name", "Size", "Progress", "State", "Down", "Up", "Peers/S", "ETA",
                      "Ratio", "Added"):
            assert title in lines[0]
        body_text = "\n".join(lines[1:])
        for name in NAMES:
            assert name in body_text
        assert body_text.count("seeding") == 3
        assert "done" in body_text

    run_app(engine, body, size=(150, 30))


def test_sort_by_every_column_and_invert(engine: Engine) -> None:
    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        screen = main(app)
        for key in COLUMN_KEYS:
            while screen.spec.sort != key:
                await pilot.press("greater_than_sign")
            expected = [t.id for t in rows(engine.snapshot.torrents, screen.spec)]
            assert screen.shown == expected, key
        await pilot.press("i")
        assert screen.spec.reverse
        # sorting by size: biggest first when inverted
        while screen.spec.sort != "size":
            await pilot.press("less_than_sign")
        names = [engine.snapshot.torrents[t].name for t in screen.shown]
        assert names == ["charlie", "bravo", "alpha"]

    run_app(engine, body)


def test_clicking_a_column_title_sorts_then_inverts(engine: Engine) -> None:
    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        screen = main(app)
        header = table_lines(app)[0]
        x = header.index("Size")
        await pilot.click(TorrentTable, offset=(x, 0))
        assert screen.spec.sort == "size" and not screen.spec.reverse
        await pilot.click(TorrentTable, offset=(x, 0))
        assert screen.spec.sort == "size" and screen.spec.reverse
        names = [engine.snapshot.torrents[t].name for t in screen.shown]
        assert names == ["charlie", "bravo", "alpha"]

    run_app(engine, body)


def test_filter_as_you_type_then_escape_clears(engine: Engine) -> None:
    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        screen = main(app)
        await pilot.press("slash", "r")
        assert isinstance(app.focused, Input)
        await until(pilot, lambda: len(screen.shown) == 2, what="'r' matches bravo, charlie")
        await pilot.press("a", "v")
        await until(pilot, lambda: len(screen.shown) == 1)
        assert engine.snapshot.torrents[screen.shown[0]].name == "bravo"
        # an info-hash prefix works too
        await pilot.press("escape")
        assert screen.spec.text == "" and len(screen.shown) == 3
        tid = ids_by_name(engine)["alpha"]
        await pilot.press("slash", *tid[:6], "enter")
        assert screen.shown == [tid]
        assert isinstance(app.focused, TorrentTable)

    run_app(engine, body)


def test_state_filters_by_number_and_by_click(engine: Engine) -> None:
    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        screen = main(app)
        tid = ids_by_name(engine)["bravo"]
        engine.pause(tid).result(10)
        await pilot.press("4")
        await until(pilot, lambda: screen.shown == [tid], what="only the paused one")
        await pilot.press("3")
        await until(pilot, lambda: len(screen.shown) == 2)
        await pilot.press("5")
        assert screen.shown == []
        await pilot.pause(0.1)
        assert "Nothing matches" in table_lines(app)[2]
        await pilot.click("#states", offset=(2, 0))  # " 1 All n"
        assert screen.spec.state == "all" and len(screen.shown) == 3

    run_app(engine, body)


def test_marks_select_several_for_pause_and_resume(engine: Engine) -> None:
    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        screen = main(app)
        await pilot.press("space", "space")  # marks the first two, the cursor moves down
        first_two = set(screen.shown[:2])
        assert screen.marked == first_two
        # the cursor back on a marked row: every cell of it, the name too, shows the cursor
        await pilot.press("up")
        table = screen.table
        row = table.render_line(1 + table.cursor)
        assert "●" in row.text
        backgrounds = {seg.style.bgcolor for seg in row if seg.style and seg.text.strip()}
        assert len(backgrounds) == 1, backgrounds
        await pilot.press("down")
        await pilot.press("p")
        await until(pilot, lambda: all(engine.snapshot.torrents[t].paused for t in first_two),
                    what="marked torrents paused in the engine")
        third = screen.shown[2]
        assert not engine.snapshot.torrents[third].paused
        await until(pilot, lambda: app.last_done is not None and app.last_done.what == "Paused")
        assert app.last_done is not None and app.last_done.done == 2
        await pilot.press("p")  # all marked are paused: resume them
        await until(pilot, lambda: not any(engine.snapshot.torrents[t].paused
                                           for t in first_two), what="resumed")
        await pilot.press("escape")
        assert screen.marked == frozenset()
        await pilot.press("asterisk")
        assert screen.marked == set(screen.shown)

    run_app(engine, body)


def test_remove_asks_and_can_delete_data(engine: Engine, tmp_path: Path) -> None:
    ids = ids_by_name(engine)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        screen = main(app)
        screen.table.move_to(ids["alpha"])
        await pilot.press("x")
        assert isinstance(app.screen, RemoveDialog)
        await pilot.press("escape")  # cancel: nothing removed
        assert isinstance(app.screen, MainScreen)
        await pilot.pause(0.3)
        assert ids["alpha"] in engine.snapshot.torrents
        await pilot.press("x")
        await pilot.click(Checkbox)
        assert app.screen.query_one(Checkbox).value
        await pilot.click("#ok")
        await until(pilot, lambda: ids["alpha"] not in engine.snapshot.torrents)
        await until(pilot, lambda: not (tmp_path / "data" / "alpha").exists(),
                    what="alpha's data deleted")
        screen.table.move_to(ids["bravo"])
        await pilot.press("delete")
        await pilot.click("#ok")
        await until(pilot, lambda: ids["bravo"] not in engine.snapshot.torrents)
        assert (tmp_path / "data" / "bravo").exists(), "data kept when not asked to delete"
        await until(pilot, lambda: len(screen.shown) == 1)

    run_app(engine, body)


def test_recheck_reannounce_sequential_and_limits(engine: Engine) -> None:
    tid = ids_by_name(engine)["charlie"]

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        screen = main(app)
        screen.table.move_to(tid)
        for key, what in (("v", "Recheck started"), ("n", "Reannounced")):
            await pilot.press(key)
            await until(pilot, lambda w=what: app.last_done is not None  # type: ignore[misc]
                        and app.last_done.what == w, what=what)
            assert app.last_done is not None and not app.last_done.errors
        await pilot.press("o")
        await until(pilot, lambda: engine.snapshot.torrents[tid].sequential)
        await pilot.press("o")
        await until(pilot, lambda: not engine.snapshot.torrents[tid].sequential)
        await pilot.press("l")
        dialog = app.screen
        assert isinstance(dialog, LimitsDialog)
        dialog.query_one("#down", Input).value = "500K"
        dialog.query_one("#up", Input).value = "1.5M"
        await pilot.click("#ok")
        await until(pilot, lambda: engine.snapshot.torrents[tid].download_limit == 512_000)
        assert engine.snapshot.torrents[tid].upload_limit == int(1.5 * 1024 * 1024)
        # a bad value is named in the dialog, which stays open
        await pilot.press("l")
        app.screen.query_one("#down", Input).value = "fast"
        await pilot.click("#ok")
        assert isinstance(app.screen, LimitsDialog)
        assert "down" in str(app.screen.query_one(".problem").render())
        await pilot.press("escape")
        await pilot.press("L")
        app.screen.query_one("#up", Input).value = "2M"
        await pilot.press("enter")
        await until(pilot, lambda: engine.snapshot.stats.upload_limit == 2 * 1024 * 1024,
                    what="global upload limit")

    run_app(engine, body)


def test_move_data_and_a_failing_move_is_reported(engine: Engine, tmp_path: Path) -> None:
    tid = ids_by_name(engine)["alpha"]
    target = tmp_path / "moved"

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        main(app).table.move_to(tid)
        await pilot.press("m")
        assert isinstance(app.screen, MoveDialog)
        app.screen.query_one(Input).value = str(target)
        await pilot.press("enter")
        await until(pilot, lambda: (target / "alpha" / "file0.bin").exists(), what="moved")
        await until(pilot, lambda: engine.snapshot.torrents[tid].save_path == str(target))
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        await pilot.press("m")
        app.screen.query_one(Input).value = str(blocker / "sub")
        await pilot.press("enter")
        await until(pilot, lambda: any(sev == "error" for _t, _m, sev in app.notified),
                    what="an error notification")
        assert engine.snapshot.torrents[tid].save_path == str(target)

    run_app(engine, body)


def test_add_from_a_path_with_completion_and_from_a_magnet(engine: Engine,
                                                           tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "new", "delta", sizes=(1000,))
    created = make_torrent(folder, fmt="v1")
    torrent_file = tmp_path / "new" / "delta-file.torrent"
    torrent_file.write_bytes(created.data)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        await pilot.press("a")
        assert isinstance(app.screen, AddDialog)
        source = app.screen.query_one("#source", Input)
        await pilot.press(*str(tmp_path / "new" / "delta-f"))
        await until(pilot, lambda: source._suggestion == str(torrent_file),
                    what="path completion")
        await pilot.press("right")  # accept the suggestion
        assert source.value == str(torrent_file)
        app.screen.query_one("#folder", Input).value = str(tmp_path / "new")
        await pilot.click("#paused")
        await pilot.click("#ok")
        await until(pilot, lambda: len(engine.snapshot.torrents) == 4, what="added")
        added = engine.snapshot.torrents[created.info_hash_v1 or ""]
        assert added.paused and added.save_path == str(tmp_path / "new")
        # a bad path is explained in the dialog, which stays open
        await pilot.press("a")
        app.screen.query_one("#source", Input).value = str(tmp_path / "missing.torrent")
        await pilot.press("enter")
        assert isinstance(app.screen, AddDialog)
        assert "no such file" in str(app.screen.query_one(".problem").render())
        app.screen.query_one("#source", Input).value = "magnet:?xt=urn:btih:" + "ab" * 20
        await pilot.press("enter")
        await until(pilot, lambda: "ab" * 20 in engine.snapshot.torrents, what="magnet added")

    run_app(engine, body)


def test_palette_runs_actions_and_help_lists_every_key(engine: Engine) -> None:
    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        screen = main(app)
        tid = screen.table.cursor_id
        assert tid is not None
        await pilot.press("ctrl+p")
        await pilot.press(*"Pause")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: engine.snapshot.torrents[tid].paused, what="paused")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        from rich.console import Console
        from textual.widgets import Static

        table = app.screen.query(Static).last().content

        console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(table)
        text = console.export_text()
        for action in ACTIONS:
            assert action.title in text, action.title
            assert key_text(action).split(",")[0] in text, action.keys
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

    run_app(engine, body)


def test_view_spec_model_matches_the_list() -> None:
    assert rows({}, ViewSpec()) == []


def test_a_burst_of_events_becomes_one_summary_not_thousands_of_toasts(engine: Engine) -> None:
    from tidegate.engine.events import TorrentCompleted
    from tidegate.tui.messages import EngineEvents

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 3)
        before = len(app.notified)
        for i in range(1000):  # one by one, as a slow trickle would come
            app.post_message(EngineEvents([TorrentCompleted(seq=i, torrent_id="x",
                                                            name=f"t{i}")]))
        app.post_message(EngineEvents([TorrentCompleted(seq=i, torrent_id="x", name=f"t{i}")
                                       for i in range(1000, 2000)]))  # as a burst comes
        await until(pilot, lambda: any("more not shown" in m for _t, m, _s in app.notified),
                    what="the summary")
        shown = list(app.notified)[before:]
        assert len(shown) <= 10
        # each of the 2000 is a toast of its own or counted in the summary, never lost
        one_by_one = sum(1 for _t, m, _s in shown if m.startswith("t"))
        summed = sum(int(m.split()[0]) for _t, m, _s in shown if "more not shown" in m)
        assert one_by_one + summed >= 2000 and one_by_one <= 5, shown

    run_app(engine, body)


def test_bridge_posts_only_events_worth_a_notification_in_batches(engine: Engine) -> None:
    from tidegate.tui.bridge import EngineBridge
    from tidegate.tui.messages import EngineEvents

    class Recorder:
        def __init__(self) -> None:
            self.messages: list[object] = []

        def post_message(self, message: object) -> bool:
            self.messages.append(message)
            return True

    target = Recorder()
    bridge = EngineBridge(engine, target).start()  # type: ignore[arg-type]
    try:
        ids = list(engine.snapshot.torrents)
        for tid in ids:
            engine.pause(tid).result(5)
        for tid in ids:
            engine.resume(tid).result(5)
        engine.set_share_limits(ids[0], seed_time=1).result(5)  # ShareLimitReached soon
        deadline = time.monotonic() + 15
        # wait for the share limit itself: a seed's completion may come in a batch first
        while time.monotonic() < deadline and not any(
                isinstance(m, EngineEvents) and
                any(type(e).__name__ == "ShareLimitReached" for e in m.events)
                for m in target.messages):
            time.sleep(0.05)
    finally:
        bridge.stop()
    batches = [m.events for m in target.messages if isinstance(m, EngineEvents)]
    kinds = {type(e).__name__ for batch in batches for e in batch}
    # 6 pauses and resumes reached the engine's stream, none reached the UI thread
    # (the fixture's seeds may still report completing, which is worth a notification)
    assert "ShareLimitReached" in kinds, kinds
    assert kinds <= {"ShareLimitReached", "TorrentCompleted"}, kinds
