"""``tidegate tor``, ``tidegate site onion`` and ``site publish --onion`` against a real
daemon whose managed tor runs offline (DisableNetwork 1)."""

from __future__ import annotations

import json
import os
import time

from tests.cli.test_cli_sites import site_home, tg
from tests.helpers.daemon_util import DaemonProc
from tests.helpers.sites_util import write_site

TOR_TOML = '\n[tor]\nmode = "tor-hosting"\ndisable_network = true\n'


def wait_onion(home: object, address: str, state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    tor: dict = {}
    while time.monotonic() < deadline:
        tor = json.loads(tg(home, "tor", "--json").stdout)  # type: ignore[arg-type]
        if tor["onions"].get(address, {}).get("state") == state:
            return tor
        time.sleep(0.3)
    raise AssertionError(f"onion {address} never {state}: {tor}")


def test_onion_commands(daemons: list[DaemonProc]) -> None:
    home = site_home()
    with (home / "config.toml").open("a") as f:
        f.write(TOR_TOML)
    d = DaemonProc(home).start()
    daemons.append(d)
    source = write_site(home / "src", {"index.html": b"<h1>hi</h1>\n"})
    address = tg(home, "site", "new", "blog", str(source)).stdout.strip()

    r = tg(home, "tor")
    assert "tor-hosting" in r.stdout and "site onion NAME on" in r.stderr

    r = tg(home, "site", "publish", "blog", "--onion")
    assert f"http://{address}/" in r.stderr
    tor = wait_onion(home, address, "published")
    assert tor["connected"] and tor["pid"] > 0
    r = tg(home, "tor")
    assert f"blog http://{address}/ published" in r.stdout, r.stdout
    assert "managed by tidegate, connected" in r.stdout

    r = tg(home, "site", "onion", "blog", "--add-client", "alice")
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith(address.removesuffix(".onion") + ":descriptor:x25519:")
    assert "alice" in r.stdout and "shown only now" in r.stderr
    r = tg(home, "site", "onion", "blog", "--add-client", "alice", ok=False)
    assert r.returncode == 1 and "exists" in r.stderr
    r = tg(home, "site", "onion", "nosuch", "on", ok=False)
    assert r.returncode == 1 and "nosuch" in r.stderr

    tg(home, "site", "onion", "blog", "off")
    wait_onion(home, address, "removed")
    pid = tor["pid"]
    assert d.stop() == 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"tor {pid} outlived the daemon")


def test_clearnet_daemon_explains(daemons: list[DaemonProc]) -> None:
    home = site_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    tg(home, "site", "new", "blog", str(write_site(home / "src", {"a": b"a"})))
    r = tg(home, "site", "publish", "blog", "--onion", ok=False)
    assert r.returncode == 1 and 'mode = "tor-hosting"' in r.stderr
    assert "clearnet: tor is not used" in tg(home, "tor").stdout
