"""The watcher (engine/supervisor.py, docs/watcher.md) on real daemons: a managed tor
killed with SIGKILL, a Smart Proxy whose loop raises and a crashed engine thread; and its
back-off policy driven by a clock of the test's own.

The proxy's and the engine's faults are injected (tests/helpers/faulty_daemon.py says
why: no input from outside ends those threads); tor's death is real (SIGKILL by pid).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tests.helpers.sites_util import write_site
from tests.helpers.tornet import pid_alive
from tidegate.engine import commands as cmds
from tidegate.engine.api import RemoteEngine
from tidegate.engine.events import Event, EventStream, PartFailed, PartRestarted
from tidegate.engine.requests import AddRequest
from tidegate.engine.state import Snapshot
from tidegate.engine.supervisor import Backoff, Supervisor
from tidegate.engine.tor.control import TorControl

TOR_TOML = '\n[tor]\nmode = "tor-hosting"\ndisable_network = true\ntimeout = 20.0\n'
FAULTY = [sys.executable, "-m", "tests.helpers.faulty_daemon"]


@pytest.fixture
def home() -> Iterator[Path]:
    folder = short_home(TOR_TOML)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def events_until(stream: EventStream, want: Callable[[list[Event]], bool],
                 timeout: float) -> list[Event]:
    seen: list[Event] = []
    deadline = time.monotonic() + timeout
    while not want(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"events seen: {seen[-20:]}"
        event = stream.get(min(left, 0.5))
        if event is not None:
            seen.append(event)
    return seen


def wait_said(client: RemoteEngine, predicate: Callable[[Snapshot], bool],
              timeout: float) -> Snapshot:
    """``client.wait_for``; on a timeout the message shows tor and the parts."""
    try:
        return client.wait_for(predicate, timeout)
    except TimeoutError:
        snap = client.snapshot
        raise AssertionError(f"not within {timeout} s: tor {snap.tor}, parts "
                             f"{dict(snap.parts)}") from None


def of_part(events: list[Event], kind: type[Event], part: str) -> list[Event]:
    return [e for e in events if isinstance(e, kind) and getattr(e, "part", "") == part]


def http_status(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": f"127.0.0.1:{port}"})
        return conn.getresponse().status
    finally:
        conn.close()


def unix_get(path: Path) -> bytes:
    """A GET / on a site-only listener's unix socket (what tor connects to)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: onion\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if len(data) > 1 << 20:
                break
    return data


def served_over(path: Path, timeout: float) -> bytes:
    """The site's page from its onion listener, once it serves it (a published snapshot is
    hosted a moment after its publication)."""
    deadline = time.monotonic() + timeout
    while not (data := unix_get(path)).startswith(b"HTTP/1.1 200"):
        assert time.monotonic() < deadline, data[:300]
        time.sleep(0.1)
    return data


# ---------------------------------------------------------------------- the policy


class _Dying:
    """A part that dies again right after every restart (the policy's input only)."""

    name = "dying"

    def __init__(self) -> None:
        self.up = True
        self.restarts = 0
        self.raise_on_restart = False

    @property
    def failure(self) -> str:
        return "it died\nagain"

    def alive(self) -> bool:
        return self.up

    def restart(self) -> None:
        self.restarts += 1
        if self.raise_on_restart:
            raise OSError("port in use")
        self.up = True


