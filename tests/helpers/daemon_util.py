"""A real ``tidegate daemon`` subprocess for tests, stopped by its pid.

Homes live in short folders under /tmp: Linux limits unix socket paths to 107
bytes, and pytest's tmp_path can be longer than that.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tidegate.engine.api import RemoteEngine

TIDEGATE = [sys.executable, "-m", "tidegate"]
ROOT = Path(__file__).resolve().parents[2]


def short_home(extra_toml: str = "") -> Path:
    from tests.conftest import LOOPBACK_TOML  # here: conftest imports this module

    home = Path(tempfile.mkdtemp(prefix="tg", dir="/tmp"))
    (home / "config.toml").write_text(LOOPBACK_TOML + "\n[storage]\nresume_save_interval = 1.0\n"
                                      + extra_toml)
    return home


def env_for(home: Path) -> dict[str, str]:
    return dict(os.environ, TIDEGATE_HOME=str(home), PYTHONPATH=str(ROOT), COLUMNS="160")


class DaemonProc:
    """``tidegate daemon --json`` in a subprocess; ``info`` is its JSON line."""

    def __init__(self, home: Path, *args: str, prefix: list[str] | None = None,
                 program: list[str] | None = None):
        self.home = home
        self.args = list(args)
        self.prefix = prefix or []
        """Run under this command (``ip netns exec NAME``), which execs the daemon."""
        self.program = program or TIDEGATE
        """What runs ``daemon --json ARGS`` (a test's own wrapper of the CLI)."""
        self.p: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.stderr = ""

    def start(self, timeout: float = 30) -> DaemonProc:
        self.p = subprocess.Popen(self.prefix + self.program + ["daemon", "--json", *self.args],
                                  env=env_for(self.home), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = _readline(self.p, timeout)
        if not line:
            self.p.wait(10)
            assert self.p.stderr is not None
            raise AssertionError(f"daemon did not start (exit {self.p.returncode}): "
                                 f"{self.p.stderr.read()}")
        self.info = json.loads(line)
        return self

    @property
    def endpoint(self) -> str:
        return str(self.info["endpoint"])

    @property
    def pid(self) -> int:
        assert self.p is not None
        return self.p.pid

    def client(self, **kw: Any) -> RemoteEngine:
        return RemoteEngine(self.endpoint, **kw).start(10)

    def kill9(self) -> None:
        assert self.p is not None
        os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait(10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        """Signal the daemon and wait; returns its exit code (killed after ``timeout``)."""
        if self.p is None:
            return 0
        if self.p.stderr is None or self.p.stderr.closed:
            return self.p.wait(timeout)
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        assert self.p.stderr is not None
        self.stderr = self.p.stderr.read()
        if self.p.stdout is not None:
            self.p.stdout.close()
        self.p.stderr.close()
        return self.p.returncode


def _readline(p: subprocess.Popen[str], timeout: float) -> str:
    assert p.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(0.2):
                return p.stdout.readline()
            if p.poll() is not None:
                return ""
        return ""
    finally:
        sel.close()


@pytest.fixture
def daemons() -> Iterator[list[DaemonProc]]:
    """Collects DaemonProcs; each is stopped and its home removed at the end."""
    started: list[DaemonProc] = []
    yield started
    for d in started:
        d.stop()
    for home in {d.home for d in started}:
        shutil.rmtree(home, ignore_errors=True)
