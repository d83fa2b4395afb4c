"""``tidegate comment peers`` against real daemons: A pulls from B (a configured peer) and
shows it synced; a garbage-answering peer is shown with its error, literally; a configured
endpoint the sync cannot use is left out and named."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tests.helpers.hostile_comments import HostileCommentPeer

URL = "https://example.org/peers"


def tg(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(TIDEGATE + list(args), env=env_for(home), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, f"tidegate {' '.join(args)}: {r.stderr}"
    return r


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_comment_peers_shows_a_configured_peer_synced_and_a_bad_one_failing(
        daemons: list[DaemonProc]) -> None:
    hostile = HostileCommentPeer("garbage")
    try:
        b_port = _free_port()
        b_home = short_home(f"\n[comments]\nenabled = true\ndifficulty = 8\nport = {b_port}\n")
        a_home = short_home("\n[comments]\nenabled = true\ndifficulty = 8\nsync_interval = 1\n"
                            f'peers = ["127.0.0.1:{b_port}", "{hostile.endpoint}", '
                            '"[1.2.3.4]:5"]\n')  # the last passes the config, not the sync
        daemons.append(DaemonProc(b_home).start())
        daemons.append(DaemonProc(a_home).start())
        posted = tg(b_home, "comment", URL, "from B").stdout.strip()

        deadline = time.monotonic() + 60
        while True:
            state = json.loads(tg(a_home, "comment", "peers", "--json").stdout)
            peers = {p["endpoint"]: p for p in state["peers"]}
            b = peers.get(f"127.0.0.1:{b_port}")
            if b is not None and b["pulled"] == 1 and peers[hostile.endpoint]["failures"]:
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.3)
        assert b["source"] == "config" and b["last_sync"] > 0 and b["last_error"] == ""
        assert "digest answer" in peers[hostile.endpoint]["last_error"]
        assert "'[1.2.3.4]:5'" in state["config_error"] and len(peers) == 2
        assert [c["id"] for c in json.loads(tg(a_home, "comment", URL, "--json").stdout)] \
            == [posted]

        table = tg(a_home, "comment", "peers").stdout
        row = next(ln for ln in table.splitlines() if f"127.0.0.1:{b_port}" in ln)
        assert "config" in row and "never" not in row
        bad = next(ln for ln in table.splitlines() if hostile.endpoint in ln)
        assert "never" in bad and "SyncProtocolError" in bad
        assert "network" in table and state["network"] in table
    finally:
        hostile.close()
