"""``tidegate config`` with a broken config file, through the real command: the error's
hint sends people there, so it shows the error and still lists every key."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.helpers.daemon_util import ROOT, TIDEGATE


def tg(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TIDEGATE_HOME=str(home), PYTHONPATH=str(ROOT), COLUMNS="120")
    return subprocess.run(TIDEGATE + list(args), env=env, capture_output=True, text=True,
                          timeout=60)


def test_config_lists_every_key_despite_an_error_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[network]\nconection_limit = 3\n")

    # any command: the error names the key, suggests the right one and sends to `config`
    r = tg(tmp_path, "ls")
    assert r.returncode == 1
    assert "conection_limit" in r.stderr and "did you mean `connections_limit`?" in r.stderr
    assert "tidegate config" in r.stderr

    r = tg(tmp_path, "config")
    assert r.returncode == 1
    assert "did you mean `connections_limit`?" in r.stderr, r.stderr
    assert "has an error" in r.stdout
    assert "[network]" in r.stdout and "connections_limit = " in r.stdout
    assert "[rates]" in r.stdout and "limit_local_peers = false  # default" in r.stdout

    r = tg(tmp_path, "config", "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert "connections_limit" in data["error"]
    assert "network.connections_limit" in data["settings"]

    # an unknown section, and a typo with nothing close: no made-up suggestion
    (tmp_path / "config.toml").write_text("[netwrk]\nenable_dht = false\n")
    assert "did you mean `network`?" in tg(tmp_path, "config").stderr
    (tmp_path / "config.toml").write_text("[network]\nzzzzzz = 1\n")
    r = tg(tmp_path, "config")
    assert "zzzzzz" in r.stderr and "did you mean" not in r.stderr

    # a good file: exit 0, no error
    (tmp_path / "config.toml").write_text("[network]\nconnections_limit = 30\n")
    r = tg(tmp_path, "config")
    assert r.returncode == 0 and r.stderr == ""
    assert "connections_limit = 30  # file" in r.stdout
