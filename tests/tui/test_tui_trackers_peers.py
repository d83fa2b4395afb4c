"""The detail screen's Trackers and Peers tabs on real engines, driven by the pilot.

``a`` on the Trackers tab adds trackers and ``d`` removes the one under the cursor;
``a`` on the Peers tab connects to peers. Each goes through ``engine.run`` and is
checked in what the engine itself reports (its details). The engine's refusal (a bad
URL, a peer that is not IP:PORT) is shown under the dialog's field, the text kept.
"""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.conftest import EngineFactory, make_payload, make_torrent, port_of, start_seed
from tests.helpers.tui_util import run_app, until
from tidegate.engine import AddRequest, Engine
from tidegate.tui.app import TidegateApp
from tidegate.tui.screens.detail import DetailScreen
from tidegate.tui.screens.dialogs import WordsDialog
from tidegate.tui.screens.help import help_table
from tidegate.tui.widgets.peers_table import PeersTable
from tidegate.tui.widgets.trackers_table import TrackersTable

FIRST = "http://127.0.0.1:1/announce"
SECOND = "udp://127.0.0.1:2/announce"


def paused_torrent(make_engine: EngineFactory, tmp_path: Path) -> tuple[Engine, str]:
    """An engine with one paused torrent (no trackers, no peers)."""
    engine = make_engine("tui")
    folder = make_payload(tmp_path / "data", sizes=(200_000,))
    created = make_torrent(folder, fmt="v1")
    tid = engine.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                                paused=True)).result(10)
    return engine, tid


def tracker_urls(engine: Engine, tid: str) -> list[str]:
    return [t.url for t in engine.details(tid).result(10).trackers]


async def open_tab(app: TidegateApp, pilot: Pilot[None], tid: str, key: str) -> DetailScreen:
    await until(pilot, lambda: tid in app.snapshot.torrents, what="the torrent listed")
    await pilot.press("enter", key)
    await until(pilot, lambda: isinstance(app.screen, DetailScreen), what="the detail screen")
    assert isinstance(app.screen, DetailScreen)
    return app.screen


async def dialog(app: TidegateApp, pilot: Pilot[None]) -> WordsDialog:
    await pilot.press("a")
    await until(pilot, lambda: isinstance(app.screen, WordsDialog), what="the dialog")
    assert isinstance(app.screen, WordsDialog)
    return app.screen


def problem(screen: WordsDialog) -> str:
    return str(screen.query_one(".problem", Static).render())


def test_a_bad_tracker_url_is_shown_under_the_field_with_the_text_kept(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    engine, tid = paused_torrent(make_engine, tmp_path)
    typed = f"{FIRST} ftp://127.0.0.1/announce"

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await open_tab(app, pilot, tid, "T")
        screen = await dialog(app, pilot)  # a on the Trackers tab: not the add-torrent dialog
        field = screen.query_one("#words", Input)
        field.value = typed
        await pilot.press("enter")
        # the engine refuses the whole command: its words, under the field; the dialog stays
        await until(pilot, lambda: "must start with http://, https:// or udp://"
                    in problem(screen), what="the engine's refusal under the field")
        assert "ftp://127.0.0.1/announce" in problem(screen)
        assert app.screen is screen and field.value == typed
        assert tracker_urls(engine, tid) == []
        await pilot.press("escape")  # cancel: nothing sent
        assert isinstance(app.screen, DetailScreen)

    run_app(engine, body)
    assert tracker_urls(engine, tid) == []


def test_trackers_are_added_and_removed_from_the_trackers_tab(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    engine, tid = paused_torrent(make_engine, tmp_path)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        detail = await open_tab(app, pilot, tid, "T")
        table = detail.query_one(TrackersTable)
        assert app.focused is table
        footer = {b.key: b.description for b in TrackersTable.BINDINGS
                  if isinstance(b, Binding)}
        assert footer == {"a": "Add trackers", "d,delete": "Remove tracker"}

        screen = await dialog(app, pilot)
        await pilot.press("enter")  # nothing typed: said, not sent
        assert "type one or more" in problem(screen)
        screen.query_one("#words", Input).value = f"{FIRST}  {SECOND}"
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is detail, what="the dialog closed")
        assert tracker_urls(engine, tid) == [FIRST, SECOND]
        assert app.last_done is not None and app.last_done.what == "2 trackers added"
        await until(pilot, lambda: set(table.values) == {FIRST, SECOND},
                    what="both trackers in the tab")

        table.move_cursor(row=table.get_row_index(FIRST))
        await pilot.press("d")
        await until(pilot, lambda: tracker_urls(engine, tid) == [SECOND],
                    what="the tracker under the cursor removed in the engine")
        await until(pilot, lambda: set(table.values) == {SECOND}, what="the row gone")
        assert app.last_done is not None and not app.last_done.errors
        assert app.last_done.what == f"Removed tracker {FIRST}"

        await pilot.press("delete")  # delete too; the torrent stays (not x's remove)
        await until(pilot, lambda: tracker_urls(engine, tid) == [], what="the second removed")
        await until(pilot, lambda: not table.values, what="no rows")
        assert tid in engine.snapshot.torrents and app.screen is detail
        await pilot.press("d")
        await until(pilot, lambda: ("", "no tracker under the cursor", "warning")
                    in app.notified, what="nothing to remove said")

    run_app(engine, body)


def test_a_peer_is_connected_from_the_peers_tab(make_engine: EngineFactory,
                                                tmp_path: Path) -> None:
    payload = make_payload(tmp_path / "content", sizes=(2_000_000, 5))
    created = make_torrent(payload)
    seed = make_engine("seed")
    start_seed(seed, created, payload)
    port = port_of(seed)
    down = make_engine("down")
    # no peer, no tracker, no DHT: it finds nobody by itself; slow enough to watch
    tid = down.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                              download_limit=400_000)).result(10)
    address = f"127.0.0.1:{port}"

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        detail = await open_tab(app, pilot, tid, "P")
        table = detail.query_one(PeersTable)
        assert app.focused is table and not table.values
        screen = await dialog(app, pilot)
        field = screen.query_one("#words", Input)
        field.value = "localhost:6881"
        await pilot.press("enter")
        await until(pilot, lambda: "must be an IP address" in problem(screen),
                    what="the engine's refusal under the field")
        assert app.screen is screen and field.value == "localhost:6881"

        field.value = address
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is detail, what="the dialog closed")
        assert app.last_done is not None and app.last_done.what.startswith(
            f"Connecting to {address}")
        await until(pilot, lambda: any(
            p.address == "127.0.0.1" and p.port == port
            for p in down.details(tid).result(10).peers), what="the seed connected")
        await until(pilot, lambda: address in table.values, what="the seed in the Peers tab")
        await until(pilot, lambda: app.snapshot.torrents[tid].num_peers >= 1,
                    what="the torrent's state counts the peer")
        await until(pilot, lambda: app.snapshot.torrents[tid].phase == "seeding",
                    what="downloaded from that peer", timeout=60)

    run_app(down, body)


def test_help_lists_the_keys_of_the_trackers_and_peers_tabs() -> None:
    rows = list(zip(*(c.cells for c in help_table().columns), strict=True))
    assert ("d,delete", "Trackers tab", "Remove tracker") in rows
    assert ("a", "Trackers tab", "Add trackers") in rows
    assert ("a", "Peers tab", "Connect to peers") in rows
