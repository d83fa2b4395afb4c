"""The detail screen on real engines: a seed and a downloader on loopback, driven by the pilot.

Each tab is checked against what the engine itself reports; file priorities
changed with the keyboard and the mouse are checked in the engine and on disk.
Hostile names cannot come from libtorrent (it sanitises file paths), so the
widgets get those directly.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from tests.conftest import EngineFactory, make_torrent, port_of, start_seed
from tidegate.engine import AddRequest, Engine
from tidegate.engine.state import FileState, PeerState, TrackerState
from tidegate.tui.app import TidegateApp
from tidegate.tui.screens.detail import DetailScreen
from tidegate.tui.screens.main import MainScreen
from tidegate.tui.widgets.files_tree import FilesTree
from tidegate.tui.widgets.info_panel import InfoPanel
from tidegate.tui.widgets.peers_table import PeersTable
from tidegate.tui.widgets.pieces_map import PiecesMap, cell_codes
from tidegate.tui.widgets.speed_plot import SpeedPlot, axis_top
from tidegate.tui.widgets.trackers_table import TrackersTable

DEAD_TRACKER = "http://127.0.0.1:1/announce"
"""Refused at once, so its error shows within a second."""
BIG, SMALL = 4_000_000, 5
SIZE = (120, 36)


async def until(pilot: Pilot[None], check: Callable[[], object], what: str,
                timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def run(app: App[None], body: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    """Run ``body`` with the pilot of ``app`` (plain sync tests, no pytest-asyncio)."""
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await body(pilot)
    asyncio.run(main())


def swarm(tmp_path: Path, make_engine: EngineFactory,
          **request: object) -> tuple[Engine, Engine, str, Path]:
    """A seed of payload/{big.bin, sub/small.txt} and a downloader that added it."""
    payload = tmp_path / "content" / "payload"
    (payload / "sub").mkdir(parents=True)
    (payload / "big.bin").write_bytes(os.urandom(BIG))
    (payload / "sub" / "small.txt").write_bytes(os.urandom(SMALL))
    created = make_torrent(payload)
    seed = make_engine("seed")
    start_seed(seed, created, payload)
    down = make_engine("down")
    target = tmp_path / "downloads"
    tid = down.add(AddRequest(torrent=created.data, save_path=str(target),
                              peers=(f"127.0.0.1:{port_of(seed)}",), **request)  # type: ignore[arg-type]
                   ).result(10)
    return seed, down, tid, target


def detail(app: App[None]) -> DetailScreen:
    assert isinstance(app.screen, DetailScreen)
    return app.screen


def index_of(engine: Engine, tid: str, name: str) -> int:
    files = engine.details(tid).result(10).files
    return next(f.index for f in files if f.path.endswith(name))


def test_tabs_show_what_the_engine_reports(tmp_path: Path, make_engine: EngineFactory) -> None:
    _, down, tid, target = swarm(tmp_path, make_engine, download_limit=600_000,
                                 trackers=(DEAD_TRACKER,))
    app = TidegateApp(down, connection="embedded")

    async def body(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: tid in app.snapshot.torrents, "the torrent in the list")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen), "the detail screen")
        screen = detail(app)
        assert screen.targets() == [tid]

        tree = screen.query_one(FilesTree)
        await until(pilot, lambda: tree.files, "files")
        names = {node.data.name for node in tree.attached_nodes if node.data is not None}
        assert names == {"payload", "big.bin", "sub", "small.txt"}
        lines = [tree.render_line(y).text for y in range(4)]
        assert "big.bin" in lines[1] and "3.8 MiB" in lines[1] and "[x]" in lines[1]
        assert app.focused is tree

        await pilot.press("P")  # while the rate limit keeps the download going
        peers = screen.query_one(PeersTable)
        assert app.focused is peers
        await until(pilot, lambda: any(k.startswith("127.0.0.1:") for k in peers.values),
                    "the seed among the peers")

        await pilot.press("T")
        trackers = screen.query_one(TrackersTable)
        await until(pilot, lambda: DEAD_TRACKER in trackers.values
                    and trackers.values[DEAD_TRACKER][-1].plain, "the tracker's error")
        assert trackers.values[DEAD_TRACKER][2].plain.startswith("error (failed ")
        assert trackers.values[DEAD_TRACKER][-1].plain == "Connection refused"

        await until(pilot, lambda: app.snapshot.torrents[tid].phase == "seeding", "completion",
                    timeout=60)
        await pilot.press("C")
        pieces = screen.query_one(PiecesMap)
        engine_pieces = down.details(tid).result(10).pieces
        total = app.snapshot.torrents[tid].num_pieces
        assert total == len(engine_pieces) > 1
        await until(pilot, lambda: pieces.counts == (total, 0, 0), "every piece had")
        assert pieces.pieces == engine_pieces
        assert f"have {total:,}" in pieces.render_line(0).text
        assert pieces.render_line(1).text.startswith("█" * min(total, SIZE[0]))

        await pilot.press("D")
        plot = screen.query_one(SpeedPlot)
        await until(pilot, lambda: plot.samples, "rate samples")
        assert max(d for _, d, _ in plot.samples) > 0
        assert set(plot.samples) <= set(app.rates.of(tid))  # redrawn once a second
        assert plot.now - 300 <= plot.samples[0][0] <= plot.samples[-1][0] <= plot.now

        await pilot.press("I")
        info = dict(screen.query_one(InfoPanel).rows)
        state = app.snapshot.torrents[tid]
        assert info["Save path"] == str(target)
        assert info["Info-hash v1"] == state.info_hash_v1
        assert info["Pieces"].startswith(f"{total:,} × ")

        await pilot.press("tab")
        assert screen.active_tab == "files"
        await pilot.press("shift+tab")
        assert screen.active_tab == "info"
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

    run(app, body)


def test_files_tab_changes_priorities_in_the_engine(tmp_path: Path,
                                                    make_engine: EngineFactory) -> None:
    _, down, tid, target = swarm(tmp_path, make_engine, paused=True)
    big, small = index_of(down, tid, "big.bin"), index_of(down, tid, "small.txt")
    app = TidegateApp(down, connection="embedded")

    def priority(index: int) -> int:
        files = down.details(tid).result(10).files  # by index: pad files are left out
        return next(f.priority for f in files if f.index == index)

    async def body(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: tid in app.snapshot.torrents, "the torrent")
        app.open_details(tid, tab="files")
        await pilot.pause()
        tree = detail(app).query_one(FilesTree)
        await until(pilot, lambda: tree.files, "files")
        lines = {node.data.name: node for node in tree.attached_nodes if node.data is not None}

        tree.move_cursor(lines["big.bin"])
        await pilot.press("space")
        assert lines["big.bin"].data is not None
        assert lines["big.bin"].data.summary[0] == "none"  # shown before the engine answers
        await until(pilot, lambda: priority(big) == 0, "big.bin skipped in the engine")
        assert "[ ]" in tree.render_line(lines["big.bin"].line).text
        assert "[-]" in tree.render_line(lines["payload"].line).text

        sub = lines["sub"]
        x = tree.render_line(sub.line).text.index("[")
        await pilot.click(FilesTree, offset=(x + 1, sub.line))
        await until(pilot, lambda: priority(small) == 0, "a click on sub's box skips its file")
        await pilot.click(FilesTree, offset=(x + 1, sub.line))
        await until(pilot, lambda: priority(small) == 4, "a second click wants it again")

        tree.move_cursor(lines["small.txt"])
        await pilot.press("plus")
        await until(pilot, lambda: priority(small) == 7, "+ raises small.txt to high")
        assert priority(big) == 0

        await pilot.press("p")  # the app's pause/resume, aimed by DetailScreen.targets()
        await until(pilot, lambda: app.snapshot.torrents[tid].phase == "finished",
                    "the wanted file", timeout=60)
        files = {f.index: f for f in down.details(tid).result(10).files}
        assert files[small].done == SMALL
        assert files[big].done < BIG // 2  # at most the piece it shares with small.txt
        assert (target / "payload" / "sub" / "small.txt").stat().st_size == SMALL
        on_disk = target / "payload" / "big.bin"
        assert not on_disk.exists() or on_disk.stat().st_size < BIG

    run(app, body)


def test_removed_torrent_closes_its_details(tmp_path: Path, make_engine: EngineFactory) -> None:
    seed, _, tid, _ = swarm(tmp_path, make_engine)
    app = TidegateApp(seed, connection="embedded")

    async def body(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: tid in app.snapshot.torrents, "the torrent")
        app.open_details(tid, tab="peers")
        await pilot.pause()
        assert detail(app).active_tab == "peers"
        await until(pilot, lambda: detail(app).details is not None, "details")
        seed.remove(tid).result(10)
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "back to the list")

    run(app, body)


def test_details_error_shows_in_the_title(tmp_path: Path, make_engine: EngineFactory) -> None:
    engine = make_engine("alone")
    app = TidegateApp(engine, connection="embedded")

    async def body(pilot: Pilot[None]) -> None:
        app.open_details("ab" * 20, tab="info")
        await pilot.pause()
        screen = detail(app)
        await until(pilot, lambda: screen.error, "the error")
        title = screen.query_one("#detail-title").render()
        assert "details:" in str(title) and screen.details is None
        assert isinstance(app.screen, DetailScreen)  # never seen, so not "removed"

    run(app, body)


class Widgets(App[None]):
    def compose(self) -> ComposeResult:
        yield FilesTree()
        yield PeersTable()
        yield TrackersTable()
        yield PiecesMap()


def test_hostile_names_are_shown_escaped() -> None:
    evil = "\x1b]0;pwned\x07[red]x\u202e"  # no slash: it would split the file path
    app = Widgets()

    async def body(pilot: Pilot[None]) -> None:
        tree = app.query_one(FilesTree)
        tree.show((FileState(index=0, path=f"{evil}/a{evil}", size=10, done=5, priority=1),))
        peers = app.query_one(PeersTable)
        peers.show([PeerState(address="127.0.0.1", port=1, client=evil, flags="S",
                              download_rate=0, upload_rate=0, progress=1.0)])
        trackers = app.query_one(TrackersTable)
        trackers.show([TrackerState(url=f"udp://{evil}", tier=0, status="error", seeds=-1,
                                    leechers=-1, next_announce=-1, last_error=evil)])
        await pilot.pause()
        texts = [tree.render_line(y).text for y in range(2)]
        texts += [c.plain for row in [*peers.values.values(), *trackers.values.values()]
                  for c in row]
        for text in texts:
            assert "\x1b" not in text and "\u202e" not in text
        assert "\\x1b]0;pwned\\x07[red]x\\u202e" in texts[0]  # markup shown, not applied
        assert "low" in texts[1] and "50%" in texts[1]
        assert peers.values["127.0.0.1:1"][1].plain.startswith("\\x1b")

    run(app, body)


def test_peer_rows_keep_the_cursor_on_their_peer() -> None:
    def peer(n: int, rate: int = 0) -> PeerState:
        return PeerState(address=f"10.0.0.{n}", port=1, client="c", flags="",
                         download_rate=rate, upload_rate=0, progress=0.0)
    app = Widgets()

    async def body(pilot: Pilot[None]) -> None:
        table = app.query_one(PeersTable)
        table.show([peer(1), peer(2), peer(3)])
        table.move_cursor(row=1)
        table.show([peer(2), peer(3, rate=5)])  # 10.0.0.1 left
        await pilot.pause()
        assert list(table.values) == ["10.0.0.2:1", "10.0.0.3:1"]
        assert table.cursor_row == 0  # still on 10.0.0.2
        assert table.get_cell("10.0.0.3:1", "down").plain.strip() == "5 B/s"

    run(app, body)


def test_big_trees_create_folder_contents_when_opened() -> None:
    files = tuple(FileState(index=i, path=f"top/d{i // 100}/f{i}.bin", size=100, done=0,
                            priority=4) for i in range(1_000))
    app = Widgets()

    async def body(pilot: Pilot[None]) -> None:
        tree = app.query_one(FilesTree)
        tree.show(files)
        assert [n.data.name for n in tree.attached_nodes if n.data] == \
            ["top", *(f"d{i}" for i in range(10))]
        folder = tree.attached_nodes[1]
        folder.expand()
        await until(pilot, lambda: len(tree.attached_nodes) == 111, "d0's files")
        assert tree.attached_nodes[-1].data and tree.attached_nodes[-1].data.name == "f99.bin"
        tree.show(files[:5] + (msgspec.structs.replace(files[5], priority=0),) + files[6:])
        assert folder.data and folder.data.summary[0] == "some"
        assert tree.attached_nodes[0].data and tree.attached_nodes[0].data.summary[3] == "mixed"

    run(app, body)


def test_pieces_map_groups_and_draws_100k_pieces_quickly() -> None:
    assert cell_codes(bytes([1, 1, 0, 2]), 4) == ("hh.d", 1)
    # 4 pieces per cell: all had, one downloading, none, a quarter had
    assert cell_codes(bytes([1, 1, 1, 1, 1, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0]), 4) == ("hd.2", 4)
    pieces = bytes([1, 0, 2, 1, 1] * 20_000)
    app = Widgets()

    async def body(pilot: Pilot[None]) -> None:
        view = app.query_one(PiecesMap)
        view.styles.height = 30
        await pilot.pause()
        start = time.perf_counter()
        view.show(pieces)
        lines = [view.render_line(y).text for y in range(view.size.height)]
        elapsed = time.perf_counter() - start
        assert view.counts == (60_000, 20_000, 20_000)
        assert view.group == -(-100_000 // (view.size.width * (view.size.height - 1)))
        assert set(lines[1]) == {"▓"}  # every group has a piece being downloaded
        downloading = view.get_component_rich_style("pieces-map--downloading").color
        assert {seg.style.color for seg in view.render_line(1) if seg.style} == {downloading}
        assert elapsed < 0.25, f"{elapsed:.3f} s to draw 100k pieces"

    run(app, body)


def test_speed_axis_ends_at_a_round_rate() -> None:
    assert axis_top(0) == 1
    assert axis_top(400) == 500
    assert axis_top(900) == 1024
    assert axis_top(1500) == 2 * 1024
    assert axis_top(3 * 1024**2) == 5 * 1024**2
