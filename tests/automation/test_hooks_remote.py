"""No remote API reaches the hooks (qBittorrent's CVE-2023-30801): a real daemon, a
remote client on its ZeroMQ API and on its qBittorrent endpoint. ``apply_config`` naming
``[hooks]`` (or ``[watch]``) is refused; the hook the file names still runs, unchanged;
with no hook in the file, nothing a client sends makes one run. Also ``tidegate watch
list`` against the daemon."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.automation.test_hooks import RECORDER, records
from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tidegate.engine import commands as cmds
from tidegate.engine.errors import ConfigError
from tidegate.engine.requests import AddRequest


def hostile(out: Path) -> dict[str, object]:
    """What a hostile client sends: a hook that would leave ``out`` behind."""
    return {"hooks": {"on_add": [sys.executable, "-c", f"open({str(out)!r}, 'w')"],
                      "on_complete": ["/bin/sh", "-c", f"touch {out}"]}}


def test_remote_apply_config_cannot_change_the_files_hook(
        daemons: list[DaemonProc], tmp_path: Path) -> None:
    script = tmp_path / "hook.py"
    script.write_text(RECORDER)
    out, evil = tmp_path / "ran.jsonl", tmp_path / "evil"
    argv = [sys.executable, str(script), str(out), "from-the-file"]
    home = short_home(f"\n[hooks]\non_add = {json.dumps(argv)}\n")
    d = DaemonProc(home).start()
    daemons.append(d)
    client = d.client()
    try:
        with pytest.raises(ConfigError, match=r"\[hooks\] is read from the config file only"):
            client.call("apply_config", config=hostile(evil)).result(10)
        with pytest.raises(ConfigError, match=r"\[watch\] is read from the config file only"):
            client.call("apply_config",
                        config={"watch": {"folders": [{"path": str(tmp_path)}]}}).result(10)
        # a config without [hooks] is applied, and the file's hook stays
        client.call("apply_config", config={"rates": {"download": 50_000}}).result(10)
        t = make_torrent(make_payload(tmp_path / "p", "p", sizes=(1000,)))
        tid = client.run(cmds.Add(AddRequest(torrent=t.data, save_path=str(tmp_path / "dl"))
                                  )).result(20)
        [ran] = records(out, 1)
    finally:
        client.stop()
    assert ran["argv"] == ["from-the-file"]
    assert ran["env"]["TIDEGATE_HASH"] == tid
    time.sleep(0.5)
    assert not evil.exists()


def test_no_client_of_a_daemon_without_hooks_can_make_one_run(tmp_path: Path) -> None:
    from tests.qbt.servers import TidegateQbt

    evil = tmp_path / "evil"
    watch = tmp_path / "watch"
    watch.mkdir()
    server = TidegateQbt(f"\n[[watch.folders]]\npath = {json.dumps(str(watch))}\n").start()
    try:
        client = server.daemon.client()
        try:
            with pytest.raises(ConfigError, match="read from the config file only"):
                client.call("apply_config", config=hostile(evil)).result(10)
            [folder] = client.run(cmds.WatchList()).result(10)
            assert folder.path == str(watch)
        finally:
            client.stop()
        qbt = server.client()
        assert qbt.login().status == 200
        # qBittorrent's way in: autorun set through setPreferences. There is no such verb.
        prefs = json.dumps({"autorun_enabled": True,
                            "autorun_program": f"/bin/sh -c 'touch {evil}'"})
        reply = qbt.call("app/setPreferences", {"json": prefs})
        assert reply.status == 404, (reply.status, reply.text)
        t = make_torrent(make_payload(tmp_path / "p", "p", sizes=(1000,)), "v1")
        assert qbt.call("torrents/add", {}, files=[("p.torrent", t.data)]).status == 200
        listed = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and t.info_hash_v1 not in listed:
            listed = {x["hash"]: x for x in qbt.call("torrents/info", method="GET").json()}
            time.sleep(0.1)
        assert t.info_hash_v1 in listed
        # the watch list's CLI face, against the daemon
        shown = subprocess.run([*TIDEGATE, "watch", "list", "--json"], capture_output=True,
                               text=True, env=env_for(server.home), timeout=60)
        assert shown.returncode == 0, shown.stderr
        [row] = json.loads(shown.stdout)
        assert row["path"] == str(watch) and row["added"] == 0
        time.sleep(1.0)  # time enough for a hook to have run
    finally:
        server.stop()
    assert not evil.exists()
