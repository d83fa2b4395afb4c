"""``tidegate watch list``: the daemon's watch folders (``watch.folders``), each one's
counts and last error. Folders are set in the config file (docs/automation.md)."""

from __future__ import annotations

import argparse
import time

from tidegate.engine import commands as cmds

from ..console import clean, note, print_json
from ..remote import add_connect_options, connect
from ..tables import KEEP_ALWAYS, Column, print_table

COLUMNS = (
    Column("Folder", KEEP_ALWAYS, wrap=True, min_width=20), Column("Category", 40),
    Column("Save path", 30, wrap=True), Column("Added", 80, justify="right"),
    Column("Invalid", 70, justify="right"), Column("Waiting", 60, justify="right"),
    Column("Last error", 90, wrap=True, min_width=20),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("watch", help="watch folders: .torrent and .magnet files dropped "
                                     "there are added (watch.folders)")
    verbs = p.add_subparsers(dest="watch_command", metavar="COMMAND", required=True)
    s = verbs.add_parser("list", help="each watch folder's counts and last error")
    s.add_argument("--json", action="store_true", help="print every field as JSON")
    add_connect_options(s)
    s.set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        folders = client.run(cmds.WatchList()).result()
    finally:
        client.stop()
    if args.json:
        print_json(folders)
        return 0
    if not folders:
        note("no watch folders (list them in the config file: [[watch.folders]] path = ...)")
        return 0
    from rich.text import Text

    now = time.time()
    print_table(COLUMNS, [
        (Text(clean(f.path)), Text(clean(f.category) or "-"), Text(clean(f.save_path) or "-"),
         str(f.added), str(f.invalid), str(f.waiting),
         Text(f"{clean(f.last_error)} ({int(now - f.last_error_time)} s ago)"
              if f.last_error else "-", style="red" if f.last_error else ""))
        for f in folders])
    return 0
