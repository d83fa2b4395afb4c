"""Security defaults, checked on a real daemon.

Already covered elsewhere, not repeated here: ipc API sockets 0600 in a 0700 folder
(test_daemon.py), tcp never bound or dialled without CURVE and unknown keys refused
(test_api_curve.py), CURVE and site key files 0600 (test_api_curve.py, test_chain.py,
test_sites_lifecycle.py), the proxy's Host allow-list (test_proxy_units.py,
test_proxy.py), the onion target socket 0600 (test_proxy.py), hostile paths in torrents
kept inside the download folder (test_hostile_inputs.py).

Here: a daemon with a tcp API under CURVE, a published site, and a password tor of the
user's own is driven by the CLI over tcp; then

* every socket it listens on is on loopback, except libtorrent's peer port;
* every file it wrote is inside TIDEGATE_HOME or the download folder (HOME and the XDG
  folders point at empty folders that must stay empty), none is readable or writable by
  others where it holds anything private, and every key file is 0600;
* no secret (the CURVE secret keys, the site key's seed and its tor form, the tor control
  password) appears in any file but its own key file or the config, in the daemon's and
  the CLI's output, or in any event the daemon published, in any spelling (raw, hex,
  base32, base64, z85), nor does a wrong password an engine tried.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq.utils.z85

from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for
from tests.helpers.sites_util import site_engine
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.engine.chain import SiteKey
from tidegate.engine.config import from_dict
from tidegate.engine.errors import ConfigError
from tidegate.engine.events import Event
from tidegate.engine.tor.keys import onion_key_blob

from ..conftest import LOOPBACK_TOML, make_payload, make_torrent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PASSWORD = "correct horse battery staple 7f3a"


@pytest.mark.parametrize("listen", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "localhost",
                                    "", "127.0.0.1 ", "0"])
def test_the_proxy_refuses_to_listen_off_loopback(listen: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict({"web": {"listen": listen}})
    assert caught.value.key == "web.listen"


@pytest.mark.parametrize("listen", ["127.0.0.1", "::1", "127.0.0.2"])
def test_the_proxy_listens_on_any_loopback_address(listen: str) -> None:
    assert from_dict({"web": {"listen": listen}}).web.listen == listen


def free_port() -> int:
    """A free port below the kernel's ephemeral range: a port the kernel hands out (bind to
    0) can be taken by any outgoing connection before the daemon binds it (seen in CI:
    "Address already in use")."""
    from tests.helpers.tornet import PortAllocator

    return PortAllocator().take()


def listening(pid: int) -> list[tuple[str, int]]:
    """``(address, port)`` of every TCP socket ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] != "0A" or parts[9] not in inodes:  # 0A: LISTEN
                continue
            hex_addr, hex_port = parts[1].split(":")
            raw = bytes.fromhex(hex_addr)
            if width == 8:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                addr = socket.inet_ntop(socket.AF_INET6, words)
            out.append((addr, int(hex_port, 16)))
    return out


def spellings(secret: bytes) -> list[bytes]:
    """The ways a secret could be written down."""
    forms = [secret, secret.hex().encode(), secret.hex().upper().encode(),
             base64.b64encode(secret).rstrip(b"="), base64.urlsafe_b64encode(secret).rstrip(b"="),
             base64.b32encode(secret).rstrip(b"="), base64.b32encode(secret).rstrip(b"=").lower()]
    if len(secret) % 4 == 0:
        forms.append(zmq.utils.z85.encode(secret))
    return forms


