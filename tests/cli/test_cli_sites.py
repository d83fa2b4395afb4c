"""``tidegate site ...`` against a real daemon, as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tests.helpers.sites_util import write_site
from tidegate.engine import commands as cmds
from tidegate.engine.chain import SiteKey
from tidegate.engine.config import LOOPBACK_NETWORK

SITE = {
    "index.html": b"<h1>tidegate</h1>\n" * 100,
    "css/site.css": os.urandom(70_000),
    "empty.txt": b"",
}


def site_config(tag: str) -> str:
    """config.toml for a daemon with sites on: loopback network, a private DHT of its own
    (no bootstrap nodes) and bus endpoints no other process shares."""
    net = {**LOOPBACK_NETWORK, "enable_dht": True, "dht_private_network": True,
           "dht_bootstrap_nodes": []}
    lines = ["[network]"]
    for key, value in net.items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines += ["", "[storage]", "resume_save_interval = 1.0", "",
              "[bus]", f'hosting_endpoint = "inproc://tg-cli-hosting-{tag}"',
              f'blockchain_endpoint = "inproc://tg-cli-blockchain-{tag}"', "",
              "[web]", "port = 0", ""]
    return "\n".join(lines)


def site_home() -> Path:
    home = short_home()
    (home / "config.toml").write_text(site_config(home.name))
    return home


def tg(home: Path, *args: str, ok: bool = True, timeout: float = 120
       ) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(TIDEGATE + list(args), env=env_for(home), capture_output=True, text=True,
                       timeout=timeout)
    if ok:
        assert r.returncode == 0, f"tidegate {' '.join(args)}: {r.stderr}"
    return r


def sites(home: Path) -> list[dict[str, Any]]:
    r = tg(home, "site", "ls", "--json")
    return list(json.loads(r.stdout))  # stdout holds the JSON and nothing else


def wait_site(home: Path, address: str, ok: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = {s["address"]: s for s in sites(home)}
        if address in found and ok(found[address]):
            return found[address]
        assert time.monotonic() < deadline, f"timed out; last seen: {found.get(address)}"
        time.sleep(0.5)


def test_new_publish_log_verify(daemons: list[DaemonProc]) -> None:
    home = site_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    source = write_site(home / "src", SITE)

    r = tg(home, "site", "new", "blog", str(source))
    address = r.stdout.strip()
    assert address.endswith(".onion") and len(address) == 62, r.stdout
    assert "tidegate site publish blog" in r.stderr

    [listed] = sites(home)
    assert listed["address"] == address and listed["name"] == "blog"
    assert listed["owner"] is True and listed["height"] == 0
    assert listed["source"] == str(source.resolve())

    r = tg(home, "site", "publish", "blog")
    assert r.stdout.splitlines()[0] == "height 1"
    head = r.stdout.splitlines()[1].split()[-1]
    assert len(head) == 64

    got = wait_site(home, address, lambda s: s["hosting"]["seq"] == 1)
    assert got["height"] == 1 and got["head"] == head and got["hosting"]["error"] == ""

    table = tg(home, "site", "ls").stdout
    assert address in table and "owner" in table and "blog" in table

    # the chain: genesis, then the update, also by address
    log = json.loads(tg(home, "site", "log", address, "--json").stdout)
    assert [(e["seq"], e["kind"]) for e in log] == [(0, "genesis"), (1, "update")]
    assert log[0]["name"] == "blog"
    assert log[1]["files"] == len(SITE) + 1  # the chain file travels in the snapshot
    assert log[1]["hash"] == head and log[1]["magnet"].startswith("magnet:?")
    text = tg(home, "site", "log", "blog").stdout.splitlines()
    assert len(text) == 2 and "genesis" in text[0] and "'blog'" in text[0]
    assert "update" in text[1] and log[1]["magnet"] in text[1] and head[:16] in text[1]
    assert "T" in text[1].split()[2] and text[1].split()[2].endswith("Z")

    r = tg(home, "site", "verify", "blog")
    assert "problems" not in r.stdout and "ok" in r.stdout.splitlines()
    report = json.loads(tg(home, "site", "verify", "blog", "--json").stdout)
    assert report["problems"] == [] and report["snapshot"] == 1 and report["height"] == 1

    r = tg(home, "site", "verify", "blog", "--rebuild", str(source))
    assert "identical" in r.stdout

    # a file of the hosted snapshot changed on disk: named, exit 1
    hosted = home / "data" / "sites" / address / "snapshots" / "1" / "site" / "css" / "site.css"
    original = hosted.read_bytes()
    hosted.write_bytes(b"X" + original[1:])
    r = tg(home, "site", "verify", "blog", ok=False)
    assert r.returncode == 1, r.stderr
    assert "css/site.css" in r.stdout and "1 problem" in r.stderr
    report = json.loads(tg(home, "site", "verify", address, "--json", ok=False).stdout)
    assert [p.split(":")[0] for p in report["problems"]] == ["css/site.css"]
    hosted.write_bytes(original)
    tg(home, "site", "verify", "blog")

    # the source changed since publishing: the rebuild differs and says where
    (source / "index.html").write_bytes(b"<h1>changed</h1>\n")
    r = tg(home, "site", "verify", "blog", "--rebuild", str(source), ok=False)
    assert r.returncode == 1, r.stderr
    assert "index.html" in r.stdout and "rebuild" in r.stdout
    tg(home, "site", "verify", "blog")  # the hosted snapshot is still fine

    tg(home, "stop-daemon")
    assert d.p is not None and d.p.wait(30) == 0


def test_follow_check_unfollow(daemons: list[DaemonProc]) -> None:
    home = site_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    r = tg(home, "site", "ls")
    assert r.stdout == "" and "no sites" in r.stderr

    address = SiteKey.generate().address  # a site nobody announces
    r = tg(home, "site", "follow", address.upper().removesuffix(".ONION"))
    assert r.stdout.strip() == address
    [listed] = sites(home)
    assert listed["address"] == address and listed["owner"] is False
    assert listed["height"] == -1 and listed["hosting"]["seq"] == -1
    assert "follower" in tg(home, "site", "ls").stdout
    assert "looking up" in tg(home, "site", "check", address).stderr
    r = tg(home, "site", "log", address, "--json")
    assert json.loads(r.stdout) == []
    r = tg(home, "site", "verify", address, "--json")
    assert json.loads(r.stdout)["snapshot"] == -1

    # an owned site cannot be deleted this way (its key would go with it)
    tg(home, "site", "new", "mine")
    assert "owned here" in tg(home, "site", "check", "mine").stderr
    r = tg(home, "site", "unfollow", "mine", "--delete-data", ok=False)
    assert r.returncode == 1 and "mine" in r.stderr and "owned" in r.stderr

    tg(home, "site", "unfollow", address, "--delete-data")
    assert [s["name"] for s in sites(home)] == ["mine"]
    deadline = time.monotonic() + 10
    while (home / "data" / "sites" / address).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (home / "data" / "sites" / address).exists()


def test_site_errors_name_what_is_wrong(daemons: list[DaemonProc]) -> None:
    home = site_home()
    d = DaemonProc(home).start()
    daemons.append(d)

    r = tg(home, "site", "publish", "nosuchsite", ok=False)
    assert r.returncode == 1 and "nosuchsite" in r.stderr and "no such site" in r.stderr
    assert r.stdout == ""

    r = tg(home, "site", "follow", "notanaddress.onion", ok=False)
    assert r.returncode == 1 and "notanaddress.onion" in r.stderr
    assert "not a site address" in r.stderr

    bad = "a" * 56 + ".onion"  # the right shape, a wrong checksum
    r = tg(home, "site", "follow", bad, ok=False)
    assert r.returncode == 1 and bad in r.stderr

    for cmd in ("log", "verify", "check", "unfollow"):
        r = tg(home, "site", cmd, "ghost", ok=False)
        assert r.returncode == 1 and "ghost" in r.stderr, (cmd, r.stderr)

    r = tg(home, "site", "new", "blog", str(home / "missing"), ok=False)
    assert r.returncode == 1 and "missing" in r.stderr
    assert sites(home) == []

    r = tg(home, "site", ok=False)
    assert r.returncode == 2 and "SUBCOMMAND" in r.stderr


def test_url_proxy_and_stream_commands(daemons: list[DaemonProc]) -> None:
    """The daemon's Smart Proxy serves the published site at the URL `site url` prints,
    and `tidegate stream` prints URLs that serve a torrent's files."""
    import http.client
    from urllib.parse import urlsplit

    home = site_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    source = write_site(home / "src", SITE)
    address = tg(home, "site", "new", "blog", str(source)).stdout.strip()
    tg(home, "site", "publish", "blog")
    wait_site(home, address, lambda s: s["hosting"]["seq"] == 1)

    url = tg(home, "site", "url", "blog").stdout.strip()
    parts = urlsplit(url)
    assert parts.hostname == address.removesuffix(".onion") + ".localhost"
    assert tg(home, "site", "url", address, "--onion").stdout.strip() == f"http://{address}/"
    from tidegate.engine.chain.address import key_of_address  # BEP 46: the key, no salt
    magnet = tg(home, "site", "url", "blog", "--magnet").stdout.strip()
    assert magnet == f"magnet:?xs=urn:btpk:{key_of_address(address).hex()}"
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=10)
    conn.request("GET", "/css/site.css", headers={"Host": parts.netloc})
    r = conn.getresponse()
    assert r.status == 200 and r.read() == SITE["css/site.css"]
    assert r.getheader("Tidegate-Height") == "1"
    conn.close()

    deadline = time.monotonic() + 10  # counters are published once a second
    while (status := json.loads(tg(home, "proxy", "--json").stdout))["served"] < 1 and \
            time.monotonic() < deadline:
        time.sleep(0.3)
    assert status["port"] == parts.port and status["served"] >= 1
    assert "proxy.pac" in tg(home, "proxy").stdout

    # any torrent: the snapshot's own, through /torrent/<id>/<path>
    assert json.loads(tg(home, "ls", "--json").stdout) == [], "site torrents are hidden"
    listed = json.loads(tg(home, "ls", "--json", "--all").stdout)
    snap = next(t for t in listed if t["name"] == "site")
    lines = tg(home, "stream", snap["id"][:10], "*.css").stdout.split()
    assert len(lines) == 1 and lines[0].endswith("/site/css/site.css")
    stream = urlsplit(lines[0])
    conn = http.client.HTTPConnection("127.0.0.1", stream.port, timeout=10)
    conn.request("GET", stream.path, headers={"Host": stream.netloc, "Range": "bytes=10-19"})
    r = conn.getresponse()
    assert r.status == 206 and r.read() == SITE["css/site.css"][10:20]
    conn.close()

    r = tg(home, "site", "url", "nosuchsite", ok=False)
    assert r.returncode == 1 and "nosuchsite" in r.stderr
    r = tg(home, "stream", snap["id"][:10], "*.nothing", ok=False)
    assert r.returncode == 1 and "*.nothing" in r.stderr
    tg(home, "stop-daemon")
    assert d.p is not None and d.p.wait(30) == 0


