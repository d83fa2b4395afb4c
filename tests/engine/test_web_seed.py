"""BEP 19 web seeds (``AddRequest.web_seeds``, ``--web-seed``): a torrent downloads from a
plain HTTP server with no peer at all, byte-exact; bad URLs are refused by name."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import EngineFactory, make_payload, make_torrent, tree_bytes
from tests.helpers.daemon_util import TIDEGATE, env_for, short_home
from tidegate.engine import AddRequest
from tidegate.engine.errors import InputError


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An aiohttp static server (Range requests, as web seeds need) on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_static("/", root)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    try:
        yield root, f"http://127.0.0.1:{port}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.mark.parametrize("fmt", ["v1", "hybrid"])
def test_a_torrent_downloads_from_a_web_seed_alone(http_root: tuple[Path, str], fmt: str,
                                                   tmp_path: Path,
                                                   make_engine: EngineFactory) -> None:
    root, url = http_root
    payload = make_payload(root, sizes=(1_200_000, 40_000, 3))
    created = make_torrent(payload, fmt)
    engine = make_engine("dl")
    dest = tmp_path / "dest"
    tid = engine.add(AddRequest(torrent=created.data, save_path=str(dest),
                                web_seeds=(url,))).result(10)
    state = engine.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk,
                            60).torrents[tid]
    assert state.num_peers <= 1  # the web seed is the only source
    assert tree_bytes(dest / payload.name) == tree_bytes(payload)


def test_bad_web_seed_urls_are_refused_by_name(tmp_path: Path,
                                               make_engine: EngineFactory) -> None:
    payload = make_payload(tmp_path, sizes=(1000,))
    created = make_torrent(payload, "v1")
    engine = make_engine("dl")
    for bad in ("ftp://127.0.0.1/x", "http://a b/", "file:///etc/passwd", ""):
        with pytest.raises(InputError) as exc:
            engine.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "d"),
                                  web_seeds=(bad,))).result(10)
        assert "web seed" in str(exc.value)
    assert engine.snapshot.torrents == {}


def test_download_command_takes_web_seeds(http_root: tuple[Path, str],
                                          tmp_path: Path) -> None:
    root, url = http_root
    payload = make_payload(root, sizes=(700_000, 9))
    created = make_torrent(payload, "hybrid")
    torrent = tmp_path / "p.torrent"
    torrent.write_bytes(created.data)
    home = short_home()
    dest = tmp_path / "out"
    try:
        r = subprocess.run([*TIDEGATE, "download", str(torrent), "-d", str(dest),
                            "--web-seed", url, "--timeout", "60"], env=env_for(home),
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    assert tree_bytes(dest / payload.name) == tree_bytes(payload)
