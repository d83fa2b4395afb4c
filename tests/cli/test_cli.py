"""The real ``tidegate`` command in subprocesses: exit codes, stdout/stderr, a real swarm."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LOOPBACK_TOML, make_payload, tree_bytes

TIDEGATE = [sys.executable, "-m", "tidegate"]
ROOT = Path(__file__).resolve().parents[2]


def home_with_config(path: Path, extra: str = "") -> dict[str, str]:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.toml").write_text(LOOPBACK_TOML + extra)
    env = dict(os.environ, TIDEGATE_HOME=str(path), PYTHONPATH=str(ROOT), COLUMNS="120")
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 60,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(TIDEGATE + args, env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A background tidegate process, stopped by pid at the end of the test."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.p = subprocess.Popen(TIDEGATE + args, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        return self.p.returncode


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def read_json_line(proc: Proc, timeout: float = 20) -> dict:
    assert proc.p.stdout is not None
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        line = proc.p.stdout.readline()
        if not line:
            break
        text += line
        if line.startswith("}"):
            return json.loads(text)
    raise AssertionError(f"no JSON from the process (exit code {proc.p.poll()})")


def test_share_then_download_by_magnet(tmp_path: Path, procs: list[Proc]) -> None:
    folder = make_payload(tmp_path / "src", sizes=(1_500_000, 10))
    port = free_port()
    seeder = Proc(["share", str(folder), "--listen", f"127.0.0.1:{port}", "--json"],
                  home_with_config(tmp_path / "h1"))
    procs.append(seeder)
    info = read_json_line(seeder)
    assert info["magnet"].startswith("magnet:?xt=urn:btih:")
    assert info["port"] == port
    env = home_with_config(tmp_path / "h2")
    started = time.monotonic()
    res = run(["download", info["magnet"], "-d", str(tmp_path / "dl"), "--peer",
               f"localhost:{port}", "--json"], env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["name"] == "payload" and out["size"] == 1_500_010
    # from the add to complete on disk: within the process's own lifetime
    assert 0 < out["seconds"] < time.monotonic() - started
    assert tree_bytes(tmp_path / "dl" / "payload") == tree_bytes(folder)
    # done: nothing left behind to "continue" next time
    assert list((tmp_path / "h2" / "data" / "oneshot").iterdir()) == []
    assert seeder.stop() == 0


def test_create_info_and_seed_torrent_file(tmp_path: Path, procs: list[Proc]) -> None:
    folder = make_payload(tmp_path / "src", sizes=(300_000,))
    env = home_with_config(tmp_path / "h")
    for fmt in ("--v1", "--v2", "--hybrid"):
        out = tmp_path / f"t{fmt}.torrent"
        res = run(["create", str(folder), "-o", str(out), fmt, "--tracker",
                   "udp://127.0.0.1:6969/announce", "--piece-size", "32K", "--json"], env)
        assert res.returncode == 0, res.stderr
        made = json.loads(res.stdout)
        assert (made["info_hash_v1"] is not None) == (fmt != "--v2")
        assert (made["info_hash_v2"] is not None) == (fmt != "--v1")
        assert made["piece_size"] == 32768 and made["files"] == 1
        info = json.loads(run(["info", str(out), "--json"], env).stdout)
        assert info["trackers"] == ["udp://127.0.0.1:6969/announce"]
        # v2 turns a one-file folder into a single-file torrent
        expected = ["file0.bin"] if fmt == "--v2" else ["payload/file0.bin"]
        assert [f["path"] for f in info["files"]] == expected
    port = free_port()
    seeder = Proc(["seed", str(tmp_path / "t--v1.torrent"), "-d", str(folder.parent),
                   "--listen", f"127.0.0.1:{port}", "--json"], env)
    procs.append(seeder)
    read_json_line(seeder)
    res = run(["download", str(tmp_path / "t--v1.torrent"), "-d", str(tmp_path / "dl"),
               "--peer", f"127.0.0.1:{port}"], home_with_config(tmp_path / "h3"))
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""  # words go to stderr; stdout stays clean
    assert re.fullmatch(rf"complete: payload \(293\.0 KiB\) in {re.escape(str(tmp_path))}/dl, "
                        r"\d+\.\d s\n", res.stderr), res.stderr
    assert tree_bytes(tmp_path / "dl" / "payload") == tree_bytes(folder)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_download_continues_on_rerun(tmp_path: Path, procs: list[Proc],
                                                 sig: signal.Signals) -> None:
    folder = make_payload(tmp_path / "src", sizes=(4_000_000,))
    port = free_port()
    slow = "\n[rates]\nupload = 500000\nlimit_local_peers = true\n"
    seeder = Proc(["share", str(folder), "--listen", f"127.0.0.1:{port}", "--json"],
                  home_with_config(tmp_path / "h1", slow))
    procs.append(seeder)
    magnet = read_json_line(seeder)["magnet"]
    env = home_with_config(tmp_path / "h2")
    args = ["download", magnet, "-d", str(tmp_path / "dl"), "--peer", f"127.0.0.1:{port}"]
    first = Proc(args, env)
    procs.append(first)
    time.sleep(3.0)
    first.p.send_signal(sig)
    assert first.p.wait(20) == 130
    assert "run the same command again" in first.p.stderr.read()
    saved = list((tmp_path / "h2" / "data" / "oneshot").rglob("*.resume"))
    assert len(saved) == 1
    started = time.monotonic()
    res = run(args, env, timeout=60)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - started < 9.0  # 4 MB at 0.5 MB/s from zero would take 8+ s
    assert tree_bytes(tmp_path / "dl" / "payload") == tree_bytes(folder)


def test_bad_inputs_exit_1_with_a_clear_message(tmp_path: Path) -> None:
    env = home_with_config(tmp_path / "h")
    bad = tmp_path / "bad.torrent"
    bad.write_bytes(b"d4:infoi3ee")
    res = run(["info", str(bad)], env)
    assert res.returncode == 1 and str(bad) in res.stderr and res.stdout == ""
    res = run(["download", "magnet:?xt=urn:btih:\x1b]0;pwned\x07zz", "-d", str(tmp_path)], env)
    assert res.returncode == 1
    assert "\x1b" not in res.stderr and "\\x1b" in res.stderr
    res = run(["download", str(tmp_path / "missing.torrent")], env)
    assert res.returncode == 1 and "no such file" in res.stderr
    res = run(["create", str(tmp_path / "nothing-here")], env)
    assert res.returncode == 1 and "no such file or folder" in res.stderr
    assert run(["frobnicate"], env).returncode == 2


def test_config_command_and_config_errors(tmp_path: Path) -> None:
    env = home_with_config(tmp_path / "h", "\n[queue]\nactive_downloads = 3\n")
    res = run(["config", "--json"], env)
    assert res.returncode == 0
    data = json.loads(res.stdout)
    assert data["settings"]["queue.active_downloads"] == {"value": 3, "source": "file"}
    assert data["settings"]["queue.active_seeds"]["source"] == "default"
    assert data["config_file"] == str(tmp_path / "h" / "config.toml")
    (tmp_path / "h" / "config.toml").write_text("[queue]\nactive_downloads = 'many'\n")
    res = run(["config"], env)
    assert res.returncode == 1
    assert "queue.active_downloads" in res.stderr and "config.toml" in res.stderr
    (tmp_path / "h" / "config.toml").write_text("[network]\nlisten = 1\n")
    res = run(["info", "a" * 40], env)
    assert res.returncode == 1 and "unknown field `listen`" in res.stderr


@pytest.mark.parametrize("fmt", ["--v1", "--v2", "--hybrid"])
def test_share_one_file_folder_in_every_format(tmp_path: Path, procs: list[Proc],
                                               fmt: str) -> None:
    folder = make_payload(tmp_path / "src", sizes=(200_000,))
    port = free_port()
    seeder = Proc(["share", str(folder), fmt, "--listen", f"127.0.0.1:{port}", "--json"],
                  home_with_config(tmp_path / "h1"))
    procs.append(seeder)
    magnet = read_json_line(seeder)["magnet"]
    res = run(["download", magnet, "-d", str(tmp_path / "dl"), "--peer", f"127.0.0.1:{port}",
               "--timeout", "30"], home_with_config(tmp_path / "h2"))
    assert res.returncode == 0, res.stderr
    got = tree_bytes(tmp_path / "dl")
    assert list(got.values()) == [(folder / "file0.bin").read_bytes()]


def test_hostile_names_never_reach_the_terminal(tmp_path: Path) -> None:
    from tidegate.engine.metainfo import CreateSpec, create_torrent

    evil = "\x1b]0;owned\x07[red]x[/red]\u202etxt.exe\x1b[2J"
    folder = tmp_path / "src" / "pay"
    folder.mkdir(parents=True)
    (folder / "f.bin").write_bytes(b"x" * 1000)
    made = create_torrent(CreateSpec(path=str(folder), comment=evil))
    t = tmp_path / "evil.torrent"
    t.write_bytes(made.data)
    res = run(["info", str(t)], home_with_config(tmp_path / "h"))
    assert res.returncode == 0
    assert "\x1b" not in res.stdout and "\u202e" not in res.stdout and "\x07" not in res.stdout
    assert "\\x1b]0;owned\\x07[red]x[/red]\\u202etxt.exe" in res.stdout
