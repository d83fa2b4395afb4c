"""``tidegate category ...``, ``tidegate tag``, ``add --category --tag`` and ``ls --category
--tag`` against a real daemon; hostile names are printed literally."""

from __future__ import annotations

import json

from tests.cli.test_cli_remote import ls, tg
from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import DaemonProc, short_home

HOSTILE = "[red]x[/red]\x1b]0;t"
MARKUP = "[red]x[/red]"


def test_categories_and_tags_from_the_cli(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    try:
        files = []
        for name in ("one", "two"):
            created = make_torrent(make_payload(home / "src" / name, name, sizes=(50_000,)))
            path = home / f"{name}.torrent"
            path.write_bytes(created.data)
            files.append(path)
        tv = home / "tv"
        tg(home, "category", "add", "tv", "--save-path", str(tv))
        tg(home, "category", "add", "[b]films[/b]")
        bad = tg(home, "category", "add", "a//b", ok=False)
        assert bad.returncode == 1 and "a//b" in bad.stderr
        cats = json.loads(tg(home, "category", "ls", "--json").stdout)
        assert cats == [{"name": "[b]films[/b]", "save_path": ""},
                        {"name": "tv", "save_path": str(tv)}]
        listed = tg(home, "category", "ls").stdout
        assert "[b]films[/b]" in listed and str(tv) in listed
        tg(home, "add", str(files[0]), "--category", "tv", "--tag", "new", "--tag", " hd ",
           "--paused")
        tg(home, "add", str(files[1]), "-d", str(home / "dl"), "--paused")
        unknown = tg(home, "add", str(files[1]), "--category", "nope", ok=False)
        assert "nope" in unknown.stderr
        client = d.client()
        try:
            client.wait_for(lambda s: len(s.torrents) == 2, 20)
        finally:
            client.stop()
        rows = {t["name"]: t for t in ls(home)}
        assert rows["one"]["category"] == "tv" and rows["one"]["tags"] == ["hd", "new"]
        assert rows["one"]["save_path"] == str(tv)  # the category's save path
        n1, n2 = str(rows["one"]["number"]), str(rows["two"]["number"])

        refused = tg(home, "tag", n1, "--add", HOSTILE, ok=False)  # no control characters
        assert "\x1b" not in refused.stderr and "control characters" in refused.stderr
        tg(home, "tag", n1, n2, "--add", MARKUP, "--add", "x")
        shown = tg(home, "tag", n2)
        assert "\x1b" not in shown.stderr and "[red]x[/red]" in shown.stderr
        tg(home, "tag", n1, "--remove", "new")
        tg(home, "category", "set", n2, "[b]films[/b]")
        refused = tg(home, "category", "set", n2, "nope", ok=False)
        assert "nope" in refused.stderr

        def names(*args: str) -> set[str]:
            return {t["name"] for t in json.loads(tg(home, "ls", "--json", *args).stdout)}
        assert names("--category", "tv") == {"one"}
        assert names("--tag", "x") == {"one", "two"}
        assert names("--tag", "x", "--tag", "hd") == {"one"}
        assert names("--category", "") == set()
        piped = tg(home, "ls").stdout.splitlines()
        assert piped[0].split()[-2:] == ["Category", "Tags"]
        assert "\x1b" not in "".join(piped)

        tg(home, "category", "rm", "[b]films[/b]")
        tg(home, "tag", n1, n2, "--clear")
        tg(home, "category", "set", n1, "--none")
        rows = {t["name"]: t for t in ls(home)}
        assert [(r["category"], r["tags"]) for r in rows.values()] == [("", []), ("", [])]
        assert json.loads(tg(home, "category", "ls", "--json").stdout) == [
            {"name": "tv", "save_path": str(tv)}]
    finally:
        d.stop()
