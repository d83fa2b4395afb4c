"""Tables that fit the terminal, through the real ``tidegate`` command: at 80 and 120
columns Name is kept and numbers are never cut (whole columns go instead); piped, every
column is printed whole, one row per line, with no box drawing and no ``…``."""

from __future__ import annotations

import json
import re
import shutil

from rich.cells import cell_len

from tests.cli.test_cli_remote import tg
from tests.conftest import make_payload, make_torrent
from tests.helpers.daemon_util import DaemonProc, short_home
from tidegate.cli.commands.sites import SITE_COLUMNS
from tidegate.cli.commands.torrents import FILE_COLUMNS, LS_COLUMNS, TRACKER_COLUMNS
from tidegate.cli.tables import KEEP_ALWAYS, Column, fit

SGR = re.compile(r"\x1b\[[0-9;]*m")
BOX = re.compile("[\u2500-\u257f]")
TRACKER = "http://127.0.0.1:9/a/tracker/with/a/rather/long/announce/path/that/wraps/announce"
LONG = "a-rather-long-torrent-name-that-people-really-give-their-downloads-2026-final"


def terminal(columns: int) -> dict[str, str]:
    return {"TTY_COMPATIBLE": "1", "FORCE_COLOR": "1", "COLUMNS": str(columns)}


def plain(text: str) -> str:
    return SGR.sub("", text)


def headers(text: str, columns: tuple[Column, ...]) -> list[str]:
    first = text.splitlines()[0].split()
    return [c.header for c in columns if c.header in first]


def column_text(text: str, header: str) -> str:
    """Everything in the column under ``header`` (left-aligned text that may wrap), joined:
    cells are at least two spaces apart, and a wrapped name holds no two spaces in a row."""
    lines = text.splitlines()
    start = lines[0].index(header)
    return "".join(line[start:].strip().split("  ")[0] for line in lines[1:])


def check_terminal_table(text: str, width: int, columns: tuple[Column, ...]) -> list[str]:
    assert "…" not in text and not BOX.search(text), text
    for line in text.splitlines():
        assert cell_len(line) <= width, (width, line)
    shown = headers(text, columns)
    for c in columns:
        if c.keep >= KEEP_ALWAYS:
            assert c.header in shown, text
    return shown


def test_fit_drops_least_important_whole_columns() -> None:
    cols = (Column("Name", KEEP_ALWAYS, wrap=True, min_width=10), Column("A", 10),
            Column("B", 90), Column("C", 50))
    rows = [("x" * 40, "1" * 10, "2" * 10, "3" * 10)]
    assert fit(cols, rows, 200) == [0, 1, 2, 3]
    assert fit(cols, rows, 10 + 2 + 10 + 2 + 10 + 2 + 10) == [0, 1, 2, 3]
    assert fit(cols, rows, 40) == [0, 2, 3]      # A goes first
    assert fit(cols, rows, 30) == [0, 2]         # then C; B stays
    assert fit(cols, rows, 5) == [0]             # Name is never dropped


def test_site_ls_keeps_name_and_error_at_120() -> None:
    row = ("my-blog", "a" * 56 + ".onion", "follower", "12", "3 min", "12", "12",
           "40% of 13", "3", "2", "hosting: no peer has the data yet")
    shown = [SITE_COLUMNS[i].header for i in fit(SITE_COLUMNS, [row], 120)]
    assert {"Name", "Address", "Error", "Height"} <= set(shown), shown
    shown = [SITE_COLUMNS[i].header for i in fit(SITE_COLUMNS, [row], 80)]
    assert {"Name", "Error"} <= set(shown), shown


