"""``tidegate comment`` against a real daemon with comments enabled: post, reply, the
threaded table (hostile text shown literally), --json, export to Nostr JSON lines and
import into a second daemon (refusals named per line), status."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nostr_sdk as nostr

from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tidegate.engine.comments.urls import normalise

from .util import URL

COMMENTS_TOML = "\n[comments]\nenabled = true\ndifficulty = 8\n"


def tg(home: Path, *args: str, ok: bool = True, stdin: str | None = None
       ) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(TIDEGATE + list(args), env=env_for(home), capture_output=True,
                       text=True, timeout=120, input=stdin)
    if ok:
        assert r.returncode == 0, f"tidegate {' '.join(args)}: {r.stderr}"
    return r


def test_comment_post_show_export_import(daemons: list[DaemonProc], tmp_path: Path) -> None:
    a_home, b_home = short_home(COMMENTS_TOML), short_home(COMMENTS_TOML)
    daemons.append(DaemonProc(a_home).start())
    daemons.append(DaemonProc(b_home).start())

    status = json.loads(tg(a_home, "comment", "status", "--json").stdout)
    assert status["url"].startswith("http://127.0.0.1:") and status["difficulty"] == 8
    top_id = tg(a_home, "comment", URL, "[bold]not markup[/bold] \u202eevil\x7f").stdout.strip()
    assert len(top_id) == 64
    reply_id = tg(a_home, "comment", URL, "a reply", "--reply", top_id).stdout.strip()

    table = tg(a_home, "comment", URL).stdout
    lines = [ln for ln in table.splitlines() if top_id[:12] in ln or reply_id[:12] in ln]
    assert len(lines) == 2 and top_id[:12] in lines[0] and "↳ a reply" in lines[1]
    assert "[bold]not markup[/bold] \\u202eevil\\x7f" in lines[0]  # literal, escaped
    assert "\u202e" not in table and "\x7f" not in table

    shown = json.loads(tg(a_home, "comment", "show", URL, "--json").stdout)
    assert [c["id"] for c in shown] == [top_id, reply_id]
    assert shown[1]["parent"] == top_id and shown[0]["url"] == normalise(URL)

    exported = tg(a_home, "comment", "export", URL).stdout.splitlines()
    assert len(exported) == 2
    assert all(nostr.Event.from_json(e).verify() for e in exported)

    bad = json.loads(exported[0])
    bad["content"] = "changed"
    dump = tmp_path / "events.jsonl"
    lines = [*exported, json.dumps(bad), "{broken", "", ""]  # a blank line 5
    dump.write_bytes("\n".join(lines).encode() + b"\xff\xfe not text\n")
    r = tg(b_home, "comment", "import", str(dump), ok=False)
    assert r.returncode == 1
    assert "line 3: ForgedComment" in r.stderr and "line 4: BadComment" in r.stderr
    assert "line 6: BadComment: the line is not valid UTF-8" in r.stderr
    assert "2 of 5 accepted" in r.stderr
    again = tg(b_home, "comment", "import", "-", stdin="\n".join(exported))  # replays only
    assert "0 of 2 accepted" in again.stderr
    assert [c["id"] for c in json.loads(tg(b_home, "comment", URL, "--json").stdout)] == \
        [top_id, reply_id]

    refused = tg(a_home, "comment", "ftp://example.com/", "text", ok=False)
    assert refused.returncode == 1 and "only http and https" in refused.stderr
