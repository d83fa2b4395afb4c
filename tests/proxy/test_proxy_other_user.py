"""Another local user against the Smart Proxy of a real daemon: a real second Unix user
(useradd, removed at the end) runs curl with setpriv. Without the owner's token it reads
no torrent's file and makes the node follow no site; the owner's URLs work."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.engine.chain.keys import SiteKey


@pytest.fixture
def other_user() -> Iterator[tuple[int, int]]:
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.fail("needs root and useradd: the test creates a real second user",
                    pytrace=False)
    name = f"tgother{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True, timeout=30)
    try:
        out = subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True)
        gid = subprocess.run(["id", "-g", name], capture_output=True, text=True, check=True)
        yield int(out.stdout), int(gid.stdout)
    finally:
        subprocess.run(["userdel", name], timeout=30, check=False)


def as_user(user: tuple[int, int], *cmd: str) -> subprocess.CompletedProcess[str]:
    uid, gid = user
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                           "--", *cmd], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/"}, cwd="/")


def curl(user: tuple[int, int] | None, url: str, *headers: str) -> int:
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", url]
    for h in headers:
        args += ["-H", h]
    r = as_user(user, *args) if user else subprocess.run(args, capture_output=True,
                                                         text=True, timeout=30)
    return int(r.stdout or 0)


def test_another_user_needs_the_token(tmp_path: Path, other_user: tuple[int, int],
                                      daemons: list[DaemonProc]) -> None:
    payload = make_payload(tmp_path, sizes=(200_000,))
    created = make_torrent(payload)
    d = DaemonProc(short_home())
    daemons.append(d.start())
    client = d.client()
    try:
        tid = client.run(cmds.Add(AddRequest(torrent=created.data,
                                    save_path=created.save_path))).result(10)
        web = client.wait_for(lambda s: s.web.port > 0 and tid in s.torrents and
                              s.torrents[tid].phase == "seeding", 30).web
        port, token = web.port, getattr(web, "token", "")
        loop = f"http://127.0.0.1:{port}"
        address = SiteKey.generate().address
        label = address.removesuffix(".onion")
        token_file = d.home / "data" / "proxy.token"

        # the other user: no file, no follow, whatever it tries
        for path in (f"/torrent/{tid}/payload/file0.bin", f"/torrent/{tid}/",
                     f"/torrent/{'A' * 43}/{tid}/payload/file0.bin",
                     f"/torrent/{token[:-1]}/{tid}/payload/file0.bin",
                     f"/visit/{'A' * 43}/{address}/", f"/visit//{address}/"):
            assert curl(other_user, loop + path) == 403, path
        site = f"http://{label}.localhost:{port}/"
        for extra in ((), ("Sec-Fetch-Site: none", "Sec-Fetch-Mode: navigate",
                           "Sec-Fetch-Dest: document", "Sec-Fetch-User: ?1")):
            assert curl(other_user, f"{loop}/", f"Host: {label}.localhost:{port}",
                        *extra) == 403, extra
            assert curl(other_user, site, *extra) == 403, extra

        assert token_file.read_text().strip() == token
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert as_user(other_user, "cat", str(token_file)).returncode != 0

        # the owner's URL (as `tidegate stream` prints it) works
        stream = subprocess.run(TIDEGATE + ["stream", tid[:10]], env=env_for(d.home),
                                capture_output=True, text=True, timeout=60)
        assert stream.returncode == 0, stream.stderr
        (url,) = stream.stdout.split()
        assert f"/torrent/{token}/{tid}/" in url
        assert curl(None, url) == 200
        data = subprocess.run(["curl", "-s", "--max-time", "20", url], capture_output=True,
                              timeout=30).stdout
        assert data == (payload / "file0.bin").read_bytes()
        # the token is the only key: the same URL works for whoever has it
        assert curl(other_user, url) == 200
        assert address not in client.snapshot.sites
    finally:
        client.stop()
    assert d.stop(timeout=30) == 0
