"""The TUI on an embedded engine serves the daemon's API (issue 21): every ``tidegate``
command reaches the engine the TUI shows, and quitting frees the socket.

The real ``tidegate tui`` runs in tmux; the real ``tidegate`` commands run as
subprocesses against it, and their effect is read off the TUI's screen.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import build_engine
from tests.helpers.daemon_util import ROOT, TIDEGATE, env_for, short_home
from tests.helpers.tmux_util import Tmux

pytestmark = pytest.mark.slow

HASH = "ab" * 20


def tidegate(home: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(TIDEGATE + list(args), env=env_for(home), capture_output=True,
                          text=True, timeout=timeout)


def test_cli_commands_drive_the_tuis_embedded_engine_and_quit_frees_the_socket() -> None:
    home = short_home()
    site_folder = home / "blog"
    site_folder.mkdir()
    (site_folder / "index.html").write_text("<h1>hello</h1>")
    sock = home / "run" / "api.sock"
    term = Tmux(TIDEGATE + ["tui"], env_for(home), ROOT, size=(140, 30))
    try:
        term.wait(lambda t: "embedded" in t, 30, "the TUI on its embedded engine")
        pid = term.program_pid()
        assert sock.exists(), "the TUI does not serve the API socket"
        assert oct(sock.stat().st_mode & 0o777) == oct(0o600)

        listed = tidegate(home, "ls", "--json")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []

        added = tidegate(home, "add", f"magnet:?xt=urn:btih:{HASH}&dn=ServedByTheTui",
                         "--paused")
        assert added.returncode == 0, added.stderr
        term.wait(lambda t: "ServedByTheTui" in t, 20, "the torrent added by `tidegate add`")
        listed = tidegate(home, "ls", "--json")
        assert [t["id"] for t in json.loads(listed.stdout)] == [HASH]

        made = tidegate(home, "site", "new", "myblog", str(site_folder), "--json")
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["name"] == "myblog"
        term.keys("S")
        term.wait(lambda t: "myblog" in t, 20, "the site made by `tidegate site new`")
        term.keys("Escape")
        term.wait(lambda t: "ServedByTheTui" in t, 10, "the list again")

        # a daemon cannot start on the same data: it names the TUI's process
        daemon = tidegate(home, "daemon")
        assert daemon.returncode == 1
        assert str(pid) in daemon.stderr, daemon.stderr

        term.keys("q")
        term.wait(lambda t: "EXIT:0" in t, 60, "a clean exit")
        assert not sock.exists(), "the API socket is left behind after quitting"
        assert not (home / "run" / "daemon.json").exists()
        gone = tidegate(home, "ls")
        assert gone.returncode == 1 and "no socket at" in gone.stderr, gone.stderr
    finally:
        term.close()
    # what the commands did to the TUI's engine was saved when it quit
    engine = build_engine(home).start()
    try:
        engine.wait_for(lambda s: HASH in s.torrents, 15)
    finally:
        engine.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_stop_daemon_quits_the_tui_that_serves_the_engine() -> None:
    home = short_home()
    sock = home / "run" / "api.sock"
    term = Tmux(TIDEGATE + ["tui"], env_for(home), ROOT, size=(120, 30))
    try:
        term.wait(lambda t: "embedded" in t, 30, "the TUI on its embedded engine")
        stopped = tidegate(home, "stop-daemon")
        assert stopped.returncode == 0, stopped.stderr
        term.wait(lambda t: "EXIT:0" in t, 30, "the TUI quitting on `stop-daemon`")
        assert not sock.exists()
    finally:
        term.close()
        shutil.rmtree(home, ignore_errors=True)


def test_an_endpoint_that_cannot_be_bound_leaves_the_tui_running_alone() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        home = short_home(f'\n[api]\nendpoint = "tcp://127.0.0.1:{port}"\n')
        term = Tmux(TIDEGATE + ["tui"], env_for(home), ROOT, size=(120, 30))
        try:
            term.wait(lambda t: "embedded (API not served)" in t, 30,
                      "the TUI on its embedded engine, saying it serves no API")
            term.keys("q")
            text = term.wait(lambda t: "EXIT:0" in t, 60, "a clean exit")
            assert "cannot be served" in text  # the note, left on the terminal
            assert not (home / "run" / "daemon.json").exists()
        finally:
            term.close()
            shutil.rmtree(home, ignore_errors=True)
