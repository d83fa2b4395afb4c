"""A ``--peer`` swarm on one host with the default config (issue 21): a seed and two
downloaders on 127.0.0.1. libtorrent's own default refuses a second connection from an
address that already has one, which left the second downloader waiting ~60 s."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.cli.test_cli import TIDEGATE, Proc, free_port, procs, read_json_line  # noqa: F401
from tests.conftest import make_payload, tree_bytes
from tidegate.engine.config import LOOPBACK_NETWORK

SLOW_SEED = "[rates]\nupload = 1000000\nlimit_local_peers = true\n"
HANG_GUARD = 30.0
"""Seconds: far under the ~60 s the second downloader waited before; not a speed claim."""


def default_home(path: Path, extra: str = "") -> dict[str, str]:
    """A home whose config keeps the engine off the internet and nothing else: every
    other setting, ``allow_multiple_connections_per_ip`` above all, is the default."""
    from tests.cli.test_cli import home_with_config

    env = home_with_config(path)
    lines = ["[network]"]
    for key, value in LOOPBACK_NETWORK.items():
        if key == "allow_multiple_connections_per_ip":
            continue
        lines.append(f"{key} = " + (("true" if value else "false") if isinstance(value, bool)
                                    else f'"{value}"'))
    (path / "config.toml").write_text("\n".join(lines) + "\n[web]\nport = 0\n" + extra)
    return env


def test_two_downloaders_on_one_address_both_finish(tmp_path: Path,
                                                     procs: list[Proc]) -> None:  # noqa: F811
    folder = make_payload(tmp_path / "src", sizes=(3_000_000, 1000))
    port = free_port()
    # the seed sends 1 MB/s in all, so both downloaders are connected to it at once
    seeder = Proc(["share", str(folder), "--listen", f"127.0.0.1:{port}", "--json"],
                  default_home(tmp_path / "seed", SLOW_SEED))
    procs.append(seeder)
    magnet = read_json_line(seeder)["magnet"]
    shown = json.loads(subprocess.run(TIDEGATE + ["config", "--json"],
                                      env=default_home(tmp_path / "d1"), capture_output=True,
                                      text=True, timeout=30).stdout)
    assert shown["settings"]["network.allow_multiple_connections_per_ip"] == \
        {"value": True, "source": "default"}

    started = time.monotonic()
    downloaders = [
        subprocess.Popen(TIDEGATE + ["download", magnet, "-d", str(tmp_path / f"dl{i}"),
                                     "--peer", f"127.0.0.1:{port}", "--json"],
                         env=default_home(tmp_path / f"d{i}"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for i in (1, 2)]
    try:
        for p in downloaders:
            out, err = p.communicate(timeout=HANG_GUARD - (time.monotonic() - started) + 1)
            assert p.returncode == 0, err
    finally:
        for p in downloaders:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    elapsed = time.monotonic() - started
    assert elapsed < HANG_GUARD, f"two downloaders from 127.0.0.1 took {elapsed:.0f} s"
    for i in (1, 2):
        assert tree_bytes(tmp_path / f"dl{i}" / "payload") == tree_bytes(folder)
    assert seeder.stop() == 0