def test_backoff_grows_caps_keeps_failing_visibly_and_resets_after_a_stable_run() -> None:
    now = [1000.0]
    events: list[Event] = []
    published: list[dict[str, object]] = []
    part = _Dying()
    sup = Supervisor([part], published.append, events.append,
                     backoff=Backoff(first=1.0, ceiling=60.0, stable=300.0),
                     clock=lambda: now[0], wall=lambda: 5000.0 + now[0])
    waited = []
    for _ in range(10):  # dies, waits its delay, is restarted, dies again at once
        part.up = False
        sup.check(now[0])
        state = sup.states()["dying"]
        assert state.status in ("restarting", "failed") and "\n" not in state.failure
        delay = state.retry_at - (5000.0 + now[0])
        sup.check(now[0] + delay - 0.01)  # not yet
        assert sup.states()["dying"].status != "running"
        now[0] += delay
        sup.check(now[0])
        waited.append(round(delay, 1))
        assert sup.states()["dying"].status == "running"
    assert waited == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert sup.delays("dying") == waited
    assert part.restarts == 10
    # at the ceiling it shows failed, and is still retried
    part.up = False
    sup.check(now[0])
    assert sup.states()["dying"].status == "failed"
    now[0] += 60
    sup.check(now[0])
    assert part.restarts == 11 and sup.states()["dying"].restarts == 11
    # a restart that raises is one more death, at the next delay
    part.up, part.raise_on_restart = False, True
    now[0] += 1
    sup.check(now[0])
    now[0] += 60
    sup.check(now[0])
    assert sup.states()["dying"].failure.startswith("restart failed: OSError")
    part.raise_on_restart = False
    now[0] += 60
    sup.check(now[0])
    assert sup.states()["dying"].status == "running"
    # up longer than `stable`: the next death starts from the first delay again
    now[0] += 301
    part.up = False
    sup.check(now[0])
    assert sup.delays("dying")[-1] == 1.0
    fails = [e for e in events if isinstance(e, PartFailed)]
    restarts = [e for e in events if isinstance(e, PartRestarted)]
    assert [e.retry_in for e in fails[:8]] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [e.attempt for e in fails[:3]] == [1, 2, 3]
    assert len(restarts) == 12 and all(e.part == "dying" for e in restarts)
    assert published  # states were handed out as they changed


def test_a_part_that_cannot_say_whether_it_runs_is_treated_as_dead() -> None:
    class Broken(_Dying):
        def alive(self) -> bool:
            raise ValueError("no idea")

    events: list[Event] = []
    sup = Supervisor([Broken()], lambda s: None, events.append, clock=lambda: 0.0)
    sup.check(0.0)
    (event,) = events
    assert isinstance(event, PartFailed) and event.part == "dying"


def test_a_part_whose_thread_rings_is_seen_dead_at_once_and_the_watcher_sleeps_meanwhile(
        ) -> None:
    """A part with ``on_exit`` gets the watcher's nudge and rings it from its thread's end
    (engine/part_bell.py): its death is seen well before CHECK_IDLE, let alone
    CHECK_QUIET, and while every part can ring the watcher looks only each CHECK_QUIET."""
    import threading

    from tidegate.engine.part_bell import ringing
    from tidegate.engine.supervisor import CHECK_IDLE, CHECK_QUIET

    class Threaded(_Dying):
        name = "threaded"
        on_exit = None

        def __init__(self) -> None:
            super().__init__()
            self.go = threading.Event()
            self.thread = threading.Thread(target=ringing(self.go.wait, self), daemon=True)
            self.thread.start()

        def alive(self) -> bool:
            return self.thread.is_alive()

        def restart(self) -> None:
            self.restarts += 1
            self.go = threading.Event()
            self.thread = threading.Thread(target=ringing(self.go.wait, self), daemon=True)
            self.thread.start()

    events: list[Event] = []
    part = Threaded()
    sup = Supervisor([part], lambda s: None, events.append,
                     backoff=Backoff(first=0.2, ceiling=1.0, stable=300.0))
    assert part.on_exit == sup.nudge  # the bell is hung
    assert sup.check_every() == CHECK_QUIET > CHECK_IDLE
    silent = Supervisor([_Dying()], lambda s: None, events.append)
    assert silent.check_every() == CHECK_IDLE  # a part that cannot ring: looked at
    sup.start()
    try:
        time.sleep(0.3)  # the watcher sleeps in its CHECK_QUIET wait now
        t0 = time.monotonic()
        part.go.set()  # the thread ends and rings
        deadline = t0 + 5.0
        while not any(isinstance(e, PartRestarted) for e in events) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        took = time.monotonic() - t0
        assert any(isinstance(e, PartFailed) and e.part == "threaded" for e in events)
        assert any(isinstance(e, PartRestarted) for e in events), events
        assert took < CHECK_IDLE, took  # seen at once, restarted after its 0.2 s delay
        assert part.restarts == 1 and part.thread.is_alive()
    finally:
        sup.stop()
        part.go.set()


