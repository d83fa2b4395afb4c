"""A real second local Unix user for permission tests (root only): created with useradd,
commands run as it with runuser, removed with userdel at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"


def need_root() -> None:
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"):
        pytest.skip("needs root, useradd and runuser for a real second user")


@contextlib.contextmanager
def other_user() -> Iterator[str]:
    """A fresh unprivileged user (no home, no login shell); deleted afterwards."""
    need_root()
    name = f"tgx{os.getpid() % 100000}{os.urandom(2).hex()}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=30)


def run_as(user: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", user, "--", *argv], capture_output=True,
                          text=True, timeout=timeout)


@contextlib.contextmanager
def open_folder() -> Iterator[Path]:
    """A temp folder every user can traverse (pytest's tmp_path is 0700 root), removed
    at the end."""
    path = Path(tempfile.mkdtemp(prefix="tg-users-", dir="/tmp"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
