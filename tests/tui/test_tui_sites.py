"""The sites view, driven with the pilot against real engines with sites on, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Static

from tests.conftest import EngineFactory
from tests.helpers.sites_util import site_engine, wait_site, write_site
from tests.helpers.tui_util import run_app, until
from tidegate.engine import Engine
from tidegate.engine.chain import SiteKey
from tidegate.engine.sites.announcer import NO_NODES
from tidegate.engine.state import SiteHosting, SiteState
from tidegate.tui.app import TidegateApp
from tidegate.tui.screens.main import MainScreen
from tidegate.tui.screens.site_cells import cells, head_age, short_address, shorten_middle
from tidegate.tui.screens.sites import FollowDialog, SitesScreen, UnfollowDialog

WIDE = (180, 30)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A started engine with sites on, owning the published site "blog" (height 1)."""
    eng = site_engine(tmp_path / "home").start()
    try:
        source = write_site(tmp_path / "src", {"index.html": b"<h1>blog</h1>\n" * 50,
                                               "css/site.css": b"body { margin: 0 }\n"})
        eng.site_new("blog", str(source)).result(30)
        assert eng.site_publish("blog").result(60).height == 1
        yield eng
    finally:
        eng.stop()


def address_of_blog(engine: Engine) -> str:
    (address,) = [a for a, s in engine.snapshot.sites.items() if s.name == "blog"]
    return address


async def open_sites(app: TidegateApp, pilot: Pilot[None], count: int) -> SitesScreen:
    """Press S and wait until the view lists ``count`` sites."""
    await until(pilot, lambda: isinstance(app.screen, MainScreen), what="main screen")
    await pilot.press("S")
    await until(pilot, lambda: isinstance(app.screen, SitesScreen), what="sites screen")
    screen = app.screen
    assert isinstance(screen, SitesScreen)
    await until(pilot, lambda: len(screen.order) == count, what=f"{count} sites listed")
    return screen


def row_text(screen: SitesScreen, address: str) -> dict[str, str]:
    table = screen.query_one(DataTable)
    values = table.get_row(address)
    keys = [c.key.value for c in table.ordered_columns]
    return {str(k): v.plain if isinstance(v, Text) else str(v)
            for k, v in zip(keys, values, strict=True)}


def detail(screen: SitesScreen) -> str:
    content = screen.query_one("#site-detail", Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def done_with(app: TidegateApp, pilot: Pilot[None], what: str) -> None:
    await until(pilot, lambda: app.last_done is not None and app.last_done.what == what,
                what=what)


def test_lists_a_published_site_then_checks_and_publishes_it(engine: Engine) -> None:
    address = address_of_blog(engine)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        screen = await open_sites(app, pilot, 1)
        await until(pilot, lambda: row_text(screen, address)["height"] == "1",
                    what="height 1 shown")
        row = row_text(screen, address)
        assert row["name"] == "blog"
        assert row["role"] == "owner"
        assert row["address"] == address  # wide enough for all of it
        assert row["age"] != "-"
        # alone, its DHT has no node: the head is not announced yet, and the site says so
        await until(pilot, lambda: row_text(screen, address)["error"].startswith(
            "not announced yet: the DHT has no nodes"), what="no DHT nodes shown")
        text = detail(screen)
        assert address in text and f"Error    {NO_NODES}" in text
        assert "DHT      the head is not stored in the DHT yet" in text
        assert str(engine.snapshot.sites[address].source) in text
        url = f"http://{address.removesuffix('.onion')}.localhost:{engine.snapshot.web.port}/"
        assert f"Browser  {url}" in text

        # o copies the site's URL on the Smart Proxy
        await pilot.press("o")
        await until(pilot, lambda: any(url in m for _t, m, _s in app.notified),
                    what="the URL notified")
        assert app.clipboard == url

        # hosting catches up: the row follows the snapshot
        await until(pilot, lambda: row_text(screen, address)["hosting"] == "seeding seq 1",
                    what="seeding seq 1 shown")

        await pilot.press("c")
        await done_with(app, pilot, "Check requested")
        assert app.last_done is not None and not app.last_done.errors
        assert ("", "Check requested", "information") in app.notified

        # publishing again from the remembered folder; the row shows the new head
        await pilot.press("p")
        await done_with(app, pilot, "Published")
        assert app.last_done is not None and not app.last_done.errors
        published = app.last_done.result
        assert isinstance(published, SiteState) and published.address == address
        await until(pilot, lambda: row_text(screen, address)["height"]
                    == str(engine.snapshot.sites[address].height), what="new height shown")

        # torrent keys are off here: p published, x does nothing, nothing was paused
        await pilot.press("x")
        assert isinstance(app.screen, SitesScreen)

        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="back to main")

    run_app(engine, body, size=WIDE)


