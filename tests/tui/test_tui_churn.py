"""The torrent list never shows a wrong value: every visible cell against the snapshot,
over a long churn of updates, adds and removes (issue 21: a row cache keyed by ``id()`` of
state objects drew stale rows once Python reused a freed state's address).

Embedded: a changing engine stand-in serves 1,500 snapshots whose states are all new
objects (so freed addresses are reused, as in a real session), with torrents added and
removed. Attached: a real daemon, torrents added and removed through the API while the TUI
follows it over ZeroMQ.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

from textual.pilot import Pilot

from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import DaemonProc, short_home
from tests.helpers.still_engine import STATS, StillEngine, torrent
from tests.helpers.tui_util import run_app, until
from tidegate.engine import commands as cmds
from tidegate.engine.requests import AddRequest
from tidegate.engine.state import Phase, Snapshot
from tidegate.tui.app import TidegateApp
from tidegate.tui.screens.main import MainScreen
from tidegate.tui.widgets.torrent_table import TorrentTable

PHASES = (Phase.DOWNLOADING, Phase.SEEDING, Phase.PAUSED, Phase.CHECKING, Phase.QUEUED)


class ChurnEngine(StillEngine):
    """A stand-in whose snapshot the test replaces; ``wait_for`` wakes on each one."""

    def __init__(self) -> None:
        super().__init__(Snapshot(seq=0, time=0.0, torrents=MappingProxyType({}), stats=STATS))
        self._cond = threading.Condition()

    def publish(self, snap: Snapshot) -> None:
        with self._cond:
            self._snapshot = snap
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        with self._cond:
            if self._cond.wait_for(lambda: predicate(self._snapshot), timeout):
                return self._snapshot
        raise TimeoutError("churn")


def check_every_visible_row(app: TidegateApp, snap: Snapshot) -> int:
    """Every visible line of the list is the row drawn afresh from ``snap``'s state for the
    torrent it shows, and the list holds exactly the snapshot's torrents. Returns the
    number of rows compared."""
    screen = app.screen
    assert isinstance(screen, MainScreen)
    table = screen.query_one(TorrentTable)
    assert {t.id for t in table.rows} == set(snap.torrents)
    width = table.size.width
    top = round(table.scroll_offset.y)
    compared = 0
    for y in range(1, table.size.height):
        index = y - 1 + top
        if index >= len(table.rows):
            break
        shown = table.rows[index]
        truth = snap.torrents[shown.id]
        assert shown == truth, (shown, truth)
        fresh = table._row(truth, width, index == table.cursor, truth.id in table.marked)
        drawn = table.render_line(y)
        assert drawn.text == fresh.text, f"row {index} stale:\n{drawn.text}\n{fresh.text}"
        compared += 1
    return compared


def test_embedded_list_is_true_over_a_long_churn() -> None:
    engine = ChurnEngine()
    rng = random.Random(21)
    live: dict[int, str] = {}
    next_n = 0

    def make_snapshot(seq: int) -> Snapshot:
        nonlocal next_n
        if len(live) < 8 or rng.random() < 0.1:  # an add
            live[next_n] = f"torrent-{next_n}"
            next_n += 1
        if len(live) > 30 or rng.random() < 0.08:  # a remove
            del live[rng.choice(list(live))]
        states = {}
        for n, name in live.items():
            progress = rng.random()
            t = torrent(n % 100, name, rng.choice(PHASES), progress,
                        id=f"{n:040x}", download_rate=rng.randrange(0, 10**7),
                        num_peers=rng.randrange(0, 50), eta=rng.randrange(-1, 10**5))
            states[t.id] = t
        return Snapshot(seq=seq, time=float(seq), torrents=MappingProxyType(states),
                        stats=STATS)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        compared = 0
        for seq in range(1, 1501):
            snap = make_snapshot(seq)
            engine.publish(snap)
            def arrived(snap: Snapshot = snap) -> bool:
                return app.snapshot is snap

            await until(pilot, arrived, 10, f"snapshot {seq}")
            await pilot.pause(0)
            if seq % 3 == 0:
                await pilot.press(rng.choice(("down", "up", "j", "k", "space")))
            del snap
            compared += check_every_visible_row(app, app.snapshot)
        assert compared > 10_000

    run_app(engine, body, size=(120, 40))


def test_attached_list_is_true_while_torrents_come_and_go(
        tmp_path: Path, daemons: list[DaemonProc]) -> None:
    d = DaemonProc(short_home())
    daemons.append(d)
    d.start()
    made = []
    for i in range(12):
        folder = make_payload(tmp_path / "data", f"churn-{i}", sizes=(30_000 + i * 7_000, 11))
        made.append(make_torrent(folder, fmt="v1"))
    stop = threading.Event()
    changes = [0]

    def churn() -> None:
        rng = random.Random(7)
        with d.client() as api:
            present: dict[int, str] = {}
            while not stop.is_set():
                i = rng.randrange(len(made))
                if i in present and rng.random() < 0.5:
                    api.run(cmds.Remove(present.pop(i))).result(20)
                elif i in present:
                    tid = present[i]
                    api.run(cmds.Pause(tid) if rng.random() < 0.5 else cmds.Resume(tid)).result(20)
                else:
                    present[i] = api.run(cmds.Add(AddRequest(torrent=made[i].data,
                                                    save_path=made[i].save_path))).result(20)
                changes[0] += 1

    worker = threading.Thread(target=churn, daemon=True)

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        worker.start()
        deadline = time.monotonic() + 25
        checked, last = 0, None
        while time.monotonic() < deadline:
            await pilot.pause(0.02)
            snap = app.snapshot
            if snap is last or not isinstance(app.screen, MainScreen):
                continue
            last = snap
            check_every_visible_row(app, snap)
            checked += 1
        stop.set()
        assert checked > 100 and changes[0] > 50, (checked, changes)

    with d.client() as remote:
        try:
            run_app(remote, body, size=(120, 40))
        finally:
            stop.set()
            worker.join(30)
    assert d.stop() == 0
