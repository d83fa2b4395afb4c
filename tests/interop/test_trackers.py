"""tidegate's view of its trackers (``TorrentDetails.trackers``) against opentracker's own.

What opentracker says is read from its HTTP ``/scrape``; what tidegate says is
``TrackerState`` (engine/torrents/status.py ``trackers_of``), in process and through the
daemon's API and ``tidegate show``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.daemon_util import DaemonProc, short_home
from tidegate.engine import AddRequest, Engine
from tidegate.engine import commands as cmds
from tidegate.engine.events import TrackerError
from tidegate.engine.state import TrackerState

from ..conftest import EngineFactory, make_payload, make_torrent, start_seed
from .aria2 import Aria2
from .opentracker import Opentracker, Scrape
from .procs import free_port, wait_until
from .swarms import swarm, tidegate, v1_hash
from .transmission import Transmission


def tracker_of(engine: Engine, tid: str) -> TrackerState:
    (state,) = engine.details(tid).result(10).trackers
    return state


@pytest.mark.parametrize("scheme", ["udp", "http"])
def test_seeds_and_leechers_are_opentrackers(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory, tmp_path: Path,
        transmission: Callable[[], Transmission], aria2: Callable[[], Aria2],
        scheme: str) -> None:
    folder, created, trk = swarm(tmp_path, opentracker, "v1", scheme)
    ih = v1_hash(created)
    seed = make_engine("seed")
    tid = start_seed(seed, created, folder)
    first = wait_until("tidegate's first announce",
                       lambda: (t := tracker_of(seed, tid)).status == "working" and t, 10)
    # its own announce made it the only seed
    assert (first.seeds, first.leechers) == (1, 0)
    assert trk.scrape(ih) == Scrape(complete=1, incomplete=0, downloaded=0)

    # a second seed (transmission) and a leecher held at 1 KiB/s (aria2)
    transmission().seed(created.data, folder.parent)
    ar = aria2()
    gid = ar.add_torrent(created.data, dir=str(tmp_path / "slow"),
                         **{"max-download-limit": "1K"})
    wait_until("opentracker to count 2 seeds and 1 leecher",
               lambda: trk.scrape(ih) == Scrape(complete=2, incomplete=1, downloaded=0), 15)

    seed.reannounce(tid).result(5)
    state = wait_until("tidegate to see the new swarm",
                       lambda: (t := tracker_of(seed, tid)).seeds == 2 and t, 10)
    scrape = trk.scrape(ih)
    assert scrape is not None
    assert (state.seeds, state.leechers) == (scrape.complete, scrape.incomplete) == (2, 1)
    assert (state.status, state.last_error, state.fails) == ("working", "", 0)
    # opentracker's interval: 30 minutes, randomised a little
    assert 1500 <= state.next_announce <= 2000
    seed.wait_for(lambda s: s.torrents[tid].swarm_seeds == 2, 8)
    assert ar.status(gid)["status"] == "active"


def test_a_hybrid_on_a_tracker_that_knows_only_its_v1_hash(
        opentracker: Callable[[], Opentracker], make_engine: EngineFactory,
        tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src")
    trk = opentracker()
    created = make_torrent(folder, "hybrid", trackers=(trk.http,))
    trk.allow(created.info_hash_v1).start()
    seed = make_engine("seed")
    tid = start_seed(seed, created, folder)
    state = wait_until("both announces answered",
                       lambda: (t := tracker_of(seed, tid)).last_error and t, 10)
    # the v1 announce works: the tracker works; the v2 hash's refusal is named, in
    # opentracker's words
    assert state.status == "working"
    assert state.last_error == ("v2: Requested download is not authorized for use with "
                                "this tracker.")
    assert state.seeds == 1
    assert trk.scrape(v1_hash(created)) == Scrape(complete=1, incomplete=0, downloaded=0)


def test_two_udp_trackers_on_one_address(opentracker: Callable[[], Opentracker],
                                         make_engine: EngineFactory, tmp_path: Path) -> None:
    """libtorrent caches UDP connection ids per IP address, across ports and sessions of a
    process: the second tracker used to get the first one's id and answer "Connection ID
    missmatch" (the engine now sets udp_tracker_token_expiry = 0)."""
    engine = make_engine("seed")
    started = 0.0
    for i in range(2):
        folder = make_payload(tmp_path / f"src{i}", sizes=(100_000,))
        trk = opentracker()
        created = make_torrent(folder, "v1", trackers=(trk.udp,))
        # opentracker seeds its connection-id key from the clock in seconds: two started
        # within one second hand out the same ids, which hid the fault
        time.sleep(max(0.0, started + 1.1 - time.time()))
        trk.allow(created.info_hash_v1).start()
        started = time.time()
        tid = start_seed(engine, created, folder)

        def announced(i: int = i, tid: str = tid) -> TrackerState | None:
            s = tracker_of(engine, tid)
            if s.fails:
                pytest.fail(f"tracker {i}: the announce failed: {s.last_error}")
            return s if s.status == "working" else None
        # well within libtorrent's 30 s before it retries a failed UDP announce
        state = wait_until(f"tracker {i} to take the announce", announced, 5)
        assert state.seeds == 1
        assert trk.scrape(v1_hash(created)) == Scrape(complete=1, incomplete=0, downloaded=0)


