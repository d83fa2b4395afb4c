"""A network namespace of the test's own, where every route leads to its loopback.

``ip netns add`` makes it; inside, ``lo`` is up and the default routes (IPv4 and IPv6)
point at ``lo`` too, so an attempt to reach *any* address puts a packet on ``lo``, where
:mod:`tests.helpers.leak_capture` sees it, and no packet can leave the namespace. The test's own
processes reach it through unix sockets (files cross namespaces; ports do not). Needs
root (CI runs as root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


class NetNs:
    def __init__(self, name: str):
        self.name = name

    @property
    def prefix(self) -> list[str]:
        """Put before a command to run it inside (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.name]

    def popen(self, args: list[str], **kw: object) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        return subprocess.Popen([*self.prefix, *args], env=env, **kw)  # type: ignore[call-overload,no-any-return]

    def python(self, module: str, *args: str, **kw: object) -> subprocess.Popen[bytes]:
        return self.popen([sys.executable, "-m", module, *args], **kw)


def available() -> str:
    """Empty when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    return ""


@contextlib.contextmanager
def netns(tag: str) -> Iterator[NetNs]:
    name = f"tg-{tag}-{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
    _ip("netns", "add", name)
    try:
        ns = NetNs(name)
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "route", "add", "default", "dev", "lo")
        _ip("-n", name, "-6", "route", "add", "default", "dev", "lo")
        yield ns
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            _ip("netns", "del", name)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM by pid, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
