"""Categories and tags in the TUI on a real engine, driven by the pilot: ``g`` adds a new
category with its save path (the data moves there), sets it and the tags; the engine's
refusal stays under the dialog's fields; the add dialog puts a torrent in a category;
``cat:`` and ``tag:`` in the filter box show only those torrents."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.conftest import EngineFactory, make_payload, make_torrent
from tests.helpers.tui_util import loaded, run_app, table_lines, until
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.tui.app import TidegateApp
from tidegate.tui.model import TextFilter
from tidegate.tui.screens.dialogs import AddDialog
from tidegate.tui.screens.labels import LabelsDialog


def test_the_filter_reads_categories_and_tags() -> None:
    f = TextFilter.parse('bunny cat:"My Films" tag:HD tag:x')
    assert (f.needle, f.category, f.tags) == ("bunny", "my films", ("hd", "x"))
    assert TextFilter.parse("cat:").category == ""
    assert TextFilter.parse("debian").category is None


async def _type(pilot: Pilot[None], screen: LabelsDialog | AddDialog, field: str,
                text: str) -> None:
    screen.query_one(f"#{field}", Input).value = text
    await pilot.pause()


def test_category_and_tags_from_the_list_and_the_add_dialog(make_engine: EngineFactory,
                                                            tmp_path: Path) -> None:
    engine = make_engine("tui")
    folder = make_payload(tmp_path / "data", "one", sizes=(200_000,))
    created = make_torrent(folder, fmt="v1")
    tid = engine.run(cmds.Add(AddRequest(torrent=created.data, save_path=created.save_path,
                                         seed_mode=True))).result(10)
    other = make_torrent(make_payload(tmp_path / "data2", "two", sizes=(50_000,)), fmt="v1")
    other_file = tmp_path / "two.torrent"
    other_file.write_bytes(other.data)
    films = tmp_path / "films"

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 1)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, LabelsDialog), what="the dialog")
        dialog = app.screen
        assert isinstance(dialog, LabelsDialog)
        await _type(pilot, dialog, "category", "bad//name")
        await pilot.click("#ok")
        await until(pilot, lambda: "bad//name" in str(
            dialog.query_one(".problem", Static).render()), what="the refusal shown")
        assert app.screen is dialog and engine.snapshot.categories == {}
        await _type(pilot, dialog, "category", "films")
        await _type(pilot, dialog, "save_path", str(films))
        await _type(pilot, dialog, "tags", "hd, [b]x[/b]")
        await pilot.click("#ok")
        await until(pilot, lambda: app.screen is not dialog, timeout=30, what="moved")
        snap = engine.wait_for(lambda s: s.torrents[tid].tags == ("[b]x[/b]", "hd"), 10)
        t = snap.torrents[tid]
        assert (t.category, t.save_path) == ("films", str(films))
        assert (films / "one").is_dir() and not folder.exists()
        await until(pilot, lambda: any("films" in line for line in table_lines(app)),
                    what="the Category column")
        assert any("[b]x[/b]" in line for line in table_lines(app))  # text, not markup

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, AddDialog), what="the add dialog")
        add = app.screen
        assert isinstance(add, AddDialog)
        await _type(pilot, add, "source", str(other_file))
        await _type(pilot, add, "labels", "nope, new")
        await pilot.click("#ok")
        await until(pilot, lambda: "nope" in str(
            add.query_one("#labels-problem", Static).render()), what="unknown category")
        await _type(pilot, add, "labels", "films, new")
        await pilot.click("#ok")
        await until(pilot, lambda: len(app.snapshot.torrents) == 2, what="the add")
        added = next(t for t in app.snapshot.torrents.values() if t.id != tid)
        assert (added.category, added.tags, added.save_path) == ("films", ("new",), str(films))

        await loaded(app, pilot, 2)
        await pilot.press("slash", *"tag:hd")
        await loaded(app, pilot, 1)
        await pilot.press(*" tag:new")
        await loaded(app, pilot, 0)
        app.screen.query_one("#filter", Input).value = "cat:films"
        await loaded(app, pilot, 2)

    run_app(engine, body, size=(160, 40))
