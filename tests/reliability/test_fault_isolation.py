"""One bad byte, or one bug, stays with its torrent: the engine thread goes on.

Real inputs first (issue 20's critical findings, each of which killed the engine thread at
4afb625): a real tracker process answering a failure message that is not UTF-8 (HTTP and
UDP), a .torrent whose tracker URL is not UTF-8, a magnet with ``dn=%ff``. Then faults
injected into the engine's own code (a handler, a torrent's status), which must become
that torrent's visible error, be reported once, and quarantine a torrent that keeps
failing, across a restart, without dropping it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastbencode
import libtorrent as lt
import pytest

from tests.conftest import LOOPBACK_TOML, build_engine, make_payload, make_torrent
from tests.helpers.hostile_tracker import TrackerProc
from tidegate.engine import AddRequest, Engine
from tidegate.engine.events import Log, TorrentErrored, TrackerError
from tidegate.engine.state import Phase, Snapshot
from tidegate.engine.torrents import status as status_module
from tidegate.engine.torrents.isolation import QUARANTINE_AFTER

ROOT = Path(__file__).resolve().parents[2]
TIDEGATE = [sys.executable, "-m", "tidegate"]
BAD = b"\xff\xfe\xfd bad \xc3("
"""Bytes that are not UTF-8 (an invalid start byte, a truncated sequence)."""


@pytest.fixture
def tracker(tmp_path: Path) -> Iterator[TrackerProc]:
    proc = TrackerProc(udp_map=tmp_path / "udp-map.json")
    try:
        yield proc
    finally:
        proc.stop()


def with_trackers(data: bytes, announce: bytes | None, tiers: list[list[bytes]] | None = None,
                  **extra: bytes) -> bytes:
    """``data`` (a .torrent) with its trackers (and other outer fields) replaced, bytes as
    given; the info dictionary, and so the info-hash, unchanged."""
    meta: dict[bytes, Any] = fastbencode.bdecode(data)
    meta.pop(b"announce-list", None)
    meta.pop(b"announce", None)
    if announce is not None:
        meta[b"announce"] = announce
    if tiers is not None:
        meta[b"announce-list"] = tiers
    for key, value in extra.items():
        meta[key.replace("_", " ").encode()] = value
    return bytes(fastbencode.bencode(meta))


def alive(eng: Engine) -> None:
    """The engine thread runs and answers a command."""
    assert eng.crash is None, f"engine thread died: {eng.crash!r}"
    assert eng.running
    eng.session_settings().result(5)


def wait_event(stream: Any, kind: type, timeout: float, match: Any = lambda e: True) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        e = stream.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(e, kind) and match(e):
            return e
    raise AssertionError(f"no {kind.__name__} within {timeout} s")


def seed_torrent(tmp_path: Path, name: str = "payload") -> tuple[Path, bytes]:
    folder = make_payload(tmp_path / f"src-{name}", name=name, sizes=(200_000,))
    return folder, make_torrent(folder, fmt="v1").data


# ---------------------------------------------------------------- real inputs


@pytest.mark.parametrize("kind", ["http", "udp"])
def test_tracker_failure_message_not_utf8(tmp_path: Path, tracker: TrackerProc,
                                          kind: str) -> None:
    """The tracker case came back at every start and killed the engine each time."""
    folder, data = seed_torrent(tmp_path)
    if kind == "http":
        url = tracker.http_url(b"d14:failure reason" + str(len(BAD)).encode() + b":" + BAD
                               + b"e")
    else:
        url = tracker.udp_url()
    torrent = with_trackers(data, url.encode())
    ih = lt.torrent_info(lt.bdecode(torrent)).info_hashes().v1.to_bytes().hex()
    (tmp_path / "udp-map.json").write_text(json.dumps({ih: BAD.hex()}))
    home = tmp_path / "home"
    tid = ih
    for run in range(2):  # and again after a restart: it must not come back to kill it
        eng = build_engine(home)
        events = eng.subscribe()
        eng.start()
        try:
            if run == 0:
                added = eng.add(AddRequest(torrent=torrent, save_path=str(folder.parent)))
                assert added.result(10) == tid
            err = wait_event(events, TrackerError, 20, lambda e: e.torrent_id == ih)
            # libtorrent 2.1 passes an HTTP tracker's failure reason on, and replaces a
            # UDP tracker's with its own words
            shown = "\ufffd" if kind == "http" else "failure"
            assert shown in err.message
            assert err.url == url
            time.sleep(0.5)  # what a handler still had to do with it
            alive(eng)
            details = eng.details(tid).result(10)
            row = next(t for t in details.trackers if t.url == url)
            assert row.status == "error" and shown in row.last_error
            # the commands that read libtorrent's tracker list work too
            eng.add_trackers(tid, ["http://127.0.0.1:9/announce"]).result(10)
            urls = {t.url for t in eng.details(tid).result(10).trackers}
            assert urls == {url, "http://127.0.0.1:9/announce"}
            eng.remove_trackers(tid, ["http://127.0.0.1:9/announce"]).result(10)
            assert {t.url for t in eng.details(tid).result(10).trackers} == {url}
            snap = eng.wait_for(lambda s, tid=tid: s.torrents[tid].phase == Phase.SEEDING, 10)
            assert snap.torrents[tid].error == ""  # a tracker's error is not the torrent's
        finally:
            eng.stop()
        assert eng.crash is None


def test_tracker_answers_before_the_add_is_handled(tmp_path: Path, tracker: TrackerProc,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine the tracker's bad reply came before the engine's loop reached
    the add alert: libtorrent's list was already unreadable and the torrent showed no
    trackers at all (CI, after a daemon restart). The list it was added with is kept."""
    from tidegate.engine.torrents.alerts import TorrentTable

    folder, data = seed_torrent(tmp_path)
    url = tracker.http_url(b"d14:failure reason" + str(len(BAD)).encode() + b":" + BAD + b"e")
    torrent = with_trackers(data, url.encode())
    tid = lt.torrent_info(lt.bdecode(torrent)).info_hashes().v1.to_bytes().hex()
    original = TorrentTable._on_added
    unreadable: list[bool] = []

    def late(self: TorrentTable, a: lt.add_torrent_alert) -> None:
        # the loop busy elsewhere until the tracker has answered
        deadline = time.monotonic() + 15
        seen = False
        while not seen and time.monotonic() < deadline:
            try:
                a.handle.trackers()
                time.sleep(0.05)
            except UnicodeDecodeError:
                seen = True
        unreadable.append(seen)
        original(self, a)

    eng = build_engine(tmp_path / "home").start()
    try:
        eng.add(AddRequest(torrent=torrent, save_path=str(folder.parent))).result(20)
    finally:
        eng.stop()
    # restored from its resume file: no save follows that would read the list again
    monkeypatch.setattr(TorrentTable, "_on_added", late)
    eng = build_engine(tmp_path / "home").start()
    try:
        eng.wait_for(lambda s: tid in s.torrents, 20)
        assert unreadable == [True]  # the order this test is about
        deadline = time.monotonic() + 10  # its error alert can come in a later batch
        while True:
            rows = eng.details(tid).result(10).trackers
            assert [t.url for t in rows] == [url]  # the list is there, not empty
            if rows[0].status == "error" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert rows[0].status == "error" and "\ufffd" in rows[0].last_error
        alive(eng)
    finally:
        eng.stop()
    assert eng.crash is None


