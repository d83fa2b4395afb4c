"""The TUI's add dialog against real engines (issue 21): the engine's refusal is shown
under the field with everything typed kept, peers and trackers can be given, and a
magnet with no way to find peers says so."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from tests.conftest import EngineFactory, make_payload, make_torrent
from tests.helpers.tui_util import run_app, until
from tidegate.engine import AddRequest, Engine
from tidegate.engine.state import Phase
from tidegate.tui.app import TidegateApp
from tidegate.tui.screens.dialogs import NO_SOURCES_HINT, AddDialog
from tidegate.tui.widgets.info_panel import NO_SOURCES, InfoPanel


def problem(app: TidegateApp, field: str) -> str:
    widget = app.screen.query_one(f"#{field}-problem", Static)
    return str(widget.render()) if widget.display else ""


def info_rows(app: TidegateApp) -> dict[str, str]:
    """The Info tab's rows, or none while it is not mounted yet."""
    panels = app.screen.query(InfoPanel)
    return dict(panels.first().rows) if panels else {}


def seed(make_engine: EngineFactory, tmp_path: Path) -> tuple[Engine, str, int]:
    """A seed engine: (engine, magnet, listen port)."""
    eng = make_engine("seed")
    folder = make_payload(tmp_path / "data", "shared", sizes=(300_000, 7))
    created = make_torrent(folder, fmt="v1")
    eng.add(AddRequest(torrent=created.data, save_path=created.save_path)).result(10)
    eng.wait_for(lambda s: any(t.phase is Phase.SEEDING for t in s.torrents.values()), 20)
    return eng, created.magnet, eng.snapshot.stats.listen_port


def test_engine_refusal_shown_under_the_field_and_typing_kept(make_engine: EngineFactory,
                                                              tmp_path: Path) -> None:
    engine = make_engine("tui")
    first = "magnet:?xt=urn:btih:" + "cd" * 20
    engine.add(AddRequest(uri=first, paused=True)).result(10)
    folder = tmp_path / "dl"
    folder.mkdir()

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await pilot.press("a")
        assert isinstance(app.screen, AddDialog)
        app.screen.query_one("#source", Input).value = first
        app.screen.query_one("#folder", Input).value = str(folder)
        await pilot.click("#paused")
        await pilot.click("#ok")
        # the engine refuses a duplicate: the dialog stays, says why, keeps the typing
        await until(pilot, lambda: "already added" in problem(app, "source"),
                    what="the engine's refusal under the source field")
        assert isinstance(app.screen, AddDialog)
        assert app.screen.query_one("#folder", Input).value == str(folder)
        assert not app.screen.query_one("#ok", Button).disabled
        # (from here Enter in a field: a button drops a click that comes within 0.2 s of
        # its last press, while it still shows that press)
        # a peer that is not IP:PORT is named under the peers field, nothing is sent
        app.screen.query_one("#source", Input).value = "magnet:?xt=urn:btih:" + "ef" * 20
        app.screen.query_one("#peers", Input).value = "127.0.0.1:6881 nonsense"
        await pilot.press("enter")
        await until(pilot, lambda: "nonsense" in problem(app, "peers"), what="peer problem")
        assert problem(app, "source") == ""
        app.screen.query_one("#peers", Input).value = ""
        app.screen.query_one("#trackers", Input).value = "ftp://tracker.example/"
        await pilot.press("enter")
        await until(pilot, lambda: "http" in problem(app, "trackers"), what="tracker problem")
        assert "ef" * 20 not in engine.snapshot.torrents
        # fixed: added with the folder and the box kept from the first try
        app.screen.query_one("#trackers", Input).value = "http://127.0.0.1:9/announce"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, AddDialog), what="dismissed")
        await until(pilot, lambda: "ef" * 20 in app.snapshot.torrents, what="added")
        added = app.snapshot.torrents["ef" * 20]
        assert added.save_path == str(folder) and added.paused
        details = engine.details("ef" * 20).result(10)
        assert [t.url for t in details.trackers] == ["http://127.0.0.1:9/announce"]
        assert app.last_done is not None and app.last_done.what == "Added"
        # a tracker was given: no "cannot find peers" hint
        assert not any(n[1] == NO_SOURCES_HINT for n in app.notified)

    run_app(engine, body)


def test_peer_field_connects_and_a_lone_hash_gets_the_hint(make_engine: EngineFactory,
                                                          tmp_path: Path) -> None:
    seeder, magnet, port = seed(make_engine, tmp_path)
    engine = make_engine("tui")  # loopback config: the DHT is off
    lone = "magnet:?xt=urn:btih:" + "12" * 20

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await pilot.press("a")
        app.screen.query_one("#source", Input).value = magnet
        app.screen.query_one("#folder", Input).value = str(tmp_path / "got")
        app.screen.query_one("#peers", Input).value = f"127.0.0.1:{port}"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, AddDialog), what="dismissed")
        # the peer typed in the dialog is where the data comes from
        await until(pilot, lambda: any(t.name == "shared" and t.phase is Phase.SEEDING
                                       for t in app.snapshot.torrents.values()), 30,
                    what="the magnet downloaded from the peer")
        assert not any(n[1] == NO_SOURCES_HINT for n in app.notified)
        # a hash with no tracker and no peer, DHT off: the user is told at once
        await pilot.press("a")
        app.screen.query_one("#source", Input).value = lone
        await pilot.press("enter")
        await until(pilot, lambda: any(n[1] == NO_SOURCES_HINT and n[2] == "warning"
                                       for n in app.notified), what="the no-sources hint")
        assert "12" * 20 in app.snapshot.torrents
        # and its Info tab keeps saying so while it waits
        app.open_details("12" * 20, tab="info")
        await until(pilot, lambda: info_rows(app).get("Hint")
                    == NO_SOURCES, what="the hint in the Info tab")
        await pilot.press("escape")
        shared = next(t.id for t in app.snapshot.torrents.values() if t.name == "shared")
        app.open_details(shared, tab="info")
        await until(pilot, lambda: info_rows(app).get("Name")
                    == "shared", what="the Info tab of the downloaded torrent")
        assert "Hint" not in info_rows(app)

    run_app(engine, body)
    assert seeder.snapshot.torrents
