"""``tidegate daemon`` with fault switches, for tests/reliability/test_watcher.py.

Run as ``python -m tests.helpers.faulty_daemon daemon --json ...`` (what follows is the
CLI's own command line). The faults are injected because nothing from outside can produce
them for real: every step of the engine loop and of the proxy's loop catches
``Exception`` (tests/reliability/test_fault_isolation.py), so only a bug of ours ends
those threads, and a test can only plant one.

* SIGUSR1: the engine thread runs a closure that raises a ``BaseException`` that is no
  ``Exception`` (it passes every handler and ends the thread, as a crash would).
* SIGUSR2: the part named in ``$TIDEGATE_HOME/fault`` dies:

  - ``proxy``: its once-a-second idle sweep raises ``RuntimeError`` (its loop ends with
    it; the restarted proxy has a new sweep, without the fault);
  - ``sites``: the sites thread's next publication raises ``RuntimeError``, once;
  - ``qbt``: the qBittorrent API's serving task is cancelled (its loop ends);
  - ``comments``: the comment endpoint's tasks are cancelled (its loop ends).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
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


def _break_part(signum: int, frame: FrameType | None) -> None:
    node = _started[0].engine
    assert node is not None
    which = (Path(os.environ["TIDEGATE_HOME"]) / "fault").read_text().strip()
    if which == "proxy":
        assert node.proxy is not None and node.proxy._fast is not None

        def sweep() -> None:
            raise RuntimeError("injected by the test (SIGUSR2)")

        node.proxy._fast.close_idle = sweep  # type: ignore[method-assign]
    elif which == "sites":
        sites = node.sites
        assert sites is not None

        def publish(wait: bool = False) -> None:
            del sites._publish  # once: the restarted thread publishes as ever
            raise RuntimeError("injected by the test (SIGUSR2)")

        sites._publish = publish  # type: ignore[method-assign]
        sites._waker.wake()
    elif which in ("qbt", "comments"):
        service = node.qbt if which == "qbt" else node.comments
        assert service is not None and service.loop is not None
        loop = service.loop

        def cancel() -> None:
            for task in asyncio.all_tasks(loop):
                task.cancel()

        loop.call_soon_threadsafe(cancel)


if __name__ == "__main__":
    daemon_module.Daemon.start = _start  # type: ignore[method-assign]
    signal.signal(signal.SIGUSR1, _crash_engine)
    signal.signal(signal.SIGUSR2, _break_part)
    sys.exit(main(sys.argv[1:]))
