"""The real ``tidegate tui`` in tmux shows names and paths with markup and ``:emoji:``
codes literally (the list, the detail title, the Files tree)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli_literal_text import FILES, NAME, _payload
from tests.conftest import build_engine, make_torrent
from tests.helpers.daemon_util import ROOT, env_for, short_home
from tests.helpers.tmux_util import Tmux
from tests.tui.test_tui_terminal import TIDEGATE
from tidegate.engine import AddRequest

pytestmark = pytest.mark.slow

EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def _home() -> tuple[Path, str]:
    home = short_home()
    src = home / "src"
    created = make_torrent(_payload(src), "v1")
    engine = build_engine(home).start()
    try:
        tid = engine.add(AddRequest(torrent=created.data, save_path=str(src),
                                    paused=True)).result(10)
        engine.wait_for(lambda s: tid in s.torrents and s.torrents[tid].has_metadata, 10)
    finally:
        engine.stop()
    return home, tid


def test_tui_shows_markup_and_emoji_codes_literally() -> None:
    home, _ = _home()
    term = Tmux(TIDEGATE + ["tui", "--embedded"], env_for(home), ROOT, size=(160, 40))
    try:
        text = term.wait(lambda t: "report:" in t, 30, "the torrent")
        assert NAME in text and not EMOJI.search(text), text
        term.keys("Enter")
        text = term.wait(lambda t: "Files" in t and "Peers" in t, 15, "the detail screen")
        assert NAME in text and not EMOJI.search(text), text
        term.keys("F")
        text = term.wait(lambda t: "click[" in t, 15, "the files tree")
        for part in ("report:rocket:final.txt", "[bold]x[", "bold]", "[link=http:",
                     "evil.example]click[", "link]", ":smile: [red]r:thumbs_up:"):
            assert part in text, text
        assert not EMOJI.search(text), text
        term.keys("Escape")
        term.wait(lambda t: "Progress" in t, 10, "the list")
        term.keys("q")
        term.wait(lambda t: "EXIT:0" in t, 60, "a clean exit")
    finally:
        term.close()
        shutil.rmtree(home, ignore_errors=True)


assert FILES  # the same names as the CLI test
