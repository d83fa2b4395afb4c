"""The speed schedule (turtle mode): the pure schedule driven by an injected clock, a real
engine applying it to libtorrent on its tick, the CLI's and the TUI's faces."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.conftest import LOOPBACK, make_payload, make_torrent, merge
from tests.helpers.daemon_util import DaemonProc, short_home
from tests.helpers.tui_util import loaded, run_app, until
from tidegate.engine import AddRequest, Engine, units
from tidegate.engine import commands as cmds
from tidegate.engine.config import LoadedConfig, from_dict
from tidegate.engine.config.schedule import ScheduleWindow
from tidegate.engine.errors import ConfigError
from tidegate.engine.paths import resolve_paths
from tidegate.engine.schedule import SpeedSchedule, in_force, next_boundary, scheduled
from tidegate.engine.state import Snapshot
from tidegate.tui.app import TidegateApp
from tidegate.tui.widgets.status_bar import StatusBar

MON = datetime(2026, 12, 7)  # a Monday
"""Midnight starting a Monday (naive local time, as the engine's clock gives)."""
WORK = ScheduleWindow(days=["mon", "tue", "wed", "thu", "fri"], start="08:00", end="18:00")
NIGHT = ScheduleWindow(days=["sat"], start="22:00", end="06:00")


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """``day`` days after Monday, at ``hh:mm:ss``."""
    return MON + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)


# ------------------------------------------------------------------ the pure schedule


def test_a_window_covers_its_days_from_start_to_end() -> None:
    assert MON.weekday() == 0
    assert not scheduled([WORK], at(0, 7, 59, 59))
    assert scheduled([WORK], at(0, 8))
    assert scheduled([WORK], at(4, 17, 59, 59))  # friday
    assert not scheduled([WORK], at(0, 18))  # [start, end)
    assert not scheduled([WORK], at(5, 12))  # saturday
    assert not scheduled([], at(0, 12))


def test_a_window_past_midnight_ends_the_next_day() -> None:
    assert not scheduled([NIGHT], at(5, 21, 59))
    assert scheduled([NIGHT], at(5, 22))
    assert scheduled([NIGHT], at(6, 5, 59))  # sunday morning, begun on saturday
    assert not scheduled([NIGHT], at(6, 6))
    assert not scheduled([NIGHT], at(0, 2))  # monday night: no window began on sunday


def test_a_window_whose_start_is_its_end_lasts_the_whole_day() -> None:
    day = ScheduleWindow(days=["wed"], start="00:00", end="00:00")
    assert not scheduled([day], at(1, 23, 59))
    assert scheduled([day], at(2, 0)) and scheduled([day], at(2, 23, 59, 59))
    assert not scheduled([day], at(3, 0))
    always = ScheduleWindow()  # every day, all day
    assert scheduled([always], at(6, 3))
    assert next_boundary([always], at(0, 1)) is None


def test_the_next_boundary_is_where_the_schedule_changes() -> None:
    assert next_boundary([WORK], at(0, 7)) == at(0, 8)
    assert next_boundary([WORK], at(0, 8)) == at(0, 18)
    assert next_boundary([WORK], at(4, 19)) == at(7, 8)  # friday evening: next monday
    assert next_boundary([NIGHT], at(5, 23)) == at(6, 6)
    # two windows that touch are one stretch: the boundary is where both end
    touching = [WORK, ScheduleWindow(days=["mon"], start="18:00", end="20:00")]
    assert next_boundary(touching, at(0, 9)) == at(0, 20)
    assert next_boundary([], at(0, 9)) is None


def test_a_switch_by_hand_holds_until_the_next_boundary() -> None:
    s = SpeedSchedule([WORK])
    state = s.state(at(0, 7))
    assert (state.on, state.by, state.until) == (False, "schedule", at(0, 8).timestamp())
    s.switch(True, at(0, 7))  # on before the schedule would
    state = s.state(at(0, 7, 30))
    assert (state.on, state.by, state.until) == (True, "manual", at(0, 8).timestamp())
    assert s.state(at(0, 8)).by == "schedule" and s.state(at(0, 8)).on
    s.switch(False, at(0, 9))  # off in the middle of the window: until it ends
    assert s.state(at(0, 17, 59)).on is False
    assert s.state(at(0, 17, 59)).by == "manual"
    state = s.state(at(0, 18))
    assert (state.on, state.by) == (False, "schedule")
    assert s.state(at(1, 8)).on  # the next day the schedule rules again


def test_without_a_schedule_a_switch_by_hand_holds_until_switched_again() -> None:
    s = SpeedSchedule()
    assert s.state(at(0, 1)).on is False and s.state(at(0, 1)).by == ""
    s.switch(True, at(0, 1))
    state = s.state(at(300, 1))
    assert (state.on, state.by, state.until) == (True, "manual", 0.0)
    s.switch(False, at(300, 2))
    assert s.state(at(300, 3)).on is False