def test_follow_a_malformed_address_reports_it(engine: Engine) -> None:
    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await open_sites(app, pilot, 1)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FollowDialog), what="follow dialog")
        dialog = app.screen
        # an empty answer is refused in the dialog itself
        await pilot.press("enter")
        assert app.screen is dialog
        assert "type a site address" in str(dialog.query_one(".problem", Static).content)
        await pilot.press(*"nosuchsite42")
        assert dialog.query_one(Input).value == "nosuchsite42"
        await pilot.press("enter")
        await until(pilot, lambda: any(sev == "error" for _t, _m, sev in app.notified),
                    what="an error notification")
        title, message, _ = next(n for n in app.notified if n[2] == "error")
        assert title == "Follow failed"
        assert "nosuchsite42" in message and "not a site address" in message
        assert isinstance(app.screen, SitesScreen)
        assert len(engine.snapshot.sites) == 1

    run_app(engine, body, size=WIDE)


def test_follow_then_unfollow_after_confirming(engine: Engine) -> None:
    other = SiteKey.generate().address  # valid, but nobody publishes it

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        screen = await open_sites(app, pilot, 1)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FollowDialog), what="follow dialog")
        app.screen.query_one(Input).value = other
        await pilot.press("enter")
        await done_with(app, pilot, "Followed")
        await until(pilot, lambda: len(screen.order) == 2, what="two sites listed")
        # owned sites first: the followed one is the second row
        assert screen.order == [address_of_blog(engine), other]
        row = row_text(screen, other)
        assert row["role"] == "follower" and row["height"] == "-"
        assert row["name"] == "(not fetched yet)" and row["age"] == "-"

        await pilot.press("down")
        selected = screen.selected()
        assert selected is not None and selected.address == other
        assert other in detail(screen)

        # a followed site cannot be published here
        await pilot.press("p")
        await until(pilot, lambda: any("not owned" in m for _t, m, _s in app.notified),
                    what="publish refused")

        # unfollow asks first; cancelling keeps the site
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, UnfollowDialog), what="confirm")
        await pilot.press("escape")
        assert isinstance(app.screen, SitesScreen) and other in engine.snapshot.sites

        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, UnfollowDialog), what="confirm")
        await pilot.click(Checkbox)
        await pilot.click("#ok")
        await done_with(app, pilot, "Unfollowed and data deleted")
        assert app.last_done is not None and not app.last_done.errors
        await until(pilot, lambda: screen.order == [address_of_blog(engine)],
                    what="the followed site gone from the list")
        assert other not in engine.snapshot.sites
        assert not (engine.loaded.paths.data_dir / "sites" / other).exists()

    run_app(engine, body, size=WIDE)


def test_without_sites_the_view_says_so_and_commands_fail_politely(
        make_engine: EngineFactory) -> None:
    engine = make_engine("plain")

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        screen = await open_sites(app, pilot, 0)
        assert "No sites yet" in detail(screen)
        await pilot.press("c")
        await until(pilot, lambda: ("", "no site selected", "warning") in app.notified,
                    what="nothing to check")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FollowDialog), what="follow dialog")
        app.screen.query_one(Input).value = SiteKey.generate().address
        await pilot.press("enter")
        await until(pilot, lambda: any(sev == "error" and t == "Follow failed"
                                       and "this engine runs no sites" in m
                                       for t, m, sev in app.notified),
                    what="this engine runs no sites")

    run_app(engine, body)


