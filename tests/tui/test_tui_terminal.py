"""The real ``tidegate tui`` in a real terminal (tmux): demo smoke test, hostile names,
terminal hygiene on quit, and resume data saved by an embedded engine."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import build_engine
from tests.helpers.daemon_util import ROOT, env_for, short_home
from tests.helpers.tmux_util import Tmux, alive
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds

pytestmark = pytest.mark.slow

TIDEGATE = [sys.executable, "-m", "tidegate"]

HOSTILE = ("evil\x1b[31mRED\x1b]0;pwned\x07 [bold]markup[/bold] "
           "\u202eLTR\u202c \x9b2J\x1b[?1049l end")
HASH = "cd" * 20


def test_tmux_is_installed() -> None:
    assert shutil.which("tmux"), "tmux is required for the terminal tests (apt-get install tmux)"


def test_demo_downloads_for_real_and_quits_cleanly(tmp_path: Path) -> None:
    home = short_home()
    env = env_for(home) | {"TMPDIR": str(tmp_path)}
    term = Tmux(TIDEGATE + ["tui", "--demo"], env, ROOT, size=(120, 32))
    try:
        term.wait(lambda t: "Tidegate Demo Reel" in t and "embedded demo" in t, 60,
                  "the demo's torrents")
        # real bytes arrive: some row shows a progress between 1% and done
        term.wait(lambda t: re.search(r"\b([1-9]\d?)%", t) or " done" in t, 60,
                  "download progress")
        term.wait(lambda t: "MiB/s" in t or "KiB/s" in t, 30, "a download rate")
        term.keys("2")  # downloading filter
        term.wait(lambda t: "Lighthouse" not in t or "Down" in t, 10)
        term.keys("1", "?")
        term.wait(lambda t: "tidegate keys" in t, 10, "the help screen")
        term.keys("Escape")  # alone: an escape right before a key reads as alt+key
        term.wait(lambda t: "tidegate keys" not in t, 10, "help closed")
        term.keys("Enter")
        term.wait(lambda t: "Files" in t and "Peers" in t and "Trackers" in t, 10,
                  "the detail screen")
        term.keys("Escape")
        term.wait(lambda t: "Progress" in t, 10, "the list again")
        term.keys("q")
        term.wait(lambda t: "EXIT:0" in t, 60, "a clean exit")
        assert term.display("#{alternate_on}") == "0"
        assert not list(tmp_path.glob("tgdemo*")), "the demo's folder is removed on quit"
    finally:
        term.close()
        shutil.rmtree(home, ignore_errors=True)


def _home_with_hostile_torrent() -> Path:
    home = short_home()
    engine = build_engine(home)
    # the engine's own loopback config comes from config.toml in the real run;
    # here the same settings come from build_engine
    engine.start()
    try:
        uri = f"magnet:?xt=urn:btih:{HASH}&dn={quote(HOSTILE)}"
        engine.add(AddRequest(uri=uri, paused=True)).result(10)
        engine.wait_for(lambda s: HASH in s.torrents, 10)
    finally:
        engine.stop()
    return home


def test_hostile_names_never_reach_the_terminal_and_quit_saves_state() -> None:
    home = _home_with_hostile_torrent()
    # 180 columns (COLUMNS too: Textual takes its width from it when set, and env_for sets
    # 160): the whole hostile name fits beside the # column
    term = Tmux(TIDEGATE + ["tui", "--embedded"], env_for(home) | {"COLUMNS": "180"}, ROOT,
                size=(180, 30))
    try:
        title_before = term.display("#{pane_title}")
        text = term.wait(lambda t: "evil" in t, 30, "the hostile torrent")
        row = next(line for line in text.splitlines() if "evil" in line)
        # every control character is shown as an escape, markup is literal text
        assert "evil\\x1b[31mRED\\x1b]0;pwned\\x07 [bold]markup[/bold] \\u202eLTR" in row
        colored = term.text(escapes=True)
        assert "\x1b[31m" not in colored, "the name's SGR reached the terminal"
        assert term.display("#{pane_title}") == title_before != "pwned"
        assert term.display("#{alternate_on}") == "1", "the name did not leave the alt screen"
        # the detail screen shows the name too
        term.keys("Enter")
        text = term.wait(lambda t: "Files" in t and "evil" in t, 15, "the detail screen")
        assert "\x1b" not in text and "pwned\x07" not in text
        assert "[bold]markup[/bold]" in text
        term.keys("Escape")
        term.wait(lambda t: "Progress" in t, 10, "the list")
        # change something, quit: resume data is saved on the way out
        term.keys("o")
        term.wait(lambda t: "Sequential on" in t, 10, "the sequential notification")
        term.keys("q")
        term.wait(lambda t: "EXIT:0" in t, 60, "a clean exit")
        assert term.display("#{alternate_on}") == "0"
        assert term.display("#{mouse_any_flag}") == "0"
        assert term.display("#{cursor_flag}") == "1"
    finally:
        term.close()
    engine = build_engine(home).start()
    try:
        snap = engine.wait_for(lambda s: HASH in s.torrents, 15)
        assert snap.torrents[HASH].sequential, "the change made in the TUI was saved"
        assert snap.torrents[HASH].name == HOSTILE, "the name itself is kept as it is"
    finally:
        engine.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("how", ["terminal closed", "SIGTERM"])
def test_closing_the_terminal_or_sigterm_quits_like_q(how: str) -> None:
    home = _home_with_hostile_torrent()
    resume = home / "data" / "resume" / f"{HASH}.resume"
    written = resume.stat().st_mtime_ns
    term = Tmux(TIDEGATE + ["tui", "--embedded"], env_for(home), ROOT)
    try:
        term.wait(lambda t: "evil" in t, 30, "the list")
        pid = term.program_pid()
        if how == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
            term.wait(lambda t: "EXIT:143" in t, 60, "exit status 128 + SIGTERM")
            # the app quit through its own exit, so the terminal is put back as q leaves it
            assert term.display("#{alternate_on}") == "0"
            assert term.display("#{mouse_any_flag}") == "0"
        else:
            term.hang_up()
        deadline = time.monotonic() + 60
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid), f"the TUI kept running after {how}"
        # it stopped the engine the way q does. (A stop saves only the torrents that
        # changed since their last save, issue 27, so an unchanged file is not rewritten:
        # what is checked is that it is whole and says what it said.)
        import libtorrent as lt

        data = resume.read_bytes()
        params = lt.read_resume_data(data)
        assert params.flags & lt.torrent_flags.paused and str(params.info_hashes.v1) == HASH
        assert resume.stat().st_mtime_ns >= written
    finally:
        term.close()
    engine = build_engine(home).start()  # the engine lock was released
    try:
        engine.wait_for(lambda s: HASH in s.torrents, 15)
    finally:
        engine.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_attaches_to_a_running_daemon_and_leaves_it_running(daemons: list) -> None:
    from tests.helpers.daemon_util import DaemonProc

    home = short_home()
    daemon = DaemonProc(home).start()
    daemons.append(daemon)
    client = daemon.client()
    try:
        client.run(cmds.Add(AddRequest(uri=f"magnet:?xt=urn:btih:{HASH}&dn=remote-one",
                              paused=True))).result(10)
    finally:
        client.stop()
    term = Tmux(TIDEGATE + ["tui"], env_for(home), ROOT, size=(120, 30))
    try:
        term.wait(lambda t: "remote-one" in t and f"daemon {daemon.endpoint}" in t, 30,
                  "the daemon's torrent, and its endpoint in the status bar")
        term.keys("x")
        term.wait(lambda t: "Remove 1 torrent" in t, 10, "the remove dialog")
        term.keys("Enter")
        term.wait(lambda t: "remote-one" not in t.split("Progress")[-1].split("↓")[0], 15,
                  "the torrent gone from the list")
        term.keys("q")
        term.wait(lambda t: "EXIT:0" in t, 30, "a clean exit")
    finally:
        term.close()
    assert daemon.p is not None and daemon.p.poll() is None, "the daemon keeps running"
    client = daemon.client()
    try:
        assert HASH not in client.snapshot.torrents
    finally:
        client.stop()
    assert os.path.exists(home)