def test_a_new_schedule_moves_the_end_of_a_switch_by_hand() -> None:
    s = SpeedSchedule([WORK])
    s.switch(True, at(0, 7))
    s.set_windows([ScheduleWindow(days=["mon"], start="10:00", end="11:00")], at(0, 7, 1))
    assert s.state(at(0, 9, 59)).until == at(0, 10).timestamp()
    assert s.state(at(0, 10, 30)).by == "schedule"


def test_in_force_swaps_only_the_global_rates() -> None:
    cfg = from_dict({"rates": {"download": 1000, "upload": 2000},
                     "schedule": {"alt_download": 10, "alt_upload": 0}})
    assert in_force(cfg, False) is cfg
    on = in_force(cfg, True)
    assert (on.rates.download, on.rates.upload) == (10, 0)
    assert on.schedule == cfg.schedule and on.network == cfg.network


@pytest.mark.parametrize(("schedule", "key"), [
    ({"windows": [{"days": ["monday"]}]}, "schedule.windows[0].days[0]"),
    ({"windows": [{"start": "8:00"}]}, "schedule.windows[0].start"),
    ({"windows": [{"end": "24:00"}]}, "schedule.windows[0].end"),
    ({"windows": [{"days": []}]}, "schedule.windows[0].days"),
    ({"alt_download": -1}, "schedule.alt_download"),
    ({"alt_upload": 2**31}, "schedule.alt_upload"),
    ({"windows": [{"from": "08:00"}]}, "schedule.windows[0]"),
])
def test_a_bad_schedule_is_refused_naming_its_key(schedule: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict({"schedule": schedule}, path="/x/config.toml")
    assert caught.value.key == key, str(caught.value)
    assert "/x/config.toml" in str(caught.value)


# ------------------------------------------------------------------ a real engine


class Clock:
    """The engine's wall clock, set by the test."""

    def __init__(self, now: datetime):
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def set(self, now: datetime) -> None:
        with self._lock:
            self.now = now


@pytest.fixture
def clock() -> Clock:
    return Clock(at(0, 7))


@pytest.fixture
def turtle_engine(tmp_path: Path, clock: Clock) -> Iterator[Engine]:
    """A started engine with a weekday schedule, 500 kB/s normal and 50/20 kB/s turtle
    limits, whose clock the test sets."""
    cfg = from_dict(merge(LOOPBACK, {
        "rates": {"download": 500_000, "upload": 400_000},
        "schedule": {"alt_download": 50_000, "alt_upload": 20_000,
                     "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                  "start": "08:00", "end": "18:00"}]}}))
    engine = Engine(LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(tmp_path / "h")}),
                                 frozenset(), False), clock=clock)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


def limits(engine: Engine) -> tuple[int, int]:
    s = engine.run(cmds.SessionSettings()).result(10)
    return s["download_rate_limit"], s["upload_rate_limit"]


def turtle(on: bool, by: str) -> Any:
    return lambda s: s.stats.alt_speed.on is on and s.stats.alt_speed.by == by


def test_the_engine_applies_the_schedule_on_its_tick(turtle_engine: Engine, clock: Clock,
                                                     tmp_path: Path) -> None:
    engine = turtle_engine
    folder = make_payload(tmp_path / "data", "held", sizes=(40_000,))
    created = make_torrent(folder, fmt="v1")
    tid = engine.add(AddRequest(torrent=created.data, save_path=created.save_path,
                                download_limit=12_345, upload_limit=6_789)).result(10)
    snap = engine.wait_for(turtle(False, "schedule"), 5)
    assert snap.stats.alt_speed.until == at(0, 8).timestamp()
    assert (snap.stats.download_limit, snap.stats.upload_limit) == (500_000, 400_000)
    assert limits(engine) == (500_000, 400_000)

    clock.set(at(0, 8))  # the window opens: within a tick
    snap = engine.wait_for(turtle(True, "schedule"), 5)
    assert (snap.stats.download_limit, snap.stats.upload_limit) == (50_000, 20_000)
    assert snap.stats.alt_speed.until == at(0, 18).timestamp()
    assert limits(engine) == (50_000, 20_000)
    # a torrent's own limits stay as they were
    t = engine.wait_for(lambda s: tid in s.torrents, 5).torrents[tid]
    assert (t.download_limit, t.upload_limit) == (12_345, 6_789)

    clock.set(at(0, 18))
    snap = engine.wait_for(turtle(False, "schedule"), 5)
    assert limits(engine) == (500_000, 400_000)
    assert snap.stats.alt_speed.until == at(1, 8).timestamp()


def test_a_switch_by_hand_holds_until_the_schedule_changes(turtle_engine: Engine,
                                                          clock: Clock) -> None:
    engine = turtle_engine
    engine.wait_for(turtle(False, "schedule"), 5)
    engine.run(cmds.SetAltSpeed(on=True)).result(10)
    # applied before the reply: the settings say so at once
    assert limits(engine) == (50_000, 20_000)
    snap = engine.wait_for(turtle(True, "manual"), 5)
    assert snap.stats.alt_speed.until == at(0, 8).timestamp()
    # the normal limits change while turtle mode is on: kept for when it ends
    engine.run(cmds.SetGlobalLimits(down=300_000)).result(10)
    assert limits(engine) == (50_000, 20_000)
    assert engine.config.rates.download == 300_000

    clock.set(at(0, 9))  # the window took over: still on, now by the schedule
    engine.wait_for(turtle(True, "schedule"), 5)
    engine.run(cmds.SetAltSpeed(on=False)).result(10)
    assert limits(engine) == (300_000, 400_000)
    clock.set(at(0, 17, 59))
    snap = engine.wait_for(lambda s: s.stats.alt_speed.until == at(0, 18).timestamp(), 5)
    assert snap.stats.alt_speed.by == "manual" and not snap.stats.alt_speed.on
    assert limits(engine) == (300_000, 400_000)


def test_a_new_config_keeps_the_alternative_limits_in_force(turtle_engine: Engine,
                                                           clock: Clock) -> None:
    engine = turtle_engine
    clock.set(at(2, 12))
    engine.wait_for(turtle(True, "schedule"), 5)
    cfg = from_dict(merge(LOOPBACK, {"rates": {"download": 1, "upload": 2},
                                     "schedule": {"alt_download": 70_000,
                                                  "alt_upload": 0,
                                                  "windows": [{"start": "11:00",
                                                               "end": "13:00"}]}}))
    engine.run(cmds.ApplyConfig(cfg)).result(10)
    assert limits(engine) == (70_000, 0)
    snap = engine.wait_for(lambda s: s.stats.download_limit == 70_000, 5)
    assert snap.stats.alt_speed.until == at(2, 13).timestamp()


# ------------------------------------------------------------------ the TUI


def status_text(app: TidegateApp) -> str:
    bar = app.screen.query_one(StatusBar)
    return bar.render().plain


def test_the_status_bar_says_when_turtle_mode_is_on(turtle_engine: Engine,
                                                     clock: Clock) -> None:
    engine = turtle_engine

    def on(snap: Snapshot) -> bool:
        return snap.stats.alt_speed.on

    async def body(app: TidegateApp, pilot: Pilot[None]) -> None:
        await loaded(app, pilot, 0)
        normal = f"(max {units.rate(500_000)})"
        await until(pilot, lambda: normal in status_text(app), what="the normal limits shown")
        assert "turtle" not in status_text(app)
        await pilot.press("T")  # by hand
        await until(pilot, lambda: "turtle" in status_text(app), what="turtle shown")
        assert on(engine.snapshot)
        text = status_text(app)
        assert "(schedule)" not in text and normal not in text
        assert f"(max {units.rate(50_000)})" in text and f"(max {units.rate(20_000)})" in text
        await pilot.press("T")
        await until(pilot, lambda: "turtle" not in status_text(app), what="turtle gone")
        clock.set(at(0, 8, 1))  # the schedule switches it on
        await until(pilot, lambda: "turtle (schedule)" in status_text(app),
                    what="turtle by the schedule shown")

    run_app(engine, body, size=(160, 30))


# ------------------------------------------------------------------ the CLI


def test_tidegate_turtle_switches_and_shows_it(daemons: list[DaemonProc]) -> None:
    from tests.cli.test_cli_remote import tg

    home = short_home("\n[rates]\ndownload = 800000\n[schedule]\nalt_download = 30000\n"
                      "alt_upload = 0\n")
    d = DaemonProc(home).start()
    daemons.append(d)
    off = tg(home, "turtle").stdout
    assert off.startswith("turtle mode off:") and f"down {units.rate(800_000)}" in off, off
    switched = tg(home, "turtle", "on")
    assert "turtle mode on (by hand)" in switched.stderr, switched.stderr
    assert f"down {units.rate(30_000)}, up unlimited" in switched.stderr
    state = json.loads(tg(home, "turtle", "status", "--json").stdout)
    assert state == {"on": True, "by": "manual", "until": 0.0}
    client = d.client()
    try:
        settings = client.run(cmds.SessionSettings()).result(10)
        assert settings["download_rate_limit"] == 30_000
    finally:
        client.stop()
    tg(home, "turtle", "off")
    assert tg(home, "turtle").stdout.startswith("turtle mode off (by hand):")
    bad = tg(home, "turtle", "sideways", ok=False)
    assert bad.returncode == 2 and "sideways" in bad.stderr


def test_the_schedule_answers_a_tick_cheaply_and_follows_a_clock_set_back() -> None:
    windows = [ScheduleWindow(days=["mon"], start=f"{h:02d}:00", end=f"{h:02d}:30")
               for h in range(24)] * 4  # 96 windows
    s = SpeedSchedule(windows)
    assert s.state(at(0, 0, 10)).until == at(0, 0, 30).timestamp()
    started = time.perf_counter()
    for second in range(900):  # a tick a second for a quarter of an hour
        s.state(at(0, 1) + timedelta(seconds=second))
    assert time.perf_counter() - started < 0.5
    state = s.state(at(0, 1, 40))
    assert (state.on, state.until) == (False, at(0, 2).timestamp())
    state = s.state(at(0, 0, 10))  # the clock set back
    assert (state.on, state.until) == (True, at(0, 0, 30).timestamp())
    assert s.state(at(0, 23, 45)).until == at(7, 0).timestamp()  # windows on mondays only