@pytest.mark.slow
def test_a_tracker_that_is_down(tmp_path: Path, daemons: list[DaemonProc]) -> None:
    """Closed ports (HTTP and UDP): a clear error each, and retries further and further
    apart; seen through the daemon's API and ``tidegate show``."""
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    client = d.client()
    events = client.subscribe()
    try:
        dead_http = f"http://127.0.0.1:{free_port()}/announce"
        dead_udp = f"udp://127.0.0.1:{free_port()}/announce"
        ids = {}
        for scheme, url in (("http", dead_http), ("udp", dead_udp)):
            folder = make_payload(home / f"src-{scheme}", sizes=(50_000,))
            created = make_torrent(folder, "v1", trackers=(url,))
            ids[scheme] = client.run(cmds.Add(AddRequest(torrent=created.data,
                                                save_path=created.save_path))).result(10)

        def tracker(scheme: str) -> TrackerState:
            (state,) = client.run(cmds.Details(ids[scheme])).result(10).trackers
            return state

        http1 = wait_until("the first failed HTTP announce",
                           lambda: (t := tracker("http")).fails == 1 and t, 10)
        assert (http1.status, http1.last_error) == ("error", "Connection refused")
        # libtorrent's back-off: 5 s + 5 s x fails^2 x tracker_backoff 250 %
        assert 10 <= http1.next_announce <= 20
        http2 = wait_until("the HTTP retry", lambda: (t := tracker("http")).fails == 2 and t,
                           http1.next_announce + 10)
        assert (http2.status, http2.last_error) == ("error", "Connection refused")
        assert 45 <= http2.next_announce <= 60  # the wait grew

        # a closed UDP port answers nothing on loopback: the announce times out
        udp = wait_until("the failed UDP announce",
                         lambda: (t := tracker("udp")).fails >= 1 and t, 30)
        assert (udp.status, udp.last_error) == ("error", "timed out")
        assert udp.next_announce > 0

        errors = [e for e in events.drain() if isinstance(e, TrackerError)]
        assert {(e.url, e.message) for e in errors} == {
            (dead_http, "Connection refused"), (dead_udp, "timed out")}
        assert sum(e.url == dead_http for e in errors) == 2  # two attempts so far

        shown = json.loads(tidegate(home, "show", ids["http"][:12], "--json").stdout)
        assert shown["trackers"][0]["fails"] == 2
        text = tidegate(home, "show", ids["http"][:12]).stdout
        # the trackers table: status, fails, ..., next announce, error
        row = next(line for line in text.splitlines() if dead_http in line)
        assert re.search(r"\berror +2 ", row) and row.rstrip().endswith("Connection refused"), text
        assert re.search(r"\bNext\b", text)
    finally:
        client.stop()
