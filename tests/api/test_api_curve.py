"""tcp endpoints: CURVE only, clients admitted by public key, keys stored privately."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import msgspec
import pytest
import zmq

from tests.conftest import EngineFactory
from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.engine.api import RemoteEngine
from tidegate.engine.api import protocol as p
from tidegate.engine.api.keys import load_or_create
from tidegate.engine.api.server import ApiServer
from tidegate.engine.errors import ConfigError, DaemonUnavailableError

TCP_ANY = "tcp://127.0.0.1:*"


def _daemon_allowing(keys: list[str], daemons: list[DaemonProc]) -> DaemonProc:
    home = short_home(f"\n[api]\nauthorized_keys = {json.dumps(keys)}\n")
    d = DaemonProc(home, "--endpoint", TCP_ANY).start()
    daemons.append(d)
    assert d.endpoint.startswith("tcp://127.0.0.1:")
    assert d.info["publish"].startswith("tcp://127.0.0.1:")
    return d


def test_a_known_key_works_and_an_unknown_key_is_refused(tmp_path: Path,
                                                         daemons: list[DaemonProc]) -> None:
    good = load_or_create(tmp_path / "good", "client")
    bad = load_or_create(tmp_path / "bad", "client")
    d = _daemon_allowing([good.public], daemons)
    server_key = d.info["server_key"]

    with RemoteEngine(d.endpoint, client_keys=good, server_key=server_key).start(10) as c:
        tid = c.run(cmds.Add(AddRequest(uri="magnet:?xt=urn:btih:" + "cd" * 20, source="m",
                               paused=True))).result(10)
        # the snapshot came through the CURVE-protected PUB socket
        c.wait_for(lambda s: tid in s.torrents, 10)

    with pytest.raises(DaemonUnavailableError, match="refused this client.s CURVE key"):
        RemoteEngine(d.endpoint, client_keys=bad, server_key=server_key).start(3)

    # a client that trusts another server key never talks to this daemon
    impostor = load_or_create(tmp_path / "impostor", "server")
    with pytest.raises(DaemonUnavailableError):
        RemoteEngine(d.endpoint, client_keys=good, server_key=impostor.public).start(3)

    # the refused clients did not disturb the daemon
    with RemoteEngine(d.endpoint, client_keys=good, server_key=server_key).start(10) as c:
        assert tid in c.snapshot.torrents


def test_plain_tcp_gets_nothing(daemons: list[DaemonProc], tmp_path: Path) -> None:
    good = load_or_create(tmp_path / "good", "client")
    d = _daemon_allowing([good.public], daemons)
    ctx = zmq.Context.instance()
    dealer = ctx.socket(zmq.DEALER)
    sub = ctx.socket(zmq.SUB)
    try:
        dealer.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.LINGER, 0)
        dealer.connect(d.endpoint)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(d.info["publish"])
        dealer.send_multipart(p.encode_request(1, "hello", {}))
        assert dealer.poll(1500) == 0, "an unauthenticated client got a reply"
        assert sub.poll(1500) == 0, "an unauthenticated subscriber got a publication"
    finally:
        dealer.close(0)
        sub.close(0)


def test_tcp_is_never_bound_without_curve(make_engine: EngineFactory) -> None:
    engine = make_engine("e")
    server = ApiServer(engine, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", keys=None)
    with pytest.raises(ConfigError, match="CURVE"):
        server.start()


def test_key_files_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    pair = load_or_create(folder, "server")
    secret = folder / "server.key_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert pair.secret in secret.read_text()
    assert pair.secret not in (folder / "server.key").read_text()
    assert load_or_create(folder, "server") == pair, "the key is stable across loads"
    secret.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        load_or_create(folder, "server")


def test_cli_over_tcp_with_the_clients_own_key(daemons: list[DaemonProc]) -> None:
    client_home = short_home()
    shown = subprocess.run(TIDEGATE + ["daemon", "--show-keys"], env=env_for(client_home),
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    keys = dict(line.split() for line in shown.stdout.splitlines())
    d = _daemon_allowing([keys["client"]], daemons)
    connect = ["--connect", d.endpoint, "--server-key", d.info["server_key"]]
    env = env_for(client_home)
    add = subprocess.run(TIDEGATE + ["add", "magnet:?xt=urn:btih:" + "ef" * 20, "--paused",
                                     "--json", *connect], env=env, capture_output=True,
                         text=True, timeout=30)
    assert add.returncode == 0, add.stderr
    assert json.loads(add.stdout)[0]["id"] == "ef" * 20
    ls = subprocess.run(TIDEGATE + ["ls", "--json", *connect], env=env, capture_output=True,
                        text=True, timeout=30)
    assert ls.returncode == 0, ls.stderr
    listed = msgspec.json.decode(ls.stdout)
    assert [t["id"] for t in listed] == ["ef" * 20]
    # without the server key the client cannot dial tcp at all
    no_key = subprocess.run(TIDEGATE + ["ls", "--connect", d.endpoint], env=env,
                            capture_output=True, text=True, timeout=30)
    assert no_key.returncode == 1
    assert "CURVE" in no_key.stderr
