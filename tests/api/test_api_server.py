"""ApiServer and RemoteEngine in one process (inproc), and faults at their edges."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from tests.conftest import EngineFactory
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.engine.api import RemoteEngine
from tidegate.engine.api.server import ApiServer
from tidegate.engine.errors import ConfigError, InputError, UnknownTorrentError


@pytest.fixture
def served(make_engine: EngineFactory) -> Iterator[tuple[ApiServer, RemoteEngine]]:
    engine = make_engine("e")
    ctx = zmq.Context()
    server = ApiServer(engine, "inproc://tg-cmd", "inproc://tg-pub", context=ctx).start()
    client = RemoteEngine("inproc://tg-cmd", context=ctx, timeout=5).start(5)
    yield server, client
    client.stop()
    server.stop()
    ctx.term()


def test_inproc_round_trip_and_errors_keep_their_class(
        served: tuple[ApiServer, RemoteEngine]) -> None:
    server, client = served
    tid = client.run(cmds.Add(AddRequest(uri="magnet:?xt=urn:btih:" + "ab" * 20, source="m",
                                paused=True))).result(5)
    client.wait_for(lambda s: tid in s.torrents, 5)
    with pytest.raises(UnknownTorrentError) as info:
        client.run(cmds.Resume("ff" * 20)).result(5)
    assert info.value.torrent_id == "ff" * 20
    assert server.counters["error:unknown_torrent"] == 1
    assert server.counters["deltas"] >= 1


@pytest.mark.parametrize("limits", [{"down": -5}, {"up": 2**31}, {"down": 2**62}])
def test_global_limits_are_range_checked(served: tuple[ApiServer, RemoteEngine],
                                         limits: dict[str, int]) -> None:
    _server, client = served
    before = client.snapshot.stats.download_limit
    with pytest.raises(InputError, match=r"args\.(down|up)` \(allowed: int from 0 to 2147483647"):
        client.run(cmds.SetGlobalLimits(**limits)).result(5)
    client.run(cmds.SetGlobalLimits(down=1000)).result(5)  # the engine still works
    client.wait_for(lambda s: s.stats.download_limit == 1000, 5)
    assert before == 0


def test_an_unusable_ipc_folder_is_a_clear_error_at_start(make_engine: EngineFactory,
                                                          tmp_path: Path) -> None:
    engine = make_engine("e")
    blocker = Path("/tmp") / f"tgblock{tmp_path.name[-8:]}"
    blocker.write_text("a file where a folder should be")
    try:
        server = ApiServer(engine, f"ipc://{blocker}/sub/api.sock", f"ipc://{blocker}/sub/ev.sock")
        with pytest.raises(ConfigError, match="cannot listen on"):
            server.start()
    finally:
        blocker.unlink()
    assert engine.running


def test_a_burst_beyond_the_queue_waits_instead_of_failing(
        served: tuple[ApiServer, RemoteEngine]) -> None:
    _server, client = served
    tid = client.run(cmds.Add(AddRequest(uri="magnet:?xt=urn:btih:" + "ac" * 20, source="m",
                                paused=True))).result(5)
    # well past the 1000-message high-water marks; each may take its time (timeout 60 s)
    futures = [client.call("pause", timeout=60, torrent_id=tid) for _ in range(5000)]
    assert [f.result(60) for f in futures] == [None] * 5000
    assert client.connected


def test_reply_deadlines_count_from_sending_not_from_queueing(
        make_engine: EngineFactory) -> None:
    engine = make_engine("e")
    ctx = zmq.Context()
    server = ApiServer(engine, "inproc://tg-cmd2", "inproc://tg-pub2", context=ctx).start()
    timeout = 1.5  # each request's; a 0.5 s one failed when one fsync stalled under load
    client = RemoteEngine("inproc://tg-cmd2", context=ctx, timeout=timeout).start(5)
    try:
        tid = client.run(cmds.Add(AddRequest(uri="magnet:?xt=urn:btih:" + "ad" * 20, source="m",
                                    paused=True))).result(5)
        # "pause all" of thousands: far more than may be in flight at once, so most wait
        # in the client; together they must take longer than one request's timeout, so
        # the count doubles until they do (5,000 took 0.75 s here under load)
        for count in (5_000, 10_000, 20_000, 40_000, 80_000):
            start = time.monotonic()
            futures = [client.run(cmds.Pause(tid)) for _ in range(count)]
            errors = [f.exception(60) for f in futures]
            took = time.monotonic() - start
            assert errors == [None] * count, next(e for e in errors if e)
            if took > timeout:
                break
        assert took > timeout, "too quick to show anything: raise the count"
    finally:
        client.stop()
        server.stop()
        ctx.term()
