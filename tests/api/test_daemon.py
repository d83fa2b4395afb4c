"""The daemon in a real subprocess, driven through RemoteEngine over ipc."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import (
    EngineFactory,
    make_payload,
    make_torrent,
    port_of,
    start_seed,
    tree_bytes,
)
from tests.helpers.daemon_util import ROOT, TIDEGATE, DaemonProc, env_for, short_home
from tidegate.engine import AddRequest, Phase
from tidegate.engine import commands as cmds
from tidegate.engine.errors import DaemonUnavailableError, UnknownTorrentError
from tidegate.engine.events import (
    DaemonConnection,
    MetadataReceived,
    TorrentAdded,
    TorrentCompleted,
    TorrentRemoved,
)


def test_download_by_magnet_through_the_daemon(tmp_path: Path, make_engine: EngineFactory,
                                               daemons: list[DaemonProc]) -> None:
    payload = make_payload(tmp_path / "seed", sizes=(2_000_000, 700_000))
    created = make_torrent(payload)
    seed = make_engine("seed")
    start_seed(seed, created, payload)
    d = DaemonProc(short_home()).start()
    daemons.append(d)
    client = d.client()
    try:
        events = client.subscribe()
        out = d.home / "dl"
        tid = client.run(cmds.Add(AddRequest(uri=created.magnet, source="magnet",
                                    save_path=str(out),
                                    peers=(f"127.0.0.1:{port_of(seed)}",)))).result(10)
        seqs: list[int] = []

        def complete(s: object) -> bool:
            seqs.append(s.seq)  # type: ignore[attr-defined]
            t = s.torrents.get(tid)  # type: ignore[attr-defined]
            return t is not None and t.complete_on_disk

        client.wait_for(complete, 60)
        assert tree_bytes(out / payload.name) == tree_bytes(payload)
        assert len(set(seqs)) > 2, "progress arrived as several published snapshots"

        client.run(cmds.Pause(tid)).result(10)
        client.wait_for(lambda s: s.torrents[tid].phase == Phase.PAUSED, 10)
        client.run(cmds.Resume(tid)).result(10)
        client.wait_for(lambda s: s.torrents[tid].phase == Phase.SEEDING, 10)
        details = client.run(cmds.Details(tid)).result(10)
        assert [f.path for f in details.files] == [f"{payload.name}/file0.bin",
                                                   f"{payload.name}/file1.bin"]
        with pytest.raises(UnknownTorrentError, match="no torrent with id 'nope'"):
            client.run(cmds.Pause("nope")).result(10)

        client.run(cmds.Remove(tid)).result(10)
        client.wait_for(lambda s: tid not in s.torrents, 10)
        time.sleep(0.5)
        kinds = [type(e) for e in events.drain()]
        for kind in (TorrentAdded, MetadataReceived, TorrentCompleted, TorrentRemoved):
            assert kind in kinds, f"{kind.__name__} not among {kinds}"
        assert kinds.index(TorrentAdded) < kinds.index(TorrentCompleted) \
            < kinds.index(TorrentRemoved)
    finally:
        client.stop()
    assert d.stop() == 0


def test_kill9_mid_download_then_restart_resumes(tmp_path: Path, make_engine: EngineFactory,
                                                 daemons: list[DaemonProc]) -> None:
    payload = make_payload(tmp_path / "seed", sizes=(12_000_000,))
    created = make_torrent(payload, fmt="v1", piece_size=65536)
    seed = make_engine("seed", rates={"upload": 1_500_000, "limit_local_peers": True})
    start_seed(seed, created, payload)
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    client = d.client(timeout=5.0)
    try:
        events = client.subscribe()
        out = home / "dl"
        tid = client.run(cmds.Add(AddRequest(torrent=created.data, source="t", save_path=str(out),
                                    peers=(f"127.0.0.1:{port_of(seed)}",)))).result(10)
        client.wait_for(lambda s: tid in s.torrents and s.torrents[tid].progress > 0.25, 30)
        time.sleep(1.5)  # past a periodic resume save (resume_save_interval = 1 s)
        first_epoch = client.epoch
        d.kill9()

        client.wait_for(lambda s: not s.running, 10)
        assert not client.connected
        with pytest.raises(DaemonUnavailableError):
            client.run(cmds.Pause(tid)).result(10)

        d2 = DaemonProc(home).start()
        daemons.append(d2)
        snap = client.wait_for(lambda s: s.running and tid in s.torrents, 20)
        assert client.epoch != first_epoch
        assert snap.torrents[tid].progress > 0.2, "resume data kept the pieces"
        client.run(cmds.AddPeers(tid, [f"127.0.0.1:{port_of(seed)}"])).result(10)
        client.wait_for(lambda s: s.torrents[tid].complete_on_disk, 60)
        assert tree_bytes(out / payload.name) == tree_bytes(payload)
        states = [e.connected for e in events.drain() if isinstance(e, DaemonConnection)]
        assert states[-2:] == [False, True]
    finally:
        client.stop()


def test_a_second_daemon_names_the_first(daemons: list[DaemonProc]) -> None:
    d = DaemonProc(short_home()).start()
    daemons.append(d)
    r = subprocess.run(TIDEGATE + ["daemon"], env=env_for(d.home), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert f"in use by process {d.pid}" in r.stderr
    client = d.client()  # the first one still serves: its sockets were left alone
    assert client.daemon_pid == d.pid
    client.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_resume_data_and_exits_0(sig: int, daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    client = d.client()
    tid = client.run(cmds.Add(AddRequest(uri="magnet:?xt=urn:btih:" + "ab" * 20, source="m",
                                paused=True))).result(10)
    client.stop()
    started = time.monotonic()
    assert d.stop(sig) == 0
    assert time.monotonic() - started < 30
    assert (home / "data" / "resume" / f"{tid}.resume").is_file()
    assert not (home / "run" / "api.sock").exists()
    assert not (home / "run" / "daemon.json").exists()
    assert "saving resume data" in d.stderr

    d2 = DaemonProc(home).start()
    daemons.append(d2)
    again = d2.client()
    assert tid in again.snapshot.torrents
    again.stop()


def test_ipc_sockets_are_private(daemons: list[DaemonProc]) -> None:
    d = DaemonProc(short_home()).start()
    daemons.append(d)
    for key in ("endpoint", "publish"):
        path = Path(d.info[key][len("ipc://"):])
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, key
    assert stat.S_IMODE((d.home / "run").stat().st_mode) == 0o700
    assert stat.S_IMODE((d.home / "run" / "daemon.json").stat().st_mode) == 0o600


def test_without_a_daemon_clients_say_how_to_start_one(tmp_path: Path) -> None:
    home = short_home()
    from tidegate.engine.api import RemoteEngine

    with pytest.raises(DaemonUnavailableError, match="start one with `tidegate daemon`"):
        RemoteEngine(f"ipc://{home}/run/api.sock").start(2)
    r = subprocess.run(TIDEGATE + ["ls"], env=env_for(home), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 1
    assert "tidegate daemon" in r.stderr


SLOW_READER = r"""
import json, sys, time
from tidegate.engine.api import RemoteEngine
c = RemoteEngine(sys.argv[1]).start(10)
events = c.subscribe(maxsize=100_000)
print("ready", flush=True)
sys.stdin.readline()  # the test SIGSTOPs us around here, then writes a line
want = int(sys.argv[2])
c.wait_for(lambda s: len(s.torrents) == want and all(t.paused for t in s.torrents.values()), 30)
time.sleep(1.5)
lost = sum(e.count for e in events.drain() if type(e).__name__ == "EventsLost")
print(json.dumps({"resyncs": c.counters["resyncs"], "events_lost": c.counters["events_lost"],
                  "lost_marker": lost, "seq": c.snapshot.seq}), flush=True)