# ---------------------------------------------------------------------- real daemons


def tor_onions(home: Path) -> list[str]:
    with TorControl(socket=home / "data" / "tor" / "control", timeout=10) as control:
        return control.detached_onions()


@pytest.mark.timeout(180)
def test_a_killed_tor_is_restarted_with_its_onion_service(home: Path) -> None:
    daemon = DaemonProc(home).start()
    client: RemoteEngine | None = None
    old_pid = 0
    try:
        client = daemon.client()
        source = write_site(home / "src", {"index.html": b"<h1>onion</h1>\n"})
        address = client.run(cmds.SiteNew("blog", str(source))).result(30).address
        client.run(cmds.SiteOnion("blog", True)).result(30)

        def published(s: Snapshot) -> bool:
            onion = s.tor.onions.get(address)
            return s.tor.pid > 0 and s.tor.connected and onion is not None and \
                onion.state == "published"

        snap = wait_said(client, published, 60)
        old_pid = snap.tor.pid
        assert set(snap.parts) >= {"engine", "sites", "proxy", "tor"}
        assert all(p.status == "running" and p.restarts == 0 for p in snap.parts.values())
        stream = client.subscribe()
        t0 = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        snap = wait_said(client, lambda s: published(s) and s.tor.pid != old_pid and
                               s.parts["tor"].restarts == 1, 60)
        back = time.monotonic() - t0
        tor = snap.parts["tor"]
        assert tor.status == "running"
        assert f"tor (pid {old_pid}) killed by SIGKILL" in tor.failure
        assert not pid_alive(old_pid) and pid_alive(snap.tor.pid)
        assert tor_onions(home) == [address]
        seen = events_until(stream, lambda ev: bool(of_part(ev, PartRestarted, "tor")), 30)
        (failed,) = of_part(seen, PartFailed, "tor")
        assert isinstance(failed, PartFailed) and "SIGKILL" in failed.why
        assert failed.attempt == 1 and failed.retry_in == 1.0
        print(f"\ntor killed -> onion service published again in {back:.2f} s")
        assert snap.parts["proxy"].restarts == 0 and snap.parts["sites"].restarts == 0
        client.stop()
        client = None
        assert daemon.stop() == 0  # SIGTERM: a clean stop exits 0
    finally:
        if client is not None:
            client.stop()
        daemon.stop()
        for pid in (old_pid,):
            if pid and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(120)
def test_a_proxy_whose_loop_raises_is_restarted_on_the_same_port(home: Path) -> None:
    """Restarted on its port, and with the listener of an onion site tor points at."""
    daemon = DaemonProc(home, program=FAULTY).start()
    client: RemoteEngine | None = None
    try:
        client = daemon.client()
        source = write_site(home / "src", {"index.html": b"<h1>onion</h1>\n"})
        address = client.run(cmds.SiteNew("blog", str(source))).result(30).address
        client.run(cmds.SitePublish("blog")).result(60)
        client.run(cmds.SiteOnion("blog", True)).result(30)
        snap = wait_said(client, lambda s: s.web.port > 0 and "proxy" in s.parts and (
            o := s.tor.onions.get(address)) is not None and o.state == "published", 60)
        port = snap.web.port
        before = http_status(port)
        onion_socket = home / "run" / "onion" / f"{address[:16]}.sock"
        assert b"<h1>onion</h1>" in served_over(onion_socket, 30)
        stream = client.subscribe()
        (home / "fault").write_text("proxy")
        daemon.p.send_signal(signal.SIGUSR2)  # type: ignore[union-attr]
        seen = events_until(stream, lambda ev: bool(of_part(ev, PartRestarted, "proxy")), 30)
        (failed,) = of_part(seen, PartFailed, "proxy")
        assert isinstance(failed, PartFailed)
        assert "RuntimeError('injected by the test (SIGUSR2)')" in failed.why
        snap = client.wait_for(lambda s: s.parts["proxy"].restarts == 1 and s.web.port > 0,
                               10)
        assert snap.web.port == port
        assert snap.parts["proxy"].status == "running"
        assert http_status(port) == before
        assert b"<h1>onion</h1>" in served_over(onion_socket, 0)
        assert tor_onions(home) == [address] and snap.parts["tor"].restarts == 0
        stats = subprocess.run([*TIDEGATE, "stats"], env=env_for(home), capture_output=True,
                               text=True, timeout=60)
        assert stats.returncode == 0, stats.stderr
        line = next(x for x in stats.stdout.splitlines() if x.startswith("part proxy"))
        assert "running (1 restart; last failure: its loop raised RuntimeError" in line, line
        client.stop()
        client = None
        assert daemon.stop() == 0
    finally:
        if client is not None:
            client.stop()
        daemon.stop()


