"""``AppClient.watch`` over a real daemon's API survives the daemon being killed and
started again: the watcher is told of the gap (``on_gap``), and the next change reaches
the same callback."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from tests.helpers.daemon_util import DaemonProc, short_home
from tidegate.engine.apps.client import AppClient
from tidegate.engine.commands import SiteNew
from tidegate.engine.events import SiteChanged

EVENT_BOUND = 30.0
RECONNECT_BOUND = 60.0


def test_a_watch_survives_the_daemon_restarting(daemons: list[DaemonProc],
                                                tmp_path: Path) -> None:
    home = short_home()
    first = DaemonProc(home).start()
    daemons.append(first)
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.html").write_bytes(b"v1")
    with AppClient(first.client()) as app:
        address = app.engine.run(SiteNew("watched", str(source))).result(30).address
        got: queue.Queue[SiteChanged] = queue.Queue()
        gaps = threading.Event()
        app.watch(address, got.put, on_gap=gaps.set)
        app.publish(address)
        ev = got.get(timeout=EVENT_BOUND)
        assert (ev.changed, ev.removed) == (["index.html"], [])  # served for the first time

        app.write(address, "a.txt", b"a")
        app.publish(address)
        ev = got.get(timeout=EVENT_BOUND)
        assert (ev.changed, ev.removed, ev.height) == (["a.txt"], [], 2)

        gaps.clear()
        first.kill9()
        second = DaemonProc(home).start()
        daemons.append(second)
        assert second.endpoint == first.endpoint
        assert gaps.wait(RECONNECT_BOUND), "the watch was not told of the reconnection"
        assert got.empty()  # a restart alone changes no served snapshot

        app.write(address, "b.txt", b"b")
        app.delete(address, "a.txt")
        app.publish(address)
        ev = got.get(timeout=EVENT_BOUND)
        assert (ev.changed, ev.removed, ev.height) == (["b.txt"], ["a.txt"], 3)
        assert ev.head == app.engine.snapshot.sites[address].head
