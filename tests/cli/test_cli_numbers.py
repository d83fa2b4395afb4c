"""Torrent numbers through the real ``tidegate`` command and a real daemon: each torrent
keeps its number while the daemon runs, so ``rm 1; rm 2`` removes exactly those two."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.cli.test_cli_remote import tg
from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import DaemonProc, short_home


def ls(home: Path, *extra: str) -> list[dict[str, Any]]:
    return list(json.loads(tg(home, "ls", "--json", *extra).stdout))


def rows(home: Path) -> list[list[str]]:
    """``tidegate ls``'s table, each data row split into words."""
    return [line.split() for line in tg(home, "ls").stdout.splitlines()[1:] if line.strip()]


def test_numbers_stay_with_their_torrents_through_rm(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    data = home / "data"
    ids, folders = [], []
    for i in range(3):
        folder = make_payload(data, name=f"p{i}", sizes=(100_000 + i,))
        created = make_torrent(folder, "v1")
        torrent = home / f"p{i}.torrent"
        torrent.write_bytes(created.data)
        # one at a time: numbers follow the order of the adds
        tg(home, "add", str(torrent), "-d", str(data))
        ids.append(created.info_hash_v1)
        folders.append(folder)

    listed = ls(home)
    assert [(t["number"], t["id"]) for t in listed] == [(1, ids[0]), (2, ids[1]), (3, ids[2])]
    assert [r[0] for r in rows(home)] == ["1", "2", "3"], "the number is the first column"

    tg(home, "rm", "1", "--delete-data")
    tg(home, "rm", "2")  # the list now starts at 2: the number, not the position, counts
    assert [(t["number"], t["id"]) for t in ls(home)] == [(3, ids[2])]
    deadline = time.monotonic() + 10
    while folders[0].exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folders[0].exists(), "rm 1 --delete-data deleted the first torrent's data"
    assert (folders[1] / "file0.bin").is_file(), "rm 2 kept the second torrent's data"
    assert (folders[2] / "file0.bin").is_file()

    r = tg(home, "rm", "1", ok=False)
    assert r.returncode == 1 and "no torrent has the number 1" in r.stderr
    assert [t["id"] for t in ls(home)] == [ids[2]], "a gone number removed nothing"

    # a number is never given again while the daemon runs, even to the same torrent
    time.sleep(1.1)  # added_time has whole seconds: a later second for the restart below
    tg(home, "add", str(home / "p1.torrent"), "-d", str(data))
    assert [(t["number"], t["id"]) for t in ls(home)] == [(3, ids[2]), (4, ids[1])]
    shown = tg(home, "show", "4").stdout
    assert "number    4" in shown and ids[1] in shown
    tg(home, "pause", "3")
    assert next(t for t in ls(home) if t["number"] == 3)["paused"]

    # ETA: a complete torrent is Done; one not downloading shows nothing, never ∞
    client = d.client()
    try:
        client.wait_for(lambda s: s.torrents[ids[1]].phase == "seeding"
                        and s.torrents[ids[2]].paused, 20)
    finally:
        client.stop()
    table = {r[0]: r for r in rows(home)}
    assert table["4"][-1] == "Done", table["4"]
    assert table["3"][-1] == "Done", "paused but complete: still done"
    magnet = "magnet:?xt=urn:btih:" + "12" * 20
    time.sleep(1.1)
    tg(home, "add", magnet, "--paused")
    table = {r[0]: r for r in rows(home)}
    assert table["5"][-1] == "0.00", f"a paused magnet has no ETA: {table['5']}"
    assert "∞" not in tg(home, "ls").stdout
    assert "eta       -" in tg(home, "show", "5").stdout

    # a restart numbers the torrents again from 1, in the order they were added
    tg(home, "stop-daemon")
    assert d.p is not None and d.p.wait(10) == 0
    daemons.append(DaemonProc(home).start())
    again = ls(home)
    assert [(t["number"], t["id"]) for t in again] == [(1, ids[2]), (2, ids[1]),
                                                       (3, "12" * 20)]