@pytest.mark.timeout(150)
def test_a_crashed_engine_exits_non_zero_and_the_next_daemon_has_every_torrent(
        home: Path, tmp_path: Path) -> None:
    daemon = DaemonProc(home, program=FAULTY).start()
    client: RemoteEngine | None = None
    try:
        client = daemon.client()
        ids = []
        for i in range(3):
            created = make_torrent(make_payload(tmp_path / f"p{i}", sizes=(40_000 + i,)))
            ids.append(client.run(cmds.Add(AddRequest(
                torrent=created.data, save_path=created.save_path))).result(30))
        client.wait_for(lambda s: all(t in s.torrents for t in ids), 30)
        client.stop()
        client = None
        assert daemon.p is not None
        t0 = time.monotonic()
        daemon.p.send_signal(signal.SIGUSR1)
        status = daemon.p.wait(60)
        took = time.monotonic() - t0
        daemon.stop()
        assert status == 70, daemon.stderr
        assert "the engine thread crashed: InjectedCrash" in daemon.stderr
        print(f"\nengine crashed -> daemon exited {status} in {took:.2f} s")
        again = DaemonProc(home).start()
        try:
            c = again.client()
            try:
                snap = c.wait_for(lambda s: all(t in s.torrents for t in ids), 30)
                assert sorted(snap.torrents) == sorted(ids)
                assert snap.parts["engine"].restarts == 0
            finally:
                c.stop()
        finally:
            assert again.stop() == 0
    finally:
        if client is not None:
            client.stop()
        daemon.stop()


@pytest.mark.timeout(120)
def test_a_sites_thread_and_a_qbt_api_that_die_are_restarted(home: Path) -> None:
    """The sites thread's loop raises once (injected): restarted, its sites read again from
    disk, its commands served. The qBittorrent API's loop ends (injected): it serves again
    on the same port."""
    with (home / "config.toml").open("a") as f:
        f.write('\n[qbt]\nenabled = true\nport = 0\n')
    daemon = DaemonProc(home, program=FAULTY).start()
    client: RemoteEngine | None = None
    try:
        client = daemon.client()
        source = write_site(home / "src", {"index.html": b"<h1>one</h1>\n"})
        first = client.run(cmds.SiteNew("one", str(source))).result(30).address
        client.wait_for(lambda s: "qbt" in s.parts and first in s.sites, 30)
        stream = client.subscribe()
        assert daemon.p is not None
        for part in ("sites", "qbt"):
            (home / "fault").write_text(part)
            daemon.p.send_signal(signal.SIGUSR2)
            seen = events_until(stream, lambda ev, part=part: bool(  # type: ignore[misc]
                of_part(ev, PartRestarted, part)), 30)
            (failed,) = of_part(seen, PartFailed, part)
            assert isinstance(failed, PartFailed)
            if part == "sites":
                assert "injected by the test" in failed.why, failed.why
            else:
                assert "CancelledError" in failed.why, failed.why
        snap = client.wait_for(lambda s: s.parts["sites"].restarts == 1 and
                               s.parts["qbt"].restarts == 1, 10)
        assert all(p.status == "running" for p in snap.parts.values())
        second = client.run(cmds.SiteNew("two", str(source))).result(30).address
        listed = {s.address for s in client.run(cmds.SiteList()).result(30)}
        assert listed == {first, second}
        stats = subprocess.run([*TIDEGATE, "stats", "--json"], env=env_for(home),
                               capture_output=True, text=True, timeout=60)
        assert stats.returncode == 0, stats.stderr
        parts = {p["name"]: p for p in json.loads(stats.stdout)["parts"]}
        assert parts["qbt"]["status"] == "running" and parts["qbt"]["restarts"] == 1
        assert "CancelledError" in parts["qbt"]["failure"]
        client.stop()
        client = None
        assert daemon.stop() == 0
    finally:
        if client is not None:
            client.stop()
        daemon.stop()