def test_ls_and_show_fit_80_and_120_columns_and_pipe_whole(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    try:
        payload = make_payload(home / "src", LONG, sizes=(300_000, 200_000))
        deep = payload / ("sub-folder-with-a-long-name/" * 3)
        deep.mkdir(parents=True)
        (deep / "the-file-at-the-bottom.bin").write_bytes(b"z" * 5000)
        created = make_torrent(payload, trackers=[TRACKER])
        torrent = home / "t.torrent"
        torrent.write_bytes(created.data)
        tg(home, "add", str(torrent), "-d", str(home / "src"), "--paused")
        magnet_name = "another+very+long+magnet+display+name+for+the+list+of+torrents"
        tg(home, "add", f"magnet:?xt=urn:btih:{'ab' * 20}&dn={magnet_name}", "--paused")
        client = d.client()
        try:
            client.wait_for(lambda s: len(s.torrents) == 2, 20)
        finally:
            client.stop()

        at80 = plain(tg(home, "ls", env=terminal(80)).stdout)
        shown80 = check_terminal_table(at80, 80, LS_COLUMNS)
        assert "Name" in shown80 and len(shown80) < len(LS_COLUMNS), at80
        assert "Ratio" not in shown80  # the least important goes first
        # the name wraps inside its column but is all there
        assert LONG in column_text(at80, "Name"), at80
        at120 = plain(tg(home, "ls", env=terminal(120)).stdout)
        shown120 = check_terminal_table(at120, 120, LS_COLUMNS)
        assert set(shown80) < set(shown120), (shown80, shown120)
        # numbers are right-aligned under their header
        head, *rows = at120.splitlines()
        end = head.index("Done") + len("Done")
        assert all(r[end - 1] == "%" for r in rows if r[:3].strip().isdigit()), at120
        # every number shown is whole; a paused torrent's ETA is blank, never "∞"
        assert "∞" not in at120 and "…" not in at120

        piped = tg(home, "ls").stdout
        assert "…" not in piped and not BOX.search(piped) and "\x1b" not in piped
        lines = piped.splitlines()
        assert lines[0].split() == [c.header for c in LS_COLUMNS]
        assert len(lines) == 3, piped  # header + one line per torrent
        assert any(LONG in line for line in lines[1:]), piped
        assert any(magnet_name.replace("+", " ") in line for line in lines[1:]), piped
        assert tg(home, "ls").stdout == piped  # stable

        # show: the files table, piped and at 80 columns
        number = next(str(t["number"]) for t in json.loads(tg(home, "ls", "--json").stdout)
                      if t["id"] == created.info_hash_v1)
        shown = tg(home, "show", number).stdout
        bottom = f"{LONG}/{'sub-folder-with-a-long-name/' * 3}the-file-at-the-bottom.bin"
        assert any(line.endswith(bottom) for line in shown.splitlines()), shown
        assert "…" not in shown
        narrow = plain(tg(home, "show", number, env=terminal(80)).stdout)
        files = narrow[narrow.index("files ("):narrow.index("peers (")]
        files = files.split("\n", 1)[1]
        check_terminal_table(files, 80, FILE_COLUMNS)
        assert bottom in column_text(files, "Path"), files
        assert "4.9 KiB" in files  # the size column is whole
        trackers = narrow[narrow.index("trackers ("):].split("\n", 1)[1]
        shown_tr = check_terminal_table(trackers, 80, TRACKER_COLUMNS)
        assert "Status" in shown_tr and TRACKER in column_text(trackers, "URL"), trackers
        piped_tr = shown[shown.index("trackers ("):].splitlines()[1:]
        assert piped_tr[0].split() == [c.header for c in TRACKER_COLUMNS], shown
        assert TRACKER in piped_tr[1], shown

        # no metadata yet: no files, and no header of an empty table
        bare = tg(home, "show", "abababab").stdout
        assert "files (0):\npeers (0):\ntrackers (0):\n" in bare, bare

        # info: the same helper
        info80 = plain(tg(home, "info", str(torrent), env=terminal(80)).stdout)
        lines = info80.splitlines()
        head = next(i for i, x in enumerate(lines) if x.split() == ["size", "path"])
        files = "\n".join(x for x in lines[head:] if not x.startswith("magnet:"))
        check_terminal_table(files, 80, (Column("size"), Column("path", KEEP_ALWAYS)))
        assert bottom in column_text(files, "path"), files
        assert any(line.endswith(bottom) for line in tg(home, "info", str(torrent))
                   .stdout.splitlines())
    finally:
        d.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_site_ls_keeps_name_and_error(daemons: list[DaemonProc]) -> None:
    from tests.cli.test_cli_sites import site_home
    from tests.cli.test_cli_sites import tg as stg
    from tests.sites.test_chain_damage import _flip_last

    home = site_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    try:
        src = home / "src"
        src.mkdir()
        (src / "index.html").write_text("hi")
        name = "my-site-with-a-name-long-enough-to-wrap-in-a-narrow-terminal"
        address = stg(home, "site", "new", name, str(src)).stdout.strip()
        assert stg(home, "site", "publish", name).stdout.startswith("height 1")
        for width in (80, 120):
            text = plain(tg(home, "site", "ls", env=terminal(width)).stdout)
            shown = check_terminal_table(text, width, SITE_COLUMNS)
            assert name in column_text(text, "Name"), text
            if width >= 120:
                assert {"Address", "Height", "Progress"} <= set(shown), text
                assert address in text
            # alone, the daemon's DHT has no node: the site says its head is not announced
            assert "announced" in column_text(text, "Error"), text
        piped = tg(home, "site", "ls").stdout
        assert piped.splitlines()[0].split() == [c.header for c in SITE_COLUMNS]
        assert any(name in x and address in x for x in piped.splitlines()[1:]), piped
        assert "…" not in piped and not BOX.search(piped)

        # a damaged chain file: the site has an error, which 80 and 120 columns both show
        d.stop()
        _flip_last(home / "data" / "sites" / address / "chain")
        d = DaemonProc(home).start()
        daemons.append(d)
        [site] = json.loads(tg(home, "site", "ls", "--json").stdout)
        assert "damaged" in site["error"], site
        for width in (80, 120):
            text = plain(tg(home, "site", "ls", env=terminal(width)).stdout)
            shown = check_terminal_table(text, width, SITE_COLUMNS)
            assert {"Name", "Error"} <= set(shown), text
            assert "damaged" in column_text(text, "Error"), text
            assert name in column_text(text, "Name"), text
            if width >= 120:
                assert "Address" in shown and address in text, text
        piped = tg(home, "site", "ls").stdout
        assert "damaged" in piped.splitlines()[1] and address in piped.splitlines()[1]
    finally:
        d.stop()
        shutil.rmtree(home, ignore_errors=True)
