"""Text from outside is never Rich markup nor ``:emoji:`` codes: names, paths and error
messages quoting input are shown literally by the real ``tidegate`` commands, so a path
copied from ``show`` is the path ``prio`` matches."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli_remote import tg
from tests.conftest import make_torrent
from tests.helpers.daemon_util import DaemonProc, short_home

NAME = "report:rocket:final"
FILES = [
    "report:rocket:final.txt",
    "[bold]x[/bold]",                           # a folder "[bold]x[" with a file "bold]"
    "[link=http:/evil.example]click[/link]",    # a folder "[link=http:" and deeper
    ":smile: [red]r:thumbs_up:",
]
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def _payload(root: Path) -> Path:
    folder = root / NAME
    for i, rel in enumerate(FILES):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([65 + i]) * (1000 + i))
    return folder


def _plain(text: str) -> str:
    return SGR.sub("", text)


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_names_and_messages_are_shown_literally(daemons: list[DaemonProc],
                                                terminal: bool) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    extra = {"TTY_COMPATIBLE": "1", "FORCE_COLOR": "1"} if terminal else {}
    try:
        src = home / "src"
        folder = _payload(src)
        created = make_torrent(folder, "v1")
        torrent = home / "t.torrent"
        torrent.write_bytes(created.data)

        info = _plain(tg(home, "info", str(torrent), env=extra).stdout)
        assert f"name:        {NAME}\n" in info
        for rel in FILES:
            assert f"{NAME}/{rel}" in info
        assert not EMOJI.search(info), info

        added = tg(home, "add", str(torrent), "-d", str(src), "--paused", env=extra)
        assert not EMOJI.search(added.stdout + added.stderr)
        dn = "[bold]b[/bold] :fire: [link=http://e/]l[/link]"
        hash2 = "ab" * 20
        tg(home, "add", f"magnet:?xt=urn:btih:{hash2}&dn={dn.replace(' ', '+')}", "--paused",
           env=extra)

        listed = _plain(tg(home, "ls", env=extra).stdout)
        assert NAME in listed and dn in listed, listed
        assert not EMOJI.search(listed), listed

        number = next(str(t["number"]) for t in json.loads(tg(home, "ls", "--json").stdout)
                      if t["id"] == created.info_hash_v1)
        shown = _plain(tg(home, "show", number, env=extra).stdout)
        assert not EMOJI.search(shown), shown
        assert shown.startswith(NAME + "\n")
        files = shown[shown.index("files ("):shown.index("peers (")].splitlines()[2:]
        paths = [line.split(None, 5)[5].rstrip() for line in files]  # #, done, prio, "1 KiB"
        assert sorted(paths) == sorted(f"{NAME}/{rel}" for rel in FILES)

        # every path exactly as copied from `show` is found by `prio`
        for path in paths:
            r = tg(home, "prio", number, path, "skip", env=extra)
            assert "set on 1 file" in _plain(r.stderr), r.stderr
        files = json.loads(tg(home, "show", number, "--json").stdout)["files"]
        assert [f["priority"] for f in files] == [0] * len(FILES)

        # an error message quoting the input: literal, not an emoji (":zzz:" is one)
        bad = tg(home, "info", "magnet:?xt=urn:btih:zzz", ok=False, env=extra)
        assert bad.returncode != 0
        assert "magnet:?xt=urn:btih:zzz" in _plain(bad.stderr), bad.stderr
        assert not EMOJI.search(bad.stderr), bad.stderr
        bad = tg(home, "prio", number, "[bold]nothing[/bold]:rocket:", "skip", ok=False,
                 env=extra)
        assert "[bold]nothing[/bold]:rocket:" in _plain(bad.stderr), bad.stderr
        assert not EMOJI.search(bad.stderr), bad.stderr
    finally:
        d.stop()
        shutil.rmtree(home, ignore_errors=True)
