"""A qBittorrent API client counts as a watcher (issue 27): an idle daemon backs its
status polls off to one per 30 s, and a client's request brings ``snapshot_hz`` back at
once for the next few seconds, so what it reads is the present, not a snapshot up to 30 s
old. The daemon runs in this process so its engine loop's counters can be read."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import short_home
from tests.interop.procs import free_port
from tests.qbt.servers import PASSWORD, Client
from tidegate.engine import commands as cmds
from tidegate.engine.board import GLANCE_LEASE
from tidegate.engine.config import load
from tidegate.engine.daemon import Daemon
from tidegate.engine.qbt.auth import store_password
from tidegate.engine.requests import AddRequest


def _listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_a_qbt_client_brings_an_idle_daemon_back_to_snapshot_hz(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    home = short_home(f"\n[qbt]\nenabled = true\nport = {port}\n")
    conf = home / "config.toml"
    conf.write_text(conf.read_text().replace("resume_save_interval = 1.0",
                                             "resume_save_interval = 60.0"))
    monkeypatch.setenv("TIDEGATE_HOME", str(home))
    daemon = None
    try:
        loaded = load()
        store_password(loaded.paths.data_dir, PASSWORD)
        daemon = Daemon(loaded).start()
        node = daemon.engine
        assert node is not None
        folder = make_payload(tmp_path / "src", sizes=(20_000,))
        created = make_torrent(folder, fmt="v1")
        tid = node.run(cmds.Add(AddRequest(torrent=created.data, save_path=created.save_path,
                                           seed_mode=True))).result(10)
        node.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding", 15)
        deadline = time.monotonic() + 15
        while not _listens(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(8.0)  # nothing moves, no one watches: 0.25 + 1 + 4 s of quiet polls
        engine = node.engine
        polls = engine.loop_counters()["polls"]
        time.sleep(2.0)
        assert engine.loop_counters()["polls"] - polls <= 1, "not backed off"

        client = Client(port, "tidegate")
        assert client.login().text == "Ok."
        polls = engine.loop_counters()["polls"]
        t0 = time.monotonic()
        info = client.call("torrents/info", method="GET").json()
        assert [t["name"] for t in info] == [folder.name]
        time.sleep(2.0)
        assert engine.loop_counters()["polls"] - polls >= 6, "a client's request: 4 Hz again"
        # it stops asking: the lease runs out and the loop backs off again
        time.sleep(max(0.0, GLANCE_LEASE + 6.0 - (time.monotonic() - t0)))
        polls = engine.loop_counters()["polls"]
        time.sleep(2.0)
        assert engine.loop_counters()["polls"] - polls <= 1, "still at 4 Hz after the lease"
    finally:
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(home, ignore_errors=True)
