"""``tidegate tracker add|rm``, ``peer add`` and ``sequential`` against a real daemon, as
real subprocesses: the faces of AddTrackers, RemoveTrackers, AddPeers and SetSequential."""

from __future__ import annotations

import json

from tests.cli.test_cli_remote import tg, wait
from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import DaemonProc, short_home
from tidegate.engine import commands as cmds


def test_trackers_peers_and_sequential_from_the_cli(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    client = d.client()
    try:
        payload = make_payload(home / "src", sizes=(100_000,))
        torrent = home / "p.torrent"
        torrent.write_bytes(make_torrent(payload).data)
        (added,) = json.loads(tg(home, "add", str(torrent), "--paused", "--json",
                                 "-d", str(home / "src")).stdout)
        tid = added["id"]
        wait(client, lambda s: tid in s.torrents)

        url = "http://127.0.0.1:9/announce"
        r = tg(home, "tracker", "add", "1", url, "udp://127.0.0.1:9")
        assert "added 2 trackers" in r.stderr
        urls = {t.url for t in client.run(cmds.Details(tid)).result(10).trackers}
        assert {url, "udp://127.0.0.1:9"} <= urls
        r = tg(home, "tracker", "rm", tid[:8], url)
        assert "removed 1 tracker" in r.stderr
        urls = {t.url for t in client.run(cmds.Details(tid)).result(10).trackers}
        assert url not in urls and "udp://127.0.0.1:9" in urls

        bad = tg(home, "tracker", "add", "1", "gopher://x", ok=False)
        assert bad.returncode == 1 and "gopher://x" in bad.stderr
        missing = tg(home, "tracker", "rm", "1", "http://127.0.0.1:1/never", ok=False)
        assert missing.returncode == 1 and "never" in missing.stderr

        r = tg(home, "peer", "add", "1", "127.0.0.1:6881", "localhost:6882")
        assert "connecting to 2 peers" in r.stderr
        wrong = tg(home, "peer", "add", "1", "no-port-here", ok=False)
        assert wrong.returncode == 1 and "HOST:PORT" in wrong.stderr

        tg(home, "sequential", "1", "on")
        wait(client, lambda s: s.torrents[tid].sequential)
        tg(home, "sequential", tid[:8], "off")
        wait(client, lambda s: not s.torrents[tid].sequential)
    finally:
        client.stop()
    # the peers were kept with the torrent: after a restart of the daemon they are still
    # its own (the resume extras), not just dialled once
    d.stop()
    resume = home / "data" / "resume" / f"{tid}.resume"
    kept = resume.read_bytes()  # the extras are JSON inside the resume file
    assert b'["127.0.0.1",6881]' in kept and b'["127.0.0.1",6882]' in kept
