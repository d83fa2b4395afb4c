"""``tidegate daemon --install`` / ``--uninstall`` (cli/commands/daemon_unit.py): the
systemd user unit's content and quoting (a home with spaces, ``%`` and ``$``), systemd's
own check of it, the refusal to replace a different unit, and its removal. Each runs the
real CLI in a subprocess with its own XDG_CONFIG_HOME."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.daemon_util import ROOT
from tidegate.cli.commands.daemon_unit import UnitError, quote

ENDPOINT = 'ipc:///tmp/tg unit/a"b.sock'


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tidegate", "daemon", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home with spaces %h $x"
    home.mkdir()
    return dict(os.environ, TIDEGATE_HOME=str(home), PYTHONPATH=str(ROOT),
                XDG_CONFIG_HOME=str(tmp_path / "config dir"))


def unit_of(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "systemd" / "user" / "tidegate.service"


def keys(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def words(value: str) -> list[str]:
    """systemd's reading of a line, for the quotes this module writes (double quotes that
    escape only backslash and quote read as POSIX shell's), then its ``%%`` and ``$$``."""
    return [w.replace("%%", "%").replace("\0", "$")
            for w in shlex.split(value.replace("$$", "\0"))]


def test_install_writes_a_unit_that_runs_this_python_with_the_options_and_home(
        env: dict[str, str]) -> None:
    done = run(env, "--install", "--endpoint", ENDPOINT)
    assert done.returncode == 0, done.stderr
    assert "systemctl --user enable --now tidegate.service" in done.stderr
    text = unit_of(env).read_text()
    k = keys(text)
    assert words(k["ExecStart"][0]) == [sys.executable, "-m", "tidegate", "daemon",
                                               "--endpoint", ENDPOINT]
    environment = dict(words(v)[0].split("=", 1) for v in k["Environment"])
    assert environment["TIDEGATE_HOME"] == env["TIDEGATE_HOME"]
    assert k["Restart"] == ["on-failure"] and k["RestartSec"] == ["5"]
    assert k["NoNewPrivileges"] == ["yes"]
    assert k["After"] == ["network-online.target"] and k["WantedBy"] == ["default.target"]
    assert "[Unit]" in text and "[Service]" in text and "[Install]" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (not a required tool)")
def test_systemd_accepts_the_unit(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "--install").returncode == 0
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    check = subprocess.run(["systemd-analyze", "--user", "verify", str(unit_of(env))],
                           env=dict(env, XDG_RUNTIME_DIR=str(runtime)), capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == "", check.stderr


def test_a_different_unit_is_kept_unless_forced(env: dict[str, str]) -> None:
    assert run(env, "--install").returncode == 0
    again = run(env, "--install")
    assert again.returncode == 0 and "already this unit" in again.stderr
    path = unit_of(env)
    mine = "[Service]\nExecStart=/bin/true\n"
    path.write_text(mine)
    refused = run(env, "--install", "--endpoint", ENDPOINT)
    assert refused.returncode == 1
    assert "exists and differs" in refused.stderr and "--force" in refused.stderr
    assert path.read_text() == mine
    forced = run(env, "--install", "--force")
    assert forced.returncode == 0 and "replaced" in forced.stderr
    assert "Restart=on-failure" in path.read_text()


def test_uninstall_removes_the_unit_and_its_enable_link(env: dict[str, str]) -> None:
    assert run(env, "--install").returncode == 0
    path = unit_of(env)
    wants = path.parent / "default.target.wants"
    wants.mkdir()
    (wants / path.name).symlink_to(path)
    done = run(env, "--uninstall")
    assert done.returncode == 0, done.stderr
    assert not path.exists() and not (wants / path.name).is_symlink()
    assert "systemctl --user stop tidegate.service" in done.stderr
    again = run(env, "--uninstall")
    assert again.returncode == 0 and "no unit at" in again.stderr


def test_quoting_by_systemds_rules() -> None:
    assert quote("/usr/bin/python3", command=True) == "/usr/bin/python3"
    assert quote("/a b/c", command=True) == '"/a b/c"'
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("50%") == "50%%"
    assert quote("$HOME", command=True) == '"$$HOME"'
    assert quote("$HOME") == '"$HOME"'
    assert quote("") == '""'
    with pytest.raises(UnitError, match="control character"):
        quote("/tmp/a\nb", what="TIDEGATE_HOME")
