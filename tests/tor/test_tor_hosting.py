"""Sites as onion services, with a real engine and a real managed tor (DisableNetwork 1:
services are made, not uploaded; tests/tor/test_tor_network.py carries bytes end to end)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import libtorrent as lt
import pytest

from tests.helpers.sites_util import site_engine, wait_site, write_site
from tests.helpers.tornet import pid_alive
from tidegate.engine import Engine
from tidegate.engine.errors import SiteError
from tidegate.engine.state import TorState
from tidegate.engine.tor.control import TorControl

FILES = {"index.html": b"<h1>onion</h1>\n", "a.txt": b"alpha\n"}
TOR = {"mode": "tor-hosting", "disable_network": True, "timeout": 20.0}


def gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_tor(engine: Engine, ok: Callable[[TorState], bool], timeout: float = 30) -> TorState:
    return engine.wait_for(lambda s: ok(s.tor), timeout).tor


def onion_state(address: str, want: str) -> Callable[[TorState], bool]:
    def ok(t: TorState) -> bool:
        o = t.onions.get(address)
        return o is not None and o.state == want
    return ok


def tor_onions(engine: Engine) -> list[str]:
    """What the managed tor itself says it runs (a control connection of our own)."""
    sock = engine.loaded.paths.data_dir / "tor" / "control"
    with TorControl(socket=sock, timeout=10) as control:
        return control.detached_onions()


def over_unix(path: Path, target: str) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    return raw


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    engine = site_engine(tmp_path / "h", tor=TOR).start()
    try:
        source = write_site(tmp_path / "src", FILES)
        address = engine.site_new("blog", str(source)).result(30).address
        engine.site_publish("blog").result(60)
        wait_site(engine, address, lambda s: s.hosting.seq == 1, 30)
        yield engine, address
    finally:
        if engine.running:
            engine.stop()


def test_onion_service_has_the_site_address_and_serves_the_site(
        owner: tuple[Engine, str]) -> None:
    engine, address = owner
    assert engine.snapshot.tor.mode == "tor-hosting"
    assert not engine.snapshot.tor.onions  # nothing wanted: tor not even started
    reply = engine.site_onion("blog", True).result(10)
    assert reply.site.onion and reply.auth_line == ""
    tor = wait_tor(engine, onion_state(address, "published"))
    assert tor.connected and tor.pid > 0 and tor.version.startswith("0.")
    assert tor_onions(engine) == [address]  # ADD_ONION with the site key: the same address
    # tor's target: the proxy's listener for this site alone
    sockets = list((engine.loaded.paths.runtime_dir / "onion").glob("*.sock"))
    assert len(sockets) == 1 and oct(sockets[0].stat().st_mode & 0o777) == "0o600"
    raw = over_unix(sockets[0], "/a.txt")
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(FILES["a.txt"])
    assert b"Tidegate-Height: 1" in raw

    # tor killed: tidegate starts another, and the service is back with the same address
    pid = tor.pid
    os.kill(pid, signal.SIGKILL)
    assert gone(pid)
    tor = wait_tor(engine, lambda t: t.pid not in (0, pid) and
                   onion_state(address, "published")(t), 60)
    assert tor_onions(engine) == [address]

    # switched off: tor no longer runs it, and the target is closed
    engine.site_onion(address, False).result(10)
    wait_tor(engine, onion_state(address, "removed"))
    assert tor_onions(engine) == []
    assert not list((engine.loaded.paths.runtime_dir / "onion").glob("*.sock"))

    pid = engine.snapshot.tor.pid
    engine.stop()
    assert gone(pid)  # no tor left behind


def test_the_choice_and_client_keys_survive_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "h"
    engine = site_engine(home, tor=TOR).start()
    pids = []
    try:
        source = write_site(tmp_path / "src", FILES)
        address = engine.site_new("blog", str(source)).result(30).address
        reply = engine.site_onion("blog", True, add_client="alice").result(10)
        line = reply.auth_line
        label, kind, algo, private = line.split(":")
        assert label == address.removesuffix(".onion") and (kind, algo) == ("descriptor",
                                                                           "x25519")
        assert len(private) == 52 and reply.site.onion_clients == ("alice",)
        bob_key = "A" * 52
        engine.site_onion("blog", add_client="bob", client_key=bob_key).result(10)
        tor = wait_tor(engine, onion_state(address, "published"))
        assert tor.onions[address].clients == 2
        with pytest.raises(SiteError, match="exists"):
            engine.site_onion("blog", add_client="bob").result(10)
        with pytest.raises(SiteError, match="no onion client named 'carol'"):
            engine.site_onion("blog", remove_client="carol").result(10)
        with pytest.raises(SiteError, match="client key"):
            engine.site_onion("blog", add_client="eve", client_key="not-a-key").result(10)
        engine.site_onion("blog", remove_client="bob").result(10)
        wait_tor(engine, lambda t: t.onions[address].clients == 1)
        pids.append(engine.snapshot.tor.pid)
    finally:
        engine.stop()
    engine = site_engine(home, tor=TOR).start()
    try:
        tor = wait_tor(engine, onion_state(address, "published"))
        assert tor.onions[address].clients == 1
        assert engine.snapshot.sites[address].onion_clients == ("alice",)
        assert tor_onions(engine) == [address]
        pids.append(tor.pid)
    finally:
        engine.stop()
    assert all(gone(p) for p in pids)


def test_config_names_sites_and_clearnet_refuses(tmp_path: Path) -> None:
    engine = site_engine(tmp_path / "c").start()  # clearnet, the default
    try:
        engine.site_new("plain", str(write_site(tmp_path / "src", FILES))).result(30)
        with pytest.raises(SiteError, match='mode = "tor-hosting"'):
            engine.site_onion("plain", True).result(10)
        assert engine.tor is None and engine.snapshot.tor.mode == "clearnet"
    finally:
        engine.stop()
    # the same site named in tor.onion_sites is published without a command
    engine = site_engine(tmp_path / "c", tor={**TOR, "onion_sites": ["plain"]}).start()
    try:
        address = next(iter(engine.wait_for(lambda s: bool(s.sites), 10).sites))
        wait_tor(engine, onion_state(address, "published"))
        assert not engine.snapshot.sites[address].onion  # from the config, not switched on
    finally:
        engine.stop()


def test_a_follower_cannot_publish_and_a_missing_tor_is_explained(tmp_path: Path) -> None:
    engine = site_engine(tmp_path / "m", tor={**TOR, "binary": str(tmp_path / "no-tor")}
                         ).start()
    try:
        engine.site_new("blog", str(write_site(tmp_path / "src", FILES))).result(30)
        engine.site_onion("blog", True).result(10)
        tor = wait_tor(engine, lambda t: "apt-get install tor" in t.error)
        assert not tor.connected and str(tmp_path / "no-tor") in tor.error
    finally:
        engine.stop()



def test_a_tor_the_user_runs_over_its_control_socket_and_its_restart(tmp_path: Path) -> None:
    """tor.control = unix:<socket> (cookie): tidegate starts no tor of its own, adds the
    service to the user's tor, and adds it again after that tor restarts."""
    from tidegate.engine.tor.launch import ManagedTor

    user_dir = Path(tempfile.mkdtemp(prefix="tg-usertor-"))  # short: a unix socket path
    user = ManagedTor(user_dir / "tor", disable_network=True).start()
    engine = None
    try:
        assert user.control_socket is not None
        tor_cfg = {**TOR, "control": f"unix:{user.control_socket}"}
        engine = site_engine(tmp_path / "u", tor=tor_cfg).start()
        engine.site_new("blog", str(write_site(tmp_path / "src", FILES))).result(30)
        address = engine.site_onion("blog", True).result(10).site.address
        tor = wait_tor(engine, onion_state(address, "published"))
        assert tor.pid == 0 and tor.control == f"unix:{user.control_socket}"
        # its target is a 127.0.0.1 port (a system tor runs as another user), no socket
        assert not list((engine.loaded.paths.runtime_dir / "onion").glob("*.sock"))
        with user.connect() as control:
            assert control.detached_onions() == [address]
        user.stop()
        wait_tor(engine, lambda t: not t.connected)
        user = ManagedTor(user_dir / "tor", disable_network=True).start()
        wait_tor(engine, lambda t: t.connected and onion_state(address, "published")(t), 60)
        with user.connect() as control:
            assert control.detached_onions() == [address]
        engine.stop()  # removes its service from the user's tor, which keeps running
        with user.connect() as control:
            assert control.detached_onions() == []
        assert user.running
    finally:
        if engine is not None and engine.running:
            engine.stop()
        user.stop()
        shutil.rmtree(user_dir, ignore_errors=True)


