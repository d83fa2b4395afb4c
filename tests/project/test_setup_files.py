"""The set-up the README promises (issue 21): its first lines after the title are the two
make commands, `make run` installs only what running needs, `make test` the test extras
even after `make run`. Read with `make -n` (print, do not run) on a throw-away venv path."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(target: str, venv: Path) -> str:
    out = subprocess.run(["make", "-n", target, f"VENV={venv}", "PY=python3"], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def installs(text: str) -> list[str]:
    return [line.split("-e", 1)[1].strip() for line in text.splitlines()
            if "pip install" in line and " -e " in line]


def test_make_run_installs_only_tidegate_and_make_test_the_extras(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    fresh = dry_run("run", venv)
    assert "-m venv" in fresh
    assert installs(fresh) == ["."], fresh
    assert "tidegate tui" in fresh
    assert installs(dry_run("test", venv)) == ["'.[test]'"]

    # after `make run` (its stamp newer than pyproject.toml): run installs nothing more,
    # test still installs the extras
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed-run").touch()
    later = time.time() + 5
    os.utime(venv / ".installed-run", (later, later))
    assert installs(dry_run("run", venv)) == []
    assert installs(dry_run("test", venv)) == ["'.[test]'"]


def test_readme_opens_with_its_title_then_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0] == "# tidegate"
    commands = [line.split("#")[0].strip() for line in lines[1:5] if line.strip()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == "make test", "CI runs the README's test command"