@pytest.mark.timeout(120)
def test_a_tor_that_cannot_start_is_retried_with_growing_delays_and_shows_failing(
        tmp_path: Path) -> None:
    """No tor at the configured path: each start fails, and the watcher retries it 1, 2, 4
    s apart (the same policy as test_backoff_..., here on a real daemon)."""
    home = short_home(TOR_TOML + f'binary = "{tmp_path / "no-tor"}"\n')
    daemon = DaemonProc(home).start()
    client: RemoteEngine | None = None
    try:
        client = daemon.client()
        stream = client.subscribe()
        source = write_site(home / "src", {"index.html": b"<h1>onion</h1>\n"})
        client.run(cmds.SiteNew("blog", str(source))).result(30)
        client.run(cmds.SiteOnion("blog", True)).result(30)
        seen = events_until(stream, lambda ev: len(of_part(ev, PartFailed, "tor")) >= 4, 60)
        fails = of_part(seen, PartFailed, "tor")
        assert [(e.attempt, e.retry_in) for e in fails[:4]  # type: ignore[attr-defined]
                ] == [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]
        assert all("tor did not start" in e.why and "no-tor" in e.why  # type: ignore[attr-defined]
                   for e in fails)
        tor = client.wait_for(lambda s: s.parts["tor"].status == "restarting" and
                              s.parts["tor"].restarts >= 3, 10).parts["tor"]
        assert tor.retry_at > time.time() - 5 and "no-tor" in tor.failure
        assert client.snapshot.parts["engine"].status == "running"
        client.stop()
        client = None
        assert daemon.stop() == 0
    finally:
        if client is not None:
            client.stop()
        daemon.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_a_comment_server_that_dies_is_restarted_on_its_port_with_its_comments(
        tmp_path: Path) -> None:
    """The comment endpoint's loop ends (injected: its tasks are cancelled): the watcher
    restarts it on the same port, and the comment posted before is still answered."""
    home = short_home('\n[comments]\nenabled = true\ndifficulty = 4\n')
    daemon = DaemonProc(home, program=FAULTY).start()
    client: RemoteEngine | None = None
    try:
        client = daemon.client()
        url = "https://example.org/watched"
        posted = client.run(cmds.CommentPost(url, "before the fault")).result(60)
        endpoint = client.run(cmds.CommentStatus()).result(30).url
        assert endpoint.startswith("http://127.0.0.1:"), endpoint
        port = int(endpoint.rsplit(":", 1)[1].strip("/"))
        assert http_status(port) == 200
        client.wait_for(lambda s: "comments" in s.parts, 30)
        stream = client.subscribe()
        (home / "fault").write_text("comments")
        assert daemon.p is not None
        daemon.p.send_signal(signal.SIGUSR2)
        seen = events_until(stream, lambda ev: bool(of_part(ev, PartRestarted, "comments")),
                            30)
        (failed,) = of_part(seen, PartFailed, "comments")
        assert "CancelledError" in failed.why, failed.why  # type: ignore[attr-defined]
        snap = client.wait_for(lambda s: s.parts["comments"].restarts == 1 and
                               s.parts["comments"].status == "running", 10)
        assert snap.parts["engine"].status == "running"
        assert http_status(port) == 200
        listed = client.run(cmds.CommentList(url)).result(30)
        assert [c.id for c in listed] == [posted.id]
        stats = subprocess.run([*TIDEGATE, "stats"], env=env_for(home), capture_output=True,
                               text=True, timeout=60)
        line = next(x for x in stats.stdout.splitlines() if x.startswith("part comments"))
        assert line.split()[:3] == ["part", "comments", "running"], line
        client.stop()
        client = None
        assert daemon.stop() == 0
    finally:
        if client is not None:
            client.stop()
        daemon.stop()
        shutil.rmtree(home, ignore_errors=True)