def test_torrent_file_with_tracker_url_not_utf8(tmp_path: Path) -> None:
    folder, data = seed_torrent(tmp_path)
    torrent = with_trackers(data, b"http://127.0.0.1:9/announce?k=" + BAD,
                            [[b"udp://127.0.0.1:9/\xff"], [b"http://127.0.0.1:9/announce"]],
                            comment=b"a comment \xff", created_by=b"\xfe maker")
    ih = lt.torrent_info(lt.bdecode(data)).info_hashes().v1.to_bytes().hex()
    home = tmp_path / "home"
    eng = build_engine(home).start()
    try:
        tid = eng.add(AddRequest(torrent=torrent, save_path=str(folder.parent))).result(10)
        assert tid == ih  # the info dictionary was not touched
        eng.wait_for(lambda s: s.torrents[tid].phase == Phase.SEEDING, 10)
        time.sleep(1.0)  # announces fail (nothing listens on port 9): alerts with the URL
        alive(eng)
        details = eng.details(tid).result(10)
        urls = [t.url for t in details.trackers]
        # not-UTF-8 bytes percent-encoded: the same bytes on the wire, usable as text
        assert "udp://127.0.0.1:9/%FF" in urls
        assert "http://127.0.0.1:9/announce" in urls
        assert details.comment == "a comment \ufffd" and details.creator == "\ufffd maker"
    finally:
        eng.stop()
    assert eng.crash is None
    eng = build_engine(home).start()  # and its resume data loads again
    try:
        eng.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == Phase.SEEDING, 10)
        alive(eng)
    finally:
        eng.stop()
    # the CLI's info on the same file: a clear answer, no traceback
    path = tmp_path / "bad.torrent"
    path.write_bytes(torrent)
    out = subprocess.run([*TIDEGATE, "info", str(path), "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    info = json.loads(out.stdout)
    assert "udp://127.0.0.1:9/%FF" in info["trackers"]


def test_magnet_with_name_not_utf8(tmp_path: Path) -> None:
    folder, data = seed_torrent(tmp_path)
    ih = lt.torrent_info(lt.bdecode(data)).info_hashes().v1.to_bytes().hex()
    magnet = f"magnet:?xt=urn:btih:{ih}&dn=%ff%fe&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce%ff"
    seed = build_engine(tmp_path / "seed").start()
    leech = build_engine(tmp_path / "leech")
    events = leech.subscribe()
    leech.start()
    try:
        seed.add(AddRequest(torrent=data, save_path=str(folder.parent))).result(10)
        seed.wait_for(lambda s: s.torrents[ih].phase == Phase.SEEDING, 10)
        port = seed.wait_for(lambda s: s.stats.listen_port > 0, 5).stats.listen_port
        tid = leech.add(AddRequest(uri=magnet, save_path=str(tmp_path / "dl"),
                                   peers=(f"127.0.0.1:{port}",))).result(10)
        snap = leech.wait_for(lambda s: tid in s.torrents, 5)
        assert snap.torrents[tid].name in ("\ufffd\ufffd", "payload")
        alive(leech)
        # the download goes on: metadata from the seed, then the data
        leech.wait_for(lambda s: s.torrents[tid].complete_on_disk, 30)
        assert leech.snapshot.torrents[tid].name == "payload"
        trackers = [t.url for t in leech.details(tid).result(10).trackers]
        assert "http://127.0.0.1:9/announce%FF" in trackers
        assert not [e for e in events.drain() if isinstance(e, Log) and
                    e.level in ("error", "critical")]
    finally:
        leech.stop()
        seed.stop()
    assert leech.crash is None
    out = subprocess.run([*TIDEGATE, "info", magnet, "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env=_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert json.loads(out.stdout)["name"] == "\ufffd\ufffd"


def _env(tmp_path: Path) -> dict[str, str]:
    import os
    env = dict(os.environ)
    env["TIDEGATE_HOME"] = str(tmp_path / "cli-home")
    return env


# ---------------------------------------------------------------- injected faults


def test_fault_in_one_torrents_status_is_contained_then_quarantined(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug that raises for one torrent (here: building its state) makes that torrent an
    error, paused, reported once per episode (first fault to the user's resume, however
    many state updates and alerts fail meanwhile); the other torrent and every command go
    on; at its QUARANTINE_AFTER-th episode it is quarantined, and still so after a
    restart, until resumed."""
    good_folder, good = seed_torrent(tmp_path, "good")
    bad_folder, bad = seed_torrent(tmp_path, "bad")
    home = tmp_path / "home"
    eng = build_engine(home)
    events = eng.subscribe()
    eng.start()
    real = status_module.torrent_state
    victim: list[str] = []

    def flaky(torrent_id: str, *args: Any, **kw: Any) -> Any:
        if torrent_id in victim:
            raise RuntimeError("injected fault")
        return real(torrent_id, *args, **kw)

    try:
        good_id = eng.add(AddRequest(torrent=good, save_path=str(good_folder.parent))).result(10)
        bad_id = eng.add(AddRequest(torrent=bad, save_path=str(bad_folder.parent))).result(10)
        eng.wait_for(lambda s: all(s.torrents[t].phase == Phase.SEEDING
                                   for t in (good_id, bad_id)), 10)
        monkeypatch.setattr(status_module, "torrent_state", flaky)
        victim.append(bad_id)
        eng.reannounce(bad_id).result(5)
        eng.recheck(bad_id).result(5)  # changes its status: a state update comes
        snap = eng.wait_for(lambda s: s.torrents[bad_id].phase == Phase.ERROR, 10)
        st = snap.torrents[bad_id]
        assert "injected fault" in st.error and st.paused
        alive(eng)
        assert snap.torrents[good_id].phase == Phase.SEEDING
        eng.pause(good_id).result(5)  # commands on the others work
        eng.wait_for(lambda s: s.torrents[good_id].paused, 5)
        eng.resume(good_id).result(5)
        # it keeps failing (every command that touches it builds its state): each resume
        # starts a new episode, the QUARANTINE_AFTER-th is quarantined; a resume lifts the
        # quarantine, and the next fault in this session quarantines it again
        for _ in range(QUARANTINE_AFTER):
            eng.resume(bad_id).result(5)
        snap = eng.wait_for(lambda s: "quarantined" in s.torrents[bad_id].error, 10)
        assert snap.torrents[bad_id].paused
        errored = [e for e in events.drain() if isinstance(e, TorrentErrored | Log)]
        # reported once per episode, not once per failure (each episode fails at several
        # alerts and state updates, as many as land before the next resume)
        about_bad = [e.message for e in errored if isinstance(e, TorrentErrored)
                     and e.torrent_id == bad_id]
        assert len(about_bad) == 1 + QUARANTINE_AFTER, about_bad
        assert ["quarantined" in m for m in about_bad] == (
            [False] * (QUARANTINE_AFTER - 1) + [True] * 2), about_bad
        eng.save_resume_data().result(10)
    finally:
        eng.stop()
    assert eng.crash is None
    monkeypatch.setattr(status_module, "torrent_state", real)
    # the next start: the torrent is back, paused, with why; not dropped, not failing
    eng = build_engine(home).start()
    try:
        snap = eng.wait_for(lambda s: bad_id in s.torrents and good_id in s.torrents
                            and s.torrents[good_id].phase == Phase.SEEDING, 10)
        st = snap.torrents[bad_id]
        assert st.paused and st.phase == Phase.ERROR and "quarantined" in st.error
        eng.resume(bad_id).result(5)  # the user lifts it
        snap = eng.wait_for(lambda s: s.torrents[bad_id].phase == Phase.SEEDING, 15)
        assert snap.torrents[bad_id].error == ""
    finally:
        eng.stop()


def test_fault_in_a_handler_without_torrent_is_logged_once(tmp_path: Path) -> None:
    eng = build_engine(tmp_path / "home")
    events = eng.subscribe()
    eng.start()
    try:
        m = eng._manager
        assert m is not None

        def broken(a: Any) -> None:
            raise ValueError("injected into session stats")

        m.table.handlers[lt.session_stats_alert] = broken  # runs 4 times a second
        time.sleep(2.0)
        alive(eng)
        logs = [e for e in events.drain() if isinstance(e, Log) and "injected" in e.message]
        assert len(logs) == 1 and logs[0].level == "error"
        assert "session_stats_alert" in logs[0].message
        folder, data = seed_torrent(tmp_path)
        tid = eng.add(AddRequest(torrent=data, save_path=str(folder.parent))).result(10)
        eng.wait_for(lambda s: s.torrents[tid].phase == Phase.SEEDING, 10)
    finally:
        eng.stop()
    assert eng.crash is None


def test_fault_in_the_loop_itself_does_not_stop_the_engine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng = build_engine(tmp_path / "home")
    events = eng.subscribe()
    eng.start()
    try:
        m = eng._manager
        assert m is not None
        calls = {"n": 0}
        real = m.report_write_errors

        def broken() -> None:
            calls["n"] += 1
            if calls["n"] < 50:
                raise OSError("injected into the loop")
            real()

        monkeypatch.setattr(m, "report_write_errors", broken)
        deadline = time.monotonic() + 10
        while calls["n"] < 50 and time.monotonic() < deadline:
            eng.session_settings().result(5)  # each command wakes the loop
        alive(eng)
        logs = [e for e in events.drain() if isinstance(e, Log) and "injected" in e.message]
        assert len(logs) == 1
        snap: Snapshot = eng.snapshot
        assert snap.running
    finally:
        eng.stop()
    assert eng.crash is None


# ---------------------------------------------------------------- the user's side


def test_daemon_and_cli_live_through_the_bad_tracker(tracker: TrackerProc, tmp_path: Path,
                                                     daemons: list[Any]) -> None:
    """What the user met at 4afb625: a daemon whose every command answered "the engine is
    not running" after one tracker reply, and again after every restart."""
    from tests.helpers.daemon_util import DaemonProc, env_for, short_home

    home = short_home()
    folder, data = seed_torrent(home)
    url = tracker.http_url(b"d14:failure reason" + str(len(BAD)).encode() + b":" + BAD + b"e")
    path = home / "bad.torrent"
    path.write_bytes(with_trackers(data, url.encode()))

    def tg(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([*TIDEGATE, *args], env=env_for(home), capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
        assert r.returncode == 0, f"tidegate {' '.join(args)}: {r.stderr}"
        assert "Traceback" not in r.stderr
        return r

    for run in range(2):
        d = DaemonProc(home).start()
        daemons.append(d)
        client = d.client()
        try:
            if run == 0:
                tg("add", str(path), "-d", str(folder.parent))
            client.wait_for(lambda s: len(s.torrents) == 1, 10)
            tid = next(iter(client.snapshot.torrents))
            deadline = time.monotonic() + 20
            row = None
            while time.monotonic() < deadline:
                shown = json.loads(tg("show", tid, "--json").stdout)
                rows = shown.get("trackers", [])
                row = next((t for t in rows if t["url"] == url and t["last_error"]), None)
                if row is not None:
                    break
                time.sleep(0.3)
            assert row is not None and "\ufffd" in row["last_error"], (run, shown)
            listed = json.loads(tg("ls", "--json").stdout)
            assert [t["id"] for t in listed] == [tid]
            assert listed[0]["phase"] == "seeding"
        finally:
            client.stop()
            assert d.stop() == 0
        assert "Traceback" not in d.stderr


def test_download_of_a_magnet_with_a_bad_name(tmp_path: Path) -> None:
    """`tidegate download 'magnet:?...&dn=%ff'` hung at 4afb625 (its engine had died)."""
    folder, data = seed_torrent(tmp_path)
    ih = lt.torrent_info(lt.bdecode(data)).info_hashes().v1.to_bytes().hex()
    seed = build_engine(tmp_path / "seed").start()
    try:
        seed.add(AddRequest(torrent=data, save_path=str(folder.parent))).result(10)
        seed.wait_for(lambda s: s.torrents[ih].phase == Phase.SEEDING, 10)
        port = seed.wait_for(lambda s: s.stats.listen_port > 0, 5).stats.listen_port
        env = _env(tmp_path)
        (tmp_path / "cli-home").mkdir(exist_ok=True)
        (tmp_path / "cli-home" / "config.toml").write_text(LOOPBACK_TOML)
        out = subprocess.run([*TIDEGATE, "download", f"magnet:?xt=urn:btih:{ih}&dn=%ff",
                              "--peer", f"127.0.0.1:{port}", "-d", str(tmp_path / "dl")],
                             cwd=ROOT, capture_output=True, text=True, timeout=90, env=env)
        assert out.returncode == 0, out.stderr
        assert "Traceback" not in out.stderr
        got = (tmp_path / "dl" / "payload" / "file0.bin").read_bytes()
        assert got == (folder / "file0.bin").read_bytes()
    finally:
        seed.stop()