c.stop()
"""


def test_a_stalled_subscriber_gets_the_newest_state_not_a_backlog(
        daemons: list[DaemonProc]) -> None:
    d = DaemonProc(short_home(), ).start()
    daemons.append(d)
    n = 600
    reader = subprocess.Popen([sys.executable, "-c", SLOW_READER, d.endpoint, str(n)],
                              env=env_for(d.home), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "ready"
        os.kill(reader.pid, signal.SIGSTOP)
        client = d.client()
        futs = [client.run(cmds.Add(AddRequest(uri="magnet:?xt=urn:btih:" + f"{i + 1:040x}",
                                               source="m", paused=True))) for i in range(n)]
        ids = [f.result(30) for f in futs]
        for _ in range(3):  # churn: every torrent changes in several publications
            for f in [client.run(cmds.Resume(t)) for t in ids]:
                f.result(30)
            for f in [client.run(cmds.Pause(t)) for t in ids]:
                f.result(30)
        client.wait_for(lambda s: all(s.torrents[t].paused for t in ids), 30)
        daemon_seq = client.snapshot.seq
        client.stop()
        os.kill(reader.pid, signal.SIGCONT)
        reader.stdin.write("go\n")
        reader.stdin.flush()
        line = reader.stdout.readline()
        assert line, "the stalled reader never caught up"
        report = json.loads(line)
        print("stalled reader:", report)
        assert report["seq"] >= daemon_seq
        # it fell behind: something was dropped and noticed, not queued without bound
        assert report["resyncs"] >= 2 or report["events_lost"] > 0, report
        assert report["lost_marker"] == report["events_lost"]
        assert reader.wait(20) == 0
    finally:
        if reader.poll() is None:
            os.kill(reader.pid, signal.SIGCONT)
            reader.kill()
            reader.wait(5)
