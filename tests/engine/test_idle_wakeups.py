"""An idle engine sleeps (issue 27): no fixed-rate polling while nothing moves and no one
watches, and snapshot_hz again at once when someone does.

Wake-ups are counted by the kernel: each thread's ``voluntary_ctxt_switches`` in
/proc/self/task/TID/status (sleeps that ended), so the same test measures the old loop,
which polled status at 4 Hz and beat the API's PUB socket every second for no one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import zmq

from tests.conftest import EngineFactory, make_payload, make_torrent
from tidegate.engine import AddRequest, Engine
from tidegate.engine.api import RemoteEngine
from tidegate.engine.api.server import ApiServer

TORRENTS = 30
WINDOW = 8.0
"""Seconds over which wake-ups are counted."""
SETTLE = 2.0
"""Seconds after the last change before counting starts."""


def wakeups(thread_name: str) -> int:
    """The kernel's count of a thread's sleeps that ended (this process's thread)."""
    thread = next(t for t in threading.enumerate() if t.name == thread_name)
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("voluntary_ctxt_switches:"))
    return int(line.split()[1])


def idle_engine(make_engine: EngineFactory, tmp_path: Path) -> Engine:
    """An engine seeding TORRENTS small torrents, nothing connected, the default resume
    save interval (the tests' 1 s one would wake it every second)."""
    eng = make_engine("idle", storage={"resume_save_interval": 60.0})
    for i in range(TORRENTS):
        folder = make_payload(tmp_path / "src", name=f"p{i}", sizes=(20_000,))
        created = make_torrent(folder, fmt="v1")
        eng.add(AddRequest(torrent=created.data, save_path=created.save_path,
                           seed_mode=True)).result(10)
    eng.wait_for(lambda s: len(s.torrents) == TORRENTS and
                 all(t.phase == "seeding" for t in s.torrents.values()), 30)
    return eng


def count_over(seconds: float, *names: str) -> list[int]:
    before = [wakeups(n) for n in names]
    time.sleep(seconds)  # the measured window itself, not a synchronisation
    return [wakeups(n) - b for n, b in zip(names, before, strict=True)]


def test_an_idle_engine_and_its_api_server_sleep_until_someone_watches(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    eng = idle_engine(make_engine, tmp_path)
    ctx = zmq.Context()
    server = ApiServer(eng, "inproc://tg-idle-cmd", "inproc://tg-idle-pub",
                       context=ctx).start()
    client: RemoteEngine | None = None
    try:
        time.sleep(SETTLE)  # let the last adds' alerts and saves pass
        beats = server.counters["beats"]
        engine_wakes, api_wakes = count_over(WINDOW, "tidegate-engine", "tidegate-api")
        # The old loop: ~9 wake-ups a second (a 4 Hz timer and the two alerts each poll
        # brings), the API thread ~5 (a beat a second, a wake-up per publication).
        assert engine_wakes <= 2 * WINDOW, engine_wakes
        assert api_wakes <= 3, api_wakes
        assert server.counters["beats"] == beats  # no one subscribed: no heartbeat
        polls0 = eng.loop_counters()["polls"]
        time.sleep(5.0)
        assert eng.loop_counters()["polls"] - polls0 <= 2  # backed off to one per 5 s

        # A client attaches: heartbeats at once, and status at snapshot_hz (4 Hz) again.
        client = RemoteEngine("inproc://tg-idle-cmd", context=ctx, timeout=5).start(5)
        t0 = time.monotonic()
        while server.counters["beats"] == beats and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert server.counters["beats"] > beats
        polls1 = eng.loop_counters()["polls"]
        time.sleep(5.0)  # longer than the client's liveness (3.5 s): beats keep it up
        assert eng.loop_counters()["polls"] - polls1 >= 12  # ~4 Hz over 5 s
        assert client.connected
        assert server.counters["attached"] == 1

        # It leaves: the server sees the unsubscription, beats stop, polling backs off.
        client.stop()
        client = None
        t0 = time.monotonic()
        while server.counters["detached"] == 0 and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert server.counters["detached"] == 1
        beats = server.counters["beats"]
        time.sleep(2.5)
        assert server.counters["beats"] == beats
    finally:
        if client is not None:
            client.stop()
        server.stop()
        ctx.term()


def test_a_waiter_brings_a_backed_off_engine_back_to_snapshot_hz(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    eng = idle_engine(make_engine, tmp_path)
    time.sleep(SETTLE + 6.0)  # backed off to a poll every few seconds
    seq = eng.snapshot.seq
    polls = eng.loop_counters()["polls"]
    t0 = time.monotonic()
    # A wait_for caller watches: the loop polls at once and at 4 Hz while it waits (the
    # predicate never holds: nothing changes).
    try:
        eng.wait_for(lambda s: s.seq > seq + 1_000, 2.0)
    except TimeoutError:
        pass
    waited = time.monotonic() - t0
    assert eng.loop_counters()["polls"] - polls >= 6, (waited, eng.loop_counters())


def test_a_glance_keeps_snapshot_hz_for_its_lease_then_the_engine_backs_off(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    """A reader that polls (the qBittorrent API, engine/qbt/app.py) calls ``glance``: the
    loop polls at once and at snapshot_hz for GLANCE_LEASE seconds, then backs off."""
    from tidegate.engine.board import GLANCE_LEASE

    eng = idle_engine(make_engine, tmp_path)
    time.sleep(SETTLE + 6.0)
    polls = eng.loop_counters()["polls"]
    time.sleep(2.0)
    assert eng.loop_counters()["polls"] - polls <= 1  # backed off
    polls = eng.loop_counters()["polls"]
    eng.glance()
    time.sleep(2.0)
    assert eng.loop_counters()["polls"] - polls >= 6  # ~4 Hz while the lease runs
    time.sleep(GLANCE_LEASE + 4.0)  # the lease ends; 0.25 + 1 + 4 s of quiet polls
    polls = eng.loop_counters()["polls"]
    time.sleep(3.0)
    assert eng.loop_counters()["polls"] - polls <= 1