def test_a_password_tor_and_a_wrong_password(tmp_path: Path) -> None:
    from tidegate.engine.tor.launch import ManagedTor

    # a data folder too deep for a unix socket: this tor takes its control port
    user_dir = tmp_path / ("deep" * 30)
    user = ManagedTor(user_dir / "tor", disable_network=True, control_password="s3cret"
                      ).start()
    try:
        port = user.control_port
        assert port is not None and user.control_socket is None
        for password, ok in (("s3cret", True), ("wrong", False)):
            tor_cfg = {**TOR, "control": f"127.0.0.1:{port}", "password": password}
            engine = site_engine(tmp_path / password, tor=tor_cfg).start()
            try:
                engine.site_new("blog", str(write_site(tmp_path / "src", FILES))).result(30)
                address = engine.site_onion("blog", True).result(10).site.address
                if ok:
                    wait_tor(engine, onion_state(address, "published"))
                else:
                    tor = wait_tor(engine, lambda t: bool(t.error))
                    assert f"127.0.0.1:{port}" in tor.error and not tor.connected
                    assert "password" in tor.error.lower()
            finally:
                engine.stop()
    finally:
        user.stop()
        shutil.rmtree(user_dir, ignore_errors=True)


def test_tor_all_sends_everything_through_the_socks_port(tmp_path: Path) -> None:
    """libtorrent's own view of the session in tor-all mode."""
    engine = site_engine(tmp_path / "all", tor={"mode": "tor-all", "socks": "127.0.0.1:9999",
                                                "disable_network": True}).start()
    try:
        s = engine.session_settings().result(10)
        assert (s["proxy_hostname"], s["proxy_port"]) == ("127.0.0.1", 9999)
        assert s["proxy_type"] == int(lt.proxy_type_t.socks5)
        assert s["proxy_peer_connections"] and s["proxy_tracker_connections"]
        assert s["proxy_hostnames"] and s["anonymous_mode"]
        for off in ("enable_dht", "enable_lsd", "enable_upnp", "enable_natpmp",
                    "enable_outgoing_utp", "enable_incoming_utp"):
            assert s[off] is False, off
        assert s["listen_interfaces"] == "127.0.0.1:0"
        tor = wait_tor(engine, lambda t: t.connected)  # a managed tor from the start
        assert tor.socks == "127.0.0.1:9999" and tor.pid > 0
    finally:
        engine.stop()
