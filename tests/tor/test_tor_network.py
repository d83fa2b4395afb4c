"""End to end on a private Tor network on 127.0.0.1 (tests/helpers/tornet.py): tidegate publishes
a site as an onion service on its managed tor, joined to that network; a plain tor client,
with no tidegate, fetches the site through its SOCKS port by onion address and gets the
exact bytes."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers.sites_util import onion_owner, write_site
from tests.helpers.tornet import TorNet, pid_alive
from tests.tor.test_tornet import socks5_http_get

BIG = os.urandom(600_000)  # several pieces: verified piece by piece on the way out
FILES = {"index.html": b"<!doctype html><h1>over tor</h1>\n", "media/big.bin": BIG}
BOOTSTRAP = 300.0
UPLOAD = 300.0
FETCH = 300.0


@pytest.mark.slow
def test_a_tor_client_fetches_the_site_by_its_onion_address(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="tgnet-"))
    net = TorNet(root / "net")
    engine = None
    pids: list[int] = []
    try:
        net.start()
        client = net.start_client("client")
        pids += net.pids + [client.pid]
        net.wait_bootstrapped(BOOTSTRAP)
        source = write_site(tmp_path / "src", FILES)
        engine, address = onion_owner(net, tmp_path / "owner", source, UPLOAD)
        tor = engine.snapshot.tor
        assert tor.pid and tor.onions[address].descriptors >= 1
        pids.append(tor.pid)

        errors: list[str] = []
        deadline = time.monotonic() + FETCH
        ctl = net.controller("client")
        got: dict[str, bytes] = {}
        for path, data in (("/", FILES["index.html"]), ("/media/big.bin", BIG)):
            while path not in got:
                try:
                    got[path] = socks5_http_get(client.socks_port, address, path, 60.0)
                except OSError as exc:
                    errors.append(f"{path}: {exc!r}")
                    if time.monotonic() > deadline:
                        raise AssertionError("\n".join(errors) + net.log_tails()) from exc
                    with contextlib.suppress(Exception):
                        ctl.signal("NEWNYM")
                    time.sleep(2.0)
            assert got[path] == data, path
        engine.stop()
        assert not pid_alive(tor.pid)  # tidegate's tor ended with it
    finally:
        if engine is not None and engine.running:
            engine.stop()
        net.stop()
        with contextlib.suppress(OSError):
            import shutil
            shutil.rmtree(root)
    assert [p for p in pids if pid_alive(p)] == []
