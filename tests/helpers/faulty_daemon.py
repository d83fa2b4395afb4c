"""``tidegate daemon`` with fault switches, for tests/reliability/test_watcher.py.

Run as ``python -m tests.helpers.faulty_daemon daemon --json ...`` (what follows is the
CLI's own command line). The faults are injected because nothing from outside can produce
them for real: every step of the engine loop and of the proxy's loop catches
``Exception`` (tests/reliability/test_fault_isolation.py), so only a bug of ours ends
those threads, and a test can only plant one.

* SIGUSR1: the engine thread runs a closure that raises a ``BaseException`` that is no
  ``Exception`` (it passes every handler and ends the thread, as a crash would).
* SIGUSR2: the Smart Proxy's once-a-second idle sweep raises ``RuntimeError`` (its loop
  ends with it; the restarted proxy has a new sweep, without the fault).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from tidegate.cli.main import main
from tidegate.engine import daemon as daemon_module


class InjectedCrash(BaseException):
    """Planted by the test; not an Exception, so no handler of the loop catches it."""


_started: list[daemon_module.Daemon] = []
_original_start = daemon_module.Daemon.start


def _start(self: daemon_module.Daemon) -> daemon_module.Daemon:
    out = _original_start(self)
    _started.append(self)
    return out


def _crash_engine(signum: int, frame: FrameType | None) -> None:
    node = _started[0].engine
    assert node is not None

    def crash() -> None:
        raise InjectedCrash("injected by the test (SIGUSR1)")

    node.engine._call(crash)


def _break_proxy(signum: int, frame: FrameType | None) -> None:
    node = _started[0].engine
    assert node is not None and node.proxy is not None
    fast = node.proxy._fast
    assert fast is not None

    def sweep() -> None:
        raise RuntimeError("injected by the test (SIGUSR2)")

    fast.close_idle = sweep  # type: ignore[method-assign]


if __name__ == "__main__":
    daemon_module.Daemon.start = _start  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR1, _crash_engine)
    signal.signal(signal.SIGUSR2, _break_proxy)
    sys.exit(main(sys.argv[1:]))
