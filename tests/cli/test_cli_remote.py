"""The ``tidegate`` commands that drive a running daemon, as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tidegate.engine import commands as cmds
from tidegate.engine.api import RemoteEngine


def tg(home: Path, *args: str, ok: bool = True,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(TIDEGATE + list(args), env=env_for(home) | (env or {}),
                       capture_output=True, text=True, timeout=60)
    if ok:
        assert r.returncode == 0, f"tidegate {' '.join(args)}: {r.stderr}"
    return r


def ls(home: Path) -> list[dict[str, Any]]:
    return list(json.loads(tg(home, "ls", "--json").stdout))


def wait(client: RemoteEngine, pred: Any, timeout: float = 20) -> None:
    client.wait_for(pred, timeout)


def test_every_daemon_command(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    client = d.client()
    try:
        payload = make_payload(home / "data-src", sizes=(300_000, 200_000))
        torrent = home / "p.torrent"
        created = make_torrent(payload)
        torrent.write_bytes(created.data)
        magnet = "magnet:?xt=urn:btih:" + "12" * 20

        added = json.loads(tg(home, "add", str(torrent), magnet, "--paused", "--json",
                              "-d", str(home / "data-src")).stdout)
        assert [a["id"] for a in added] == [created.info_hash_v1, "12" * 20]
        tid = created.info_hash_v1
        assert tid is not None
        wait(client, lambda s: {tid, "12" * 20} <= set(s.torrents))

        listed = ls(home)
        assert [t["number"] for t in listed] == [1, 2]
        assert {t["id"] for t in listed} == {tid, "12" * 20}
        assert all(t["paused"] for t in listed)
        number = next(str(t["number"]) for t in listed if t["id"] == tid)

        # by list number, then by info-hash prefix
        tg(home, "resume", number)
        wait(client, lambda s: s.torrents[tid].phase == "seeding")
        tg(home, "pause", tid[:10])
        wait(client, lambda s: s.torrents[tid].paused)
        tg(home, "resume", tid[:10])
        tg(home, "recheck", number)
        tg(home, "reannounce", number)
        wait(client, lambda s: s.torrents[tid].phase == "seeding")

        shown = json.loads(tg(home, "show", number, "--json").stdout)
        assert [f["path"] for f in shown["files"]] == [f"{payload.name}/file0.bin",
                                                       f"{payload.name}/file1.bin"]
        text = tg(home, "show", number).stdout
        assert "file1.bin" in text and tid in text

        tg(home, "prio", number, "file1.bin", "skip")
        details = client.run(cmds.Details(tid)).result(10)
        assert [f.priority for f in details.files] == [4, 0]
        tg(home, "prio", number, "0", "*file1*", "high")
        assert [f.priority for f in client.run(cmds.Details(tid)).result(10).files] == [7, 7]

        tg(home, "limit", number, "--down", "500K", "--up", "1M")
        wait(client, lambda s: (s.torrents[tid].download_limit,
                                s.torrents[tid].upload_limit) == (512_000, 1_048_576))
        tg(home, "limit", "--down", "2M")
        wait(client, lambda s: s.stats.download_limit == 2 * 1_048_576)

        stats = json.loads(tg(home, "stats", "--json").stdout)
        assert stats["torrents"] == 2 and stats["daemon_pid"] == d.pid
        assert stats["stats"]["download_limit"] == 2 * 1_048_576

        target = home / "moved"
        tg(home, "move", number, str(target))
        wait(client, lambda s: s.torrents[tid].save_path == str(target))
        assert (target / payload.name / "file0.bin").is_file()
        assert not (home / "data-src" / payload.name / "file0.bin").exists()

        tg(home, "rm", number, "--delete-data")
        wait(client, lambda s: tid not in s.torrents)
        deadline = time.monotonic() + 10
        while (target / payload.name).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (target / payload.name).exists()
        assert [t["id"] for t in ls(home)] == ["12" * 20]
    finally:
        client.stop()

    tg(home, "stop-daemon")
    assert d.p is not None and d.p.wait(5) == 0


def test_bad_ids_change_nothing_and_say_why(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    for h in ("ab", "ac"):
        tg(home, "add", "magnet:?xt=urn:btih:" + h * 20)
    r = tg(home, "pause", "1", "zz", ok=False)
    assert r.returncode == 1
    assert "no torrent has this id prefix" in r.stderr
    assert not any(t["paused"] for t in ls(home)), "the valid id was not paused either"
    r = tg(home, "pause", "a", ok=False)
    assert "ambiguous: 2 torrents match" in r.stderr
    r = tg(home, "rm", "9", ok=False)
    assert "no torrent has the number 9" in r.stderr
    r = tg(home, "prio", "1", "nothing.bin", "high", ok=False)
    assert "no file of" in r.stderr
    r = tg(home, "prio", "1", "0", "urgent", ok=False)
    assert "priority must be" in r.stderr
    r = tg(home, "limit", "1", "--down", "fast", ok=False)
    assert "--down fast" in r.stderr
    r = tg(home, "add", str(home / "missing.torrent"), ok=False)
    assert "missing.torrent" in r.stderr
    assert len(ls(home)) == 2
