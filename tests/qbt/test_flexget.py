"""End to end with a real tool written for qBittorrent: FlexGet (PyPI) adds a download to
tidegate through its ``qbittorrent`` output plugin (login, ``torrents/info?hashes=`` to
see whether it is there, ``torrents/add``), and tracks it with its ``from_qbittorrent``
input, which reads ``torrents/info`` and ``torrents/files`` through the qbittorrent-api
client library and keeps only complete torrents (``completed: yes``, from the state
string). The data comes from a tidegate engine seeding on 127.0.0.1, named in the magnet
(``x.pe``).

FlexGet lives in a virtualenv of its own (its pinned dependencies are not the
project's): ``.ci/run`` makes it at ``/opt/tidegate-flexget``; ``TIDEGATE_FLEXGET`` or
``flexget`` on PATH also do. Missing, the test fails, as the interop suite does for the
programs it needs. (Sonarr, Radarr and cross-seed are not in the registries this
machine reaches: docs/qbittorrent-api.md.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EngineFactory, make_payload, make_torrent, port_of, start_seed

from .conftest import wait_for
from .servers import PASSWORD, USER, TidegateQbt

pytestmark = pytest.mark.slow

VENV = Path("/opt/tidegate-flexget")
INSTALL = (f"python3 -m venv {VENV} && {VENV}/bin/pip install flexget qbittorrent-api "
           "(.ci/run does it)")


def flexget() -> str:
    found = os.environ.get("TIDEGATE_FLEXGET") or shutil.which("flexget")
    if not found and (VENV / "bin" / "flexget").exists():
        found = str(VENV / "bin" / "flexget")
    if not found:
        pytest.fail(f"FlexGet is not installed: {INSTALL}", pytrace=False)
    return found


CONFIG = """
tasks:
  grab:
    mock:
      - title: payload
        url: "{magnet}"
    accept_all: yes
    qbittorrent:
      host: 127.0.0.1
      port: {port}
      username: {user}
      password: {password}
      path: {path}
      tags: [flexget]
  finished:
    from_qbittorrent:
      host: 127.0.0.1
      port: {port}
      username: {user}
      password: {password}
      completed: yes
"""


def run(exe: str, folder: Path, *args: str) -> str:
    done = subprocess.run([exe, "-c", str(folder / "config.yml"), "--logfile",
                           str(folder / "flexget.log"), *args],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HOME=str(folder)))
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_flexget_adds_and_tracks_a_download(make_engine: EngineFactory,
                                            tmp_path: Path) -> None:
    exe = flexget()
    payload = make_payload(tmp_path / "seed", sizes=(2_000_000, 7))
    created = make_torrent(payload, fmt="v1")
    seeder = make_engine("seeder")
    start_seed(seeder, created, payload.parent)
    magnet = (f"magnet:?xt=urn:btih:{created.info_hash_v1}&dn=payload"
              f"&x.pe=127.0.0.1:{port_of(seeder)}")
    server = TidegateQbt().start()
    try:
        folder = tmp_path / "flexget"
        folder.mkdir()
        (folder / "config.yml").write_text(CONFIG.format(
            magnet=magnet, port=server.port, user=USER, password=PASSWORD,
            path=server.downloads))
        out = run(exe, folder, "execute", "--tasks", "grab")
        assert "ERROR" not in out, out

        c = server.client()
        assert c.login().text == "Ok."
        info = wait_for("tidegate to list FlexGet's torrent", lambda: c.call(
            "torrents/info", {"hashes": created.info_hash_v1 or ""}, method="GET").json())
        assert info[0]["save_path"] == str(server.downloads)

        def finished() -> str | None:
            dumped = run(exe, folder, "execute", "--tasks", "finished", "--dump")
            return dumped if "qbittorrent_is_complete" in dumped and "payload" in dumped \
                else None
        dumped = wait_for("FlexGet to see the download complete", finished, 90)
        assert re.search(r"qbittorrent_is_complete\s*: True", dumped), dumped
        assert re.search(r"qbittorrent_state\s*: (stalledUP|uploading)", dumped), dumped
        assert re.search(r"content_files\s*: \['payload/file0.bin', 'payload/file1.bin'\]",
                         dumped), dumped
        got = {p.name: p.read_bytes() for p in (server.downloads / "payload").iterdir()}
        assert got == {p.name: p.read_bytes() for p in payload.iterdir()}
    finally:
        server.stop()
