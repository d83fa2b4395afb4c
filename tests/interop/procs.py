"""Programs the interop tests start: found or failed for, started, stopped by their pid.

A missing client is a failure, not a skip: the suite is worthless in CI if it quietly
tests nothing (``.ci/run`` installs every program named here).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

APT = {
    "opentracker": "opentracker",
    "transmission-daemon": "transmission-daemon",
    "transmission-create": "transmission-cli",
    "transmission-show": "transmission-cli",
    "aria2c": "aria2",
    "mktorrent": "mktorrent",
    "qbittorrent-nox": "qbittorrent-nox",
}


def require(program: str) -> str:
    """The program's path; fails the test (in CI and locally) when it is not installed."""
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"interop: required program {program!r} is not installed "
                    f"(Debian: apt-get install {APT.get(program, program)}; .ci/run does it)",
                    pytrace=False)
    return path


def free_port() -> int:
    """A port that is free for both TCP and UDP on 127.0.0.1 (opentracker binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise AssertionError("no free port on 127.0.0.1 for both TCP and UDP")


def wait_until(what: str, probe: Callable[[], T | None], timeout: float,
               interval: float = 0.1) -> T:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 10) -> None:
    """Wait until something accepts TCP on 127.0.0.1:``port``; fail if ``proc`` exits."""
    def probe() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0
    wait_until(f"{name} to listen on 127.0.0.1:{port}", probe, timeout, 0.05)


def stop(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM ``proc`` by its pid, SIGKILL it after ``timeout``; reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def tree_sha256(folder: Path, skip_pad: bool = False) -> dict[str, str]:
    """Relative path -> sha256 of every regular file under ``folder``.

    ``skip_pad`` leaves out BEP 47 pad files (``.pad/N``), which clients that do not
    know BEP 47 write to disk as ordinary files.
    """
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or (skip_pad and rel.parts[0] == ".pad"):
            continue
        out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def pad_files(torrent: bytes) -> dict[str, int]:
    """BEP 47 pad files of a torrent (relative to the save folder) and their sizes."""
    import fastbencode

    info = fastbencode.bdecode(torrent)[b"info"]
    out = {}
    for f in info.get(b"files", []):
        if b"p" in f.get(b"attr", b""):
            path = "/".join(part.decode() for part in [info[b"name"], *f[b"path"]])
            out[path] = int(f[b"length"])
    return out


def write_pad_files(torrent: bytes, save_path: Path) -> int:
    """Write a torrent's pad files as zeros under ``save_path`` (for seeds that do not know
    BEP 47 and read them from disk); returns how many."""
    pads = pad_files(torrent)
    for rel, size in pads.items():
        p = save_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes(size))
    return len(pads)
