"""A real terminal for tests: tmux on a private server socket, driven by send-keys."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path


class Tmux:
    """One tmux server and session running ``command``; :meth:`close` stops both.

    The command runs in a shell that prints ``EXIT:<code>`` when it ends and then
    waits, so the test can read how it ended.
    """

    def __init__(self, command: list[str], env: Mapping[str, str], cwd: Path,
                 size: tuple[int, int] = (100, 30)) -> None:
        self.socket = f"tgt{os.getpid()}-{time.monotonic_ns() % 10**9}"
        line = " ".join(shlex.quote(c) for c in command)
        script = f"{line}; echo EXIT:$?; sleep 600"
        self._env = dict(env)
        self._run("new-session", "-d", "-s", "t", "-x", str(size[0]), "-y", str(size[1]),
                  "-c", str(cwd), script)
        self.pane_pid = int(self.display("#{pane_pid}"))

    def _run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], env=self._env, check=check,
                             capture_output=True, text=True, timeout=20)
        return out.stdout

    def display(self, fmt: str) -> str:
        return self._run("display-message", "-p", "-t", "t", fmt).strip()

    def keys(self, *keys: str, literal: bool = False) -> None:
        self._run("send-keys", "-t", "t", *(["-l"] if literal else []), *keys)

    def text(self, escapes: bool = False) -> str:
        """The visible pane; with ``escapes``, tmux's own encoding of colours and attributes."""
        return self._run("capture-pane", "-p", "-t", "t", *(["-e"] if escapes else []))

    def wait(self, check: Callable[[str], object], timeout: float = 30.0,
             what: str = "the expected screen") -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not shown within {timeout} s; the pane:\n{text}")
            time.sleep(0.1)

    def program_pid(self) -> int:
        """The pid of the command itself (the pane's shell runs it as a child)."""
        children = Path(f"/proc/{self.pane_pid}/task/{self.pane_pid}/children").read_text()
        return int(children.split()[0])

    def hang_up(self) -> None:
        """Close the terminal as a closed window does: the program gets SIGHUP."""
        self._run("kill-server", check=False)

    def close(self) -> None:
        """Stop the program (by the shell's process group) and the tmux server."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pane_pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _group_alive(self.pane_pid):
                time.sleep(0.1)
            if not _group_alive(self.pane_pid):
                break
        self._run("kill-server", check=False)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    """Whether any process is left in the group (the shell may be gone, its child not)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
