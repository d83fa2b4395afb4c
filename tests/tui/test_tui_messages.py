"""What the TUI tells the user is true for the situation: failures name the command
("Add failed"), a recheck ends with its result (not "Download complete"), a reannounce with
nowhere to go says so, an unchanged site folder publishes nothing and says so, the demo
says why it has no sites, Ctrl-C's hint is plain text, and the status bar shows global
limits. Real engines on loopback, driven with the pilot."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.conftest import EngineFactory, make_payload, make_torrent
from tests.helpers.tui_util import loaded, run_app, until
from tests.tui.test_tui_sites import done_with, open_sites
from tests.tui.test_tui_sites import engine as sites_engine  # noqa: F401  (a fixture)
from tidegate.engine import AddRequest, Engine
from tidegate.engine.chain import SiteKey
from tidegate.engine.state import Phase
from tidegate.tui.app import TidegateApp
from tidegate.tui.demo import DemoSwarm
from tidegate.tui.screens.dialogs import AddDialog
from tidegate.tui.screens.main import MainScreen
from tidegate.tui.screens.sites import FollowDialog
from tidegate.tui.widgets.status_bar import StatusBar


def toasts(app: TidegateApp, title: str) -> list[tuple[str, str, str]]:
    return [n for n in app.notified if n[0] == title]


def test_recheck_reannounce_add_and_quit_say_what_happened(make_engine: EngineFactory,
                                                           tmp_path: Path) -> None:
    eng = make_engine("msgs")  # loopback: no tracker, DHT and LSD off
    folder = make_payload(tmp_path / "data", "alpha", sizes=(300_000, 7))
    created = make_torrent(folder, fmt="v1")
    torrent = tmp_path / "alpha.torrent"
    torrent.write_bytes(created.data)
    tid = eng.add(AddRequest(torrent=created.data, save_path=created.save_path)).result(10)
    eng.wait_for(lambda s: s.torrents[tid].phase is Phase.SEEDING, 20)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 1)

        await pilot.press("n")
        await until(pilot, lambda: app.last_done is not None
                    and app.last_done.what == "Reannounced", what="reannounce")
        assert ("", "Nowhere to announce to: no tracker, and DHT and local discovery are "
                "off or the torrent is private", "information") in app.notified, app.notified

        await pilot.press("v")
        await until(pilot, lambda: toasts(app, "Check finished"), what="check finished")
        assert toasts(app, "Check finished") == [
            ("Check finished", "alpha: all data present and good", "information")]
        assert ("", "Recheck started", "information") in app.notified
        await pilot.pause(1.5)  # the completion that libtorrent reports after the check
        assert not toasts(app, "Download complete"), app.notified

        # a refused add: the engine's reason under the field (the dialog stays, keeping
        # what was typed; tests/tui/test_tui_add_dialog.py), never "Added failed"
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AddDialog), what="add dialog")
        app.screen.query_one("#source", Input).value = str(torrent)
        await pilot.click("#ok")

        def refusal() -> str:
            shown = app.screen.query("#source-problem")
            widget = shown.first(Static) if shown else None
            return str(widget.render()) if widget is not None and widget.display else ""

        await until(pilot, lambda: "already" in refusal(), what="the refusal under the field")
        assert not any("Added failed" in n[0] for n in app.notified)
        await pilot.press("escape")

        # Ctrl-C: plain words, no markup shown literally
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: toasts(app, "Do you want to quit?"), what="quit hint")
        [(_title, message, _sev)] = toasts(app, "Do you want to quit?")
        assert "[" not in message and "ctrl+q" in message and "quit" in message, message

        # the status bar shows a global limit next to the rate, and only when set
        bar = app.screen.query_one(StatusBar)
        assert "max" not in bar.render().plain
        eng.set_global_limits(down=300 * 1024).result(10)
        await until(pilot, lambda: "(max 300.0 KiB/s)" in bar.render().plain,
                    what="limit in the status bar")
        assert bar.render().plain.index("↓") < bar.render().plain.index("(max 300.0 KiB/s)") \
            < bar.render().plain.index("↑")

    run_app(eng, body)


def test_publishing_an_unchanged_folder_says_nothing_changed(
        sites_engine: Engine) -> None:  # noqa: F811
    engine = sites_engine
    (address,) = [a for a, s in engine.snapshot.sites.items() if s.name == "blog"]

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        screen = await open_sites(app, pilot, 1)
        screen.query_one("DataTable").move_cursor(row=0)  # type: ignore[attr-defined]
        await pilot.press("p")
        await done_with(app, pilot, "Published")
        assert ("", "Nothing changed since the last publication: no new entry (head "
                "announced again)", "information") in app.notified, app.notified
        assert engine.snapshot.sites[address].height == 1
        source = Path(engine.snapshot.sites[address].source)
        (source / "new.html").write_text("new")
        app.last_done = None
        await pilot.press("p")
        await done_with(app, pilot, "Published")
        assert ("", "Published: height 2", "information") in app.notified, app.notified

    run_app(engine, body, size=(180, 30))


def test_the_demo_says_why_it_has_no_sites(tmp_path: Path) -> None:
    demo = DemoSwarm(tmp_path / "demo", seeders=1, scale=0.02, seed_rate=0)
    demo.start()
    try:
        main = demo.main_engine().start()
        try:
            async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
                await open_sites(app, pilot, 0)
                await pilot.press("f")
                await until(pilot, lambda: isinstance(app.screen, FollowDialog),
                            what="follow dialog")
                app.screen.query_one(Input).value = SiteKey.generate().address
                await pilot.press("enter")
                await until(pilot, lambda: toasts(app, "Follow failed"), what="follow failed")
                [(_t, message, severity)] = toasts(app, "Follow failed")
                assert severity == "error"
                assert message.startswith("the demo runs no sites"), message
                assert "DHT" in message and "tidegate tui" in message

            run_app(main, body)
        finally:
            main.stop()
    finally:
        demo.stop()
