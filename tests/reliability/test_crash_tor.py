"""SIGKILL the daemon that owns a managed tor, again and again: tor must not outlive it, and
each restart must bring the onion service back at the same address.

A managed tor is told ``__OwningControllerProcess`` and, once tidegate's control connection
authenticates, ``TAKEOWNERSHIP``: it exits when that connection closes, which is at once
when the owner dies. Before the handshake (a kill while tor is still starting) tor only
polls the owner's pid, every ~15 s. Both are measured here: ``TIDEGATE_TOR_KILLS`` kills
with the service up (default 20) and ``TIDEGATE_TOR_EARLY_KILLS`` kills during start-up
(default 2). tor runs with DisableNetwork 1: the service is made, not uploaded.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import time
from pathlib import Path

import pytest

from tests.helpers.daemon_util import DaemonProc, short_home
from tests.helpers.sites_util import write_site
from tests.helpers.tornet import pid_alive
from tidegate.engine import commands as cmds
from tidegate.engine.api import RemoteEngine
from tidegate.engine.tor.control import TorControl

KILLS = int(os.environ.get("TIDEGATE_TOR_KILLS", "20"))
EARLY = int(os.environ.get("TIDEGATE_TOR_EARLY_KILLS", "2"))
TOR_TOML = '\n[tor]\nmode = "tor-hosting"\ndisable_network = true\ntimeout = 20.0\n'
GONE_WITHIN = 20.0


def tors_of(home: Path) -> list[int]:
    """Every live tor process whose data directory is in ``home`` (found in /proc, so a
    tor the dead daemon never reported is found too)."""
    mark = str(home / "data" / "tor").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"tor") and mark in argv and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def exit_time(home: Path, since: float, timeout: float) -> float:
    """Seconds from ``since`` until no tor of ``home`` is alive (inf if not within
    ``timeout``). /proc is scanned again each time: a daemon killed while starting its tor
    leaves one that was not there a moment before."""
    while True:
        alive = tors_of(home)
        if not alive:
            took = time.monotonic() - since
            time.sleep(0.2)  # a child between fork and exec is not "tor" yet: look again
            if not tors_of(home):
                return took
        if time.monotonic() - since > timeout:
            return float("inf")
        time.sleep(0.005)


def tor_runs(home: Path) -> list[str]:
    """The onion services the managed tor itself says it runs."""
    with TorControl(socket=home / "data" / "tor" / "control", timeout=10) as control:
        return control.detached_onions()


def published(client: RemoteEngine, address: str, timeout: float) -> float:
    t0 = time.monotonic()
    client.wait_for(lambda s: s.tor.pid > 0 and s.tor.connected and (
        o := s.tor.onions.get(address)) is not None and o.state == "published", timeout)
    return time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.timeout(120 + 10 * KILLS + 40 * EARLY)
def test_killing_the_owner_leaves_no_tor_and_the_service_comes_back(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("TIDEGATE_CRASH_SEED") or random.randrange(1 << 32)))
    home = short_home(TOR_TOML)
    daemon: DaemonProc | None = None
    client: RemoteEngine | None = None
    figures: dict[str, list[float]] = {"exit_s": [], "early_exit_s": [], "back_s": [],
                                       "early_back_s": []}
    try:
        daemon = DaemonProc(home).start()
        client = daemon.client()
        source = write_site(home / "src", {"index.html": b"<h1>onion</h1>\n"})
        address = client.run(cmds.SiteNew("blog", str(source))).result(30).address
        client.run(cmds.SiteOnion("blog", True)).result(30)
        published(client, address, 60)
        assert tor_runs(home) == [address]
        plan = ["up"] * KILLS + ["early"] * EARLY
        rng.shuffle(plan)
        for i, kind in enumerate(plan):
            if kind == "early":
                # killed while tor is starting, before the ownership handshake
                client.stop()
                client = None
                daemon.kill9()
                daemon.stop()
                daemon = DaemonProc(home).start()
                time.sleep(rng.uniform(0.0, 0.5))
            tors = tors_of(home)
            if kind == "up":
                assert client is not None
                snap = client.snapshot
                assert tors == [snap.tor.pid], f"kill {i}: tor processes {tors}"
            t0 = time.monotonic()
            daemon.kill9()
            took = exit_time(home, t0, GONE_WITHIN)
            figures["early_exit_s" if kind == "early" else "exit_s"].append(took)
            assert took <= GONE_WITHIN, f"kill {i} ({kind}): tor {tors} still alive after " \
                                        f"{GONE_WITHIN:g} s"
            assert tors_of(home) == [], f"kill {i}: a tor is left: {tors_of(home)}"
            daemon.stop()
            if client is not None:
                client.stop()
            t0 = time.monotonic()
            daemon = DaemonProc(home).start()
            client = daemon.client()
            published(client, address, 60)
            figures["early_back_s" if kind == "early" else "back_s"].append(
                time.monotonic() - t0)
            assert tor_runs(home) == [address], f"kill {i}: the service is not back"
            assert len(tors_of(home)) == 1
        client.stop()
        client = None
        assert daemon.stop() == 0
        assert exit_time(home, time.monotonic(), 5) < 5  # a clean stop stops tor
    finally:
        if client is not None:
            client.stop()
        if daemon is not None:
            if daemon.p is not None and daemon.p.poll() is None:
                daemon.kill9()
            daemon.stop()
        for pid in tors_of(home):  # never leave one behind, whatever failed
            os.kill(pid, 9)
        shutil.rmtree(home, ignore_errors=True)
        summary = {k: {"n": len(v), "median": round(statistics.median(v), 3),
                       "max": round(max(v), 3)} for k, v in figures.items() if v}
        (tmp_path / "tor-figures.json").write_text(json.dumps(summary, indent=1))
        print(f"\ntor kills: {json.dumps(summary)}")
    assert len(figures["exit_s"]) == KILLS
