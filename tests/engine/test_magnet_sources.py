"""The magnet ``tidegate info`` prints carries the torrent's trackers and web seeds
(issue 21): without them whoever receives it finds no peers. Real ``tidegate create``
and ``tidegate info`` subprocesses; the magnet is read back by ``tidegate info``."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.cli.test_cli import home_with_config, run
from tests.conftest import make_payload

TRACKERS = ["udp://127.0.0.1:6969/announce?key=a&b=c%20d", "http://127.0.0.1:8000/ann+ounce"]
WEB_SEEDS = ["http://127.0.0.1:8001/my%20files/"]


def test_info_magnet_has_trackers_and_web_seeds(tmp_path: Path) -> None:
    env = home_with_config(tmp_path / "h")
    folder = make_payload(tmp_path / "src", sizes=(100_000, 10))
    out = tmp_path / "p.torrent"
    args = ["create", str(folder), "-o", str(out), "--hybrid"]
    for url in TRACKERS:
        args += ["--tracker", url]
    for url in WEB_SEEDS:
        args += ["--web-seed", url]
    made = run(args, env)
    assert made.returncode == 0, made.stderr

    info = json.loads(run(["info", str(out), "--json"], env).stdout)
    magnet = info["magnet"]
    query = parse_qs(urlsplit(magnet).query)
    # every value is one percent-encoded field: an & or ? of a tracker URL stays inside it
    assert query["tr"] == info["trackers"] and len(info["trackers"]) == 2
    assert query["tr"][0].startswith("udp://127.0.0.1:6969/announce?key=a&b=c")
    assert query["ws"] == info["web_seeds"] == WEB_SEEDS
    assert query["dn"] == ["payload"]
    assert sorted(query["xt"]) == sorted([f"urn:btih:{info['info_hash_v1']}",
                                          f"urn:btmh:1220{info['info_hash_v2']}"])

    # whoever receives the magnet gets the same trackers and web seeds
    back = json.loads(run(["info", magnet, "--json"], env).stdout)
    assert back["trackers"] == info["trackers"]
    assert back["web_seeds"] == info["web_seeds"]

    shown = run(["info", str(out)], env).stdout
    line = next(line for line in shown.splitlines() if line.startswith("magnet:"))
    assert line.split(None, 1)[1] == magnet