def test_narrow_terminal_shortens_the_address_in_the_middle(engine: Engine) -> None:
    address = address_of_blog(engine)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        screen = await open_sites(app, pilot, 1)
        shown = row_text(screen, address)["address"]
        assert "…" in shown and len(shown) < len(address)
        key = address.removesuffix(".onion")
        head, _, tail = shown.partition("…")
        assert key.startswith(head) and key.endswith(tail)
        assert address in detail(screen)  # whole below the table

    run_app(engine, body, size=(80, 24))


def test_wait_site_agrees_with_the_row(engine: Engine) -> None:
    """The view shows what the engine publishes, seeding state included."""
    address = address_of_blog(engine)
    state = wait_site(engine, address, lambda s: s.hosting.seq == 1, 30)
    row = cells(state, float(state.head_time + 90))
    assert row["hosting"].plain == "seeding seq 1"
    assert row["age"].plain == "1m30s"


# ---------------------------------------------------------------------- pure cells


def site(**kw: object) -> SiteState:
    values: dict[str, object] = dict(address="a" * 56 + ".onion", name="n", owner=False,
                                     height=3, head="00" * 32, head_time=1000)
    values.update(kw)
    return SiteState(**values)  # type: ignore[arg-type]


def test_cells_of_every_state() -> None:
    assert head_age(site(head_time=0), 5000) == "-"
    assert head_age(site(head_time=1000), 1000 + 7200 + 300) == "2h05m"
    assert head_age(site(head_time=2000), 1000) == "0s"  # a head from the future
    behind = cells(site(announced=5), 2000)["announced"]
    assert behind.plain == "5 behind" and "bold" in str(behind.style)
    assert cells(site(announced=3), 2000)["announced"].plain == "3"
    assert cells(site(announced=-1), 2000)["announced"].plain == "-"
    fetching = cells(site(hosting=SiteHosting(seq=2, fetching=4, progress=0.425)), 2000)
    assert fetching["hosting"].plain == "fetching 4 42%"
    assert cells(site(), 2000)["hosting"].plain == "-"
    eq = cells(site(equivocating=True, error="seq 3 twice"), 2000)["error"]
    assert eq.plain == "EQUIVOCATING" and "bold" in str(eq.style) and "red" in str(eq.style)
    err = cells(site(error="\x1b[31mbad [b]x[/b]"), 2000)["error"]
    assert err.plain == "\\x1b[31mbad [b]x[/b]" and "red" in str(err.style)
    assert cells(site(hosting=SiteHosting(error="disk full")), 2000)["error"].plain == \
        "disk full"
    assert cells(site(owner=True), 2000)["role"].plain == "owner"
    assert cells(site(height=-1), 2000)["height"].plain == "-"
    assert cells(site(name=""), 2000)["name"].plain == "(not fetched yet)"


def test_shortening() -> None:
    assert shorten_middle("abcdefghij", 10) == "abcdefghij"
    assert shorten_middle("abcdefghij", 7) == "abc…hij"
    address = "b" * 28 + "c" * 28 + ".onion"
    assert short_address(address, 62) == address
    assert short_address(address, 15) == "bbbbbbb…ccccccc"


def test_the_onion_line_follows_tor(tmp_path: Path) -> None:
    """A site switched on as an onion service: the detail panel says where tor is with it
    (a real managed tor, offline), and changes when only tor's state changes."""
    eng = site_engine(tmp_path / "onion", tor={"mode": "tor-hosting", "disable_network": True,
                                               "timeout": 20.0}).start()
    try:
        src = write_site(tmp_path / "src", {"index.html": b"<h1>blog</h1>"})
        address = eng.site_new("blog", str(src)).result(30).address

        async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
            screen = await open_sites(app, pilot, 1)
            assert "Onion" not in detail(screen)
            eng.site_onion("blog", True).result(10)
            await until(pilot, lambda: "published (tor runs it" in detail(screen),
                        what="onion published shown")
            assert f"Onion    http://{address}/" in detail(screen)
            eng.site_onion("blog", False).result(10)
            await until(pilot, lambda: "removed" in detail(screen), what="onion removed")

        run_app(eng, body, size=WIDE)
    finally:
        eng.stop()
