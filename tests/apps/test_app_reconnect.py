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


def test_a_site_made_a_moment_ago_can_be_watched_at_once(daemons: list[DaemonProc],
                                                          tmp_path: Path) -> None:
    """``site_new``'s reply can reach a remote client before the snapshot that holds the
    site (two sockets): ``app.watch(address)`` right after it raised UnknownSiteError now
    and then (a full run, this test's neighbour above). The client now waits for the snapshot,
    up to SITE_APPEARS; a site that never comes is still refused, within that bound."""
    import time

    import pytest

    from tidegate.engine.apps.client import SITE_APPEARS
    from tidegate.engine.errors import UnknownSiteError

    d = DaemonProc(short_home()).start()
    daemons.append(d)
    with AppClient(d.client()) as app:
        for i in range(8):
            source = tmp_path / f"src{i}"
            source.mkdir()
            (source / "index.html").write_bytes(b"x")
            address = app.engine.run(SiteNew(f"s{i}", str(source))).result(30).address
            watch = app.watch(address, lambda ev: None)  # no wait in between
            assert app.site(f"s{i}").address == address
            watch.close()
        t0 = time.monotonic()
        with pytest.raises(UnknownSiteError):
            app.site("no-such-site")
        assert time.monotonic() - t0 < SITE_APPEARS + 3