@pytest.fixture
def world() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="tgsec", dir="/tmp"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_daemon_keeps_its_secrets_its_sockets_and_its_files_to_itself(world: Path) -> None:
    from tidegate.engine.tor.launch import ManagedTor

    home, dl, src, fake_home = world / "tg", world / "dl", world / "src", world / "home"
    for folder in (home, dl, fake_home, *(world / "xdg" / x for x in ("config", "data", "cache",
                                                                      "state", "run"))):
        folder.mkdir(parents=True)
    (world / "xdg" / "run").chmod(0o700)
    user_tor = ManagedTor(world / "usertor", disable_network=True, control_password=PASSWORD
                          ).start()
    control = (f"127.0.0.1:{user_tor.control_port}" if user_tor.control_port
               else f"unix:{user_tor.control_socket}")
    api_port = free_port()
    link_port = free_port()
    outputs: list[str] = []
    events: list[Event] = []
    env = dict(env_for(home), HOME=str(fake_home), XDG_CONFIG_HOME=str(world / "xdg/config"),
               XDG_DATA_HOME=str(world / "xdg/data"), XDG_CACHE_HOME=str(world / "xdg/cache"),
               XDG_STATE_HOME=str(world / "xdg/state"), XDG_RUNTIME_DIR=str(world / "xdg/run"))

    def tg(*args: str) -> str:
        r = subprocess.run(TIDEGATE + list(args), env=env, capture_output=True, text=True,
                           timeout=60)
        outputs.extend([r.stdout, r.stderr])
        assert r.returncode == 0, f"tidegate {' '.join(args)}: {r.stderr}"
        return r.stdout

    d: DaemonProc | None = None
    try:
        keys = dict(line.split() for line in tg("daemon", "--show-keys").splitlines())
        (home / "config.toml").write_text(
            LOOPBACK_TOML.replace('listen_interfaces = "127.0.0.1:0"',
                                  'listen_interfaces = "0.0.0.0:0"')
            + f'\n[storage]\ndownload_dir = "{dl}"\n'
            + f'\n[api]\nendpoint = "tcp://127.0.0.1:{api_port}"\n'
            + f'authorized_keys = ["{keys["client"]}"]\n'
            + f'\n[sites]\nlink_port = {link_port}\n'
            + '\n[tor]\nmode = "tor-hosting"\n'
            + f'control = "{control}"\npassword = "{PASSWORD}"\n'
            + "timeout = 20.0\n")
        d = DaemonProc(home)
        d.p = subprocess.Popen(TIDEGATE + ["daemon", "--json"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        assert d.p.stdout is not None and d.p.stderr is not None
        line = d.p.stdout.readline()
        assert line, f"the daemon did not start: {d.p.stderr.read()}"
        d.info = json.loads(line)
        connect = ["--connect", f"tcp://127.0.0.1:{api_port}", "--server-key", keys["daemon"]]
        from tidegate.engine.api import RemoteEngine
        from tidegate.engine.api.keys import KeyPair
        secret_file = home / "data" / "keys" / "client.key_secret"
        client_secret = re.search(r'secret-key = "(.+)"', secret_file.read_text()).group(1)  # type: ignore[union-attr]
        client = RemoteEngine(f"tcp://127.0.0.1:{api_port}", server_key=keys["daemon"],
                              client_keys=KeyPair(keys["client"], client_secret)).start(10)
        stream = client.subscribe()
        try:
            # a site, published as an onion service on the user's tor; a torrent downloaded
            write_files(src)
            tg("site", "new", "blog", str(src), *connect)
            tg("site", "publish", "blog", "--onion", *connect)
            payload = make_payload(world / "seeded")
            created = make_torrent(payload)
            tid = client.run(cmds.Add(AddRequest(torrent=created.data, paused=True))).result(10)
            for args in (["ls", "--json"], ["show", tid[:8]], ["site", "ls", "--json"],
                         ["site", "log", "blog"], ["site", "url", "blog"], ["tor"], ["proxy"],
                         ["config"], ["stats"]):
                tg(*args, *(connect if args[0] != "config" else []))
            address = client.run(cmds.SiteList()).result(10)[0].address
            onion = client.wait_for(lambda s: getattr(s.tor.onions.get(address), "state", "")
                                    in ("published", "uploaded"), 30).tor.onions[address]
            assert onion.state in ("published", "uploaded")
            sockets = listening(d.pid)
            peer_port = client.snapshot.stats.listen_port
            while (ev := stream.get(0.2)) is not None:
                events.append(ev)
        finally:
            client.stop()
        tg("stop-daemon", *connect)
        out, err = d.p.communicate(timeout=40)
        outputs.extend([out, err])
        assert d.p.returncode == 0, err

        # every listening socket is on loopback but libtorrent's peer port and the sites'
        # link endpoint (docs/sites.md "How an update travels"; tor-hosting does not hide
        # the owner: docs/tor.md), both on the interface the peer port is configured on
        public = [(a, p) for a, p in sockets if not (a.startswith("127.") or a == "::1")]
        print(f"\nSECURITY listening: {sorted(sockets)}; libtorrent's peer port {peer_port}, "
              f"links {link_port}")
        assert public and {p for _, p in public} == {peer_port, link_port}, public
        assert all(a == "0.0.0.0" for a, p in public if p == link_port), public
        assert ("127.0.0.1", api_port) in sockets

        # files: only under TIDEGATE_HOME and the download folder; private ones private
        written = [p for p in world.rglob("*") if p.is_file() and not p.is_relative_to(src)
                   and not p.is_relative_to(world / "usertor")
                   and not p.is_relative_to(world / "seeded")]
        stray = [p for p in written if not (p.is_relative_to(home) or p.is_relative_to(dl))]
        assert stray == [], stray
        for p in written:
            mode = stat.S_IMODE(p.stat().st_mode)
            assert not mode & 0o022, f"{p} is writable by others ({mode:o})"
        key_files = [p for p in written if p.name.endswith(".key_secret") or p.name == "key"]
        assert len(key_files) >= 3, key_files  # server and client CURVE keys, the site key
        for p in key_files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
            assert not stat.S_IMODE(p.parent.stat().st_mode) & 0o077, p.parent

        # secrets: nowhere but their own files
        seed = SiteKey.load(next(p for p in key_files if p.name == "key")).seed
        secrets = {"site seed": seed, "onion key": base64.b64decode(onion_key_blob(seed)),
                   "tor password": PASSWORD.encode()}
        for p in key_files:
            if p.name.endswith(".key_secret"):
                z85 = re.search(rb'secret-key = "(.+)"', p.read_bytes()).group(1)  # type: ignore[union-attr]
                secrets[p.name] = zmq.utils.z85.decode(z85)
        holders = {p: p.read_bytes() for p in written if p not in key_files
                   and p != home / "config.toml"}
        texts = {"outputs": "\n".join(outputs).encode(),
                 "events": "\n".join(repr(e) for e in events).encode()}
        found = [(name, str(where)) for name, secret in secrets.items()
                 for form in spellings(secret)
                 for where, data in [*holders.items(), *texts.items()] if form in data]
        print(f"SECURITY files written: {len(written)} ({len(key_files)} key files, all 0600); "
              f"events seen: {len(events)}; secrets looked for: {sorted(secrets)} in "
              f"{len(holders)} files and all output: found {found}")
        assert found == []
        # ... and the search works: each is found where it belongs
        own = {"site seed": next(p for p in key_files if p.name == "key"),
               "tor password": home / "config.toml",
               **{p.name: p for p in key_files if p.name.endswith(".key_secret")}}
        for name, where in own.items():
            assert any(form in where.read_bytes() for form in spellings(secrets[name])), name
        for folder in (fake_home, *(world / "xdg" / x for x in ("config", "data", "cache",
                                                                 "state", "run"))):
            assert list(folder.rglob("*")) == [], folder

        # a wrong password (a typo of the real one is as secret) is refused, and not quoted
        wrong = PASSWORD + " typo"
        engine = site_engine(world / "wrong", tor={"mode": "tor-hosting", "control": control,
                                                   "password": wrong, "timeout": 20.0})
        engine.start()
        stream = engine.subscribe()
        try:
            engine.site_new("blog", str(src)).result(30)
            engine.site_onion("blog", True).result(10)
            tor = engine.wait_for(lambda s: bool(s.tor.error), 30).tor
            seen = []
            while (ev := stream.get(0.5)) is not None:
                seen.append(repr(ev))
        finally:
            engine.stop()
        assert "password" in tor.error.lower() and wrong not in tor.error, tor.error
        assert not any(wrong in e or PASSWORD in e for e in seen)
        assert not any(PASSWORD.encode() in p.read_bytes() for p in (world / "wrong").rglob("*")
                       if p.is_file() and p.name != "config.toml")
        print(f"SECURITY wrong tor password: {tor.error!r}")
    finally:
        if d is not None and d.p is not None and d.p.poll() is None:  # the test failed early
            d.p.kill()
            d.p.wait(10)
        user_tor.stop()


def write_files(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "index.html").write_bytes(b"<h1>secret-free</h1>\n")
    (folder / "notes.txt").write_bytes(os.urandom(40_000))