def test_site_torrents_are_hidden_labelled_and_kept_from_rm(daemons: list[DaemonProc]) -> None:
    """The snapshot and chain torrents a site needs are not the user's: `ls` hides them
    (`--all` labels them with their site), `rm` and the API's remove refuse them naming
    the site unless forced, and the marks survive a restart."""
    from tidegate.engine.errors import SiteTorrentError

    home = site_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    source = write_site(home / "src", SITE)
    address = tg(home, "site", "new", "blog", str(source)).stdout.strip()
    tg(home, "site", "publish", "blog")
    wait_site(home, address, lambda s: s["hosting"]["seq"] == 1)

    r = tg(home, "ls", "--json")
    assert json.loads(r.stdout) == []
    r = tg(home, "ls")
    assert r.stdout == "" and "--all" in r.stderr, r.stderr
    every = json.loads(tg(home, "ls", "--json", "--all").stdout)
    assert every and all(t["site"] == address for t in every), every
    roles = {t["site_role"] for t in every}
    assert {"chain", "snapshot 1"} <= roles, roles
    snap = next(t for t in every if t["site_role"] == "snapshot 1")
    table = tg(home, "ls", "--all").stdout
    line = next(x for x in table.splitlines() if x.split()[:1] == [str(snap["number"])])
    assert "[site blog snapshot 1]" in line, table

    r = tg(home, "rm", str(snap["number"]), ok=False)
    assert r.returncode == 1, r.stderr
    text = " ".join(r.stderr.split())  # the panel wraps long lines
    assert "blog" in text and "tidegate site unfollow" in text and "--force" in text, text
    r = tg(home, "rm", str(snap["number"]), "--delete-data", ok=False)
    assert r.returncode == 1
    assert len(json.loads(tg(home, "ls", "--json", "--all").stdout)) == len(every)

    client = d.client()
    try:  # the API refuses too, with the site named in the error
        try:
            client.run(cmds.Remove(snap["id"])).result(10)
        except SiteTorrentError as exc:
            assert exc.site == address and exc.torrent_id == snap["id"]
            assert "blog" in str(exc)
        else:
            raise AssertionError("the API removed a site's snapshot without force")
        assert snap["id"] in client.snapshot.torrents
    finally:
        client.stop()

    tg(home, "stop-daemon")
    assert d.p is not None and d.p.wait(10) == 0
    d2 = DaemonProc(home).start()
    daemons.append(d2)
    assert json.loads(tg(home, "ls", "--json").stdout) == [], "the marks are kept on disk"
    again = json.loads(tg(home, "ls", "--json", "--all").stdout)
    assert {(t["id"], t["site_role"]) for t in again} >= {(snap["id"], "snapshot 1")}

    chain = next(t for t in again if t["site_role"] == "chain")
    r = tg(home, "rm", str(chain["number"]), "--force")
    assert "removed" in r.stderr
