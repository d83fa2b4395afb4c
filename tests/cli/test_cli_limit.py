"""``tidegate limit`` through the real command: the reply says what is limited now, that
peers on this computer and the LAN are not (by default), and ``limit [ID]`` alone shows
the limits."""

from __future__ import annotations

import shutil

from tests.cli.test_cli_remote import tg
from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import DaemonProc, short_home

LOCAL = "peers on this computer and the local network are not limited"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_limit_replies_and_shows(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    client = d.client()
    try:
        created = make_torrent(make_payload(home / "src", sizes=(50_000,)), "v1")
        torrent = home / "t.torrent"
        torrent.write_bytes(created.data)
        tid = created.info_hash_v1
        assert tid is not None
        tg(home, "add", str(torrent), "-d", str(home / "src"), "--paused")
        client.wait_for(lambda s: tid in s.torrents, 20)

        r = tg(home, "limit")
        assert flat(r.stderr) == "global limits: down unlimited, up unlimited", r.stderr

        r = tg(home, "limit", "--down", "300K")
        assert "global limits: down 300.0 KiB/s, up unlimited" in flat(r.stderr), r.stderr
        assert LOCAL in flat(r.stderr) and "rates.limit_local_peers" in r.stderr
        client.wait_for(lambda s: s.stats.download_limit == 300 * 1024, 10)
        r = tg(home, "limit")
        assert "global limits: down 300.0 KiB/s, up unlimited" in flat(r.stderr), r.stderr

        r = tg(home, "limit", "1")
        assert "down unlimited, up unlimited, ratio the config's, seed time the config's" \
            in flat(r.stderr), r.stderr
        assert tid[:8] in r.stderr
        tg(home, "limit", "1", "--up", "1M", "--ratio", "2")
        client.wait_for(lambda s: s.torrents[tid].upload_limit == 1024 * 1024
                        and s.torrents[tid].ratio_limit == 2, 10)
        r = tg(home, "limit", tid[:10])
        assert "down unlimited, up 1.0 MiB/s, ratio 2, seed time the config's" \
            in flat(r.stderr), r.stderr

        # with local peers limited (the CLI reads the same config file), nothing to warn about
        tg(home, "limit", "--down", "0")
        with open(home / "config.toml", "a") as f:
            f.write("\n[rates]\nlimit_local_peers = true\n")
        r = tg(home, "limit", "--up", "1M")
        assert "up 1.0 MiB/s" in r.stderr and LOCAL not in flat(r.stderr), r.stderr
    finally:
        client.stop()
        d.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_reannounce_says_where_or_that_there_is_nowhere(daemons: list[DaemonProc]) -> None:
    home = short_home()  # loopback: DHT and local discovery off
    d = DaemonProc(home).start()
    daemons.append(d)
    client = d.client()
    try:
        bare = make_torrent(make_payload(home / "src", "bare", sizes=(50_000,)), "v1")
        tracked = make_torrent(make_payload(home / "src", "tracked", sizes=(50_000,)), "v1",
                               trackers=["http://127.0.0.1:9/announce"])
        for name, created in (("bare", bare), ("tracked", tracked)):
            (home / f"{name}.torrent").write_bytes(created.data)
            tg(home, "add", str(home / f"{name}.torrent"), "-d", str(home / "src"), "--paused")
        client.wait_for(lambda s: len(s.torrents) == 2, 20)
        assert bare.info_hash_v1 and tracked.info_hash_v1
        r = tg(home, "reannounce", bare.info_hash_v1[:10])
        assert flat(r.stderr) == ("nowhere to announce to (no tracker; DHT and local discovery "
                                  "are off or the torrent is private): bare"), r.stderr
        r = tg(home, "reannounce", tracked.info_hash_v1[:10])
        assert flat(r.stderr) == "announced to 1 tracker: tracked", r.stderr
    finally:
        client.stop()
        d.stop()
        shutil.rmtree(home, ignore_errors=True)
