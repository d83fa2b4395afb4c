"""Daemon commands for categories and tags: ``category add/rm/ls/set`` and ``tag``.

Names come from users and other programs (a qBittorrent client may have made them):
every one printed goes through ``console.clean``, never as markup. Every torrent id is
resolved before anything is sent, as ``pause`` does.
"""

from __future__ import annotations

import argparse

from tidegate.engine import commands as cmds
from tidegate.engine.errors import InputError
from tidegate.engine.labels import check_tags
from tidegate.engine.state import TorrentState

from ..console import clean, note, print_json
from ..remote import add_connect_options, connect, local_folder, resolve_all
from ..tables import KEEP_ALWAYS, Column, print_table
from .control import report

ID_HELP = "torrent number (first column of `tidegate ls`) or info-hash prefix"


def register(sub: argparse._SubParsersAction) -> None:
    cat = sub.add_parser("category", help="categories (each with an optional save path) and "
                                          "the torrents in them")
    verbs = cat.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="add a category, or give one a new save path")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--save-path", metavar="DIR", default="",
                     help="where torrents put in it are moved (and added to it are saved)")
    add.set_defaults(run=run_add)
    rm = verbs.add_parser("rm", help="remove categories (their torrents are left with none)")
    rm.add_argument("names", nargs="+", metavar="NAME")
    rm.set_defaults(run=run_rm)
    ls = verbs.add_parser("ls", help="list the categories")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=run_ls)
    st = verbs.add_parser("set", help="put torrents in a category (its save path moves their "
                                      "data): category set ID... NAME")
    st.add_argument("args", nargs="+", metavar="ID... NAME")
    st.add_argument("--none", action="store_true",
                    help="take the torrents out of their category (then every word is an ID)")
    st.set_defaults(run=run_set)
    for p in (add, rm, ls, st):
        add_connect_options(p)

    tag = sub.add_parser("tag", help="add or remove tags of torrents; with neither, show them")
    tag.add_argument("ids", nargs="+", metavar="ID", help=ID_HELP)
    tag.add_argument("--add", action="append", default=[], metavar="TAG",
                     help="give the torrents this tag (repeatable)")
    tag.add_argument("--remove", action="append", default=[], metavar="TAG",
                     help="take this tag from them (repeatable)")
    tag.add_argument("--clear", action="store_true", help="take every tag from them")
    add_connect_options(tag)
    tag.set_defaults(run=run_tag)


def run_add(args: argparse.Namespace) -> int:
    save_path = local_folder(args.save_path) or ""
    client = connect(args)
    try:
        client.run(cmds.CategoryAdd(args.name, save_path)).result()
    finally:
        client.stop()
    note(f"category {clean(args.name)}: "
         f"{'save path ' + clean(save_path) if save_path else 'no save path'}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        client.run(cmds.CategoryRemove(list(dict.fromkeys(args.names)))).result()
    finally:
        client.stop()
    note(f"removed: {', '.join(clean(n) for n in args.names)}")
    return 0


def run_ls(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        snap = client.snapshot
    finally:
        client.stop()
    categories = sorted(snap.categories.values(), key=lambda c: c.name)
    if args.json:
        print_json(categories)
        return 0
    if not categories:
        note("no categories (add one with `tidegate category add NAME [--save-path DIR]`)")
        return 0
    from rich.text import Text

    count: dict[str, int] = {}
    for t in snap.torrents.values():
        count[t.category] = count.get(t.category, 0) + 1
    print_table(CATEGORY_COLUMNS, [
        (Text(clean(c.name)), str(count.get(c.name, 0)), Text(clean(c.save_path) or "-"))
        for c in categories])
    return 0


CATEGORY_COLUMNS = (
    Column("Category", KEEP_ALWAYS, wrap=True, min_width=10),
    Column("Torrents", 50, "right"),
    Column("Save path", 40, wrap=True, min_width=12),
)


def run_set(args: argparse.Namespace) -> int:
    words = list(args.args)
    if args.none:
        name = ""
    elif len(words) < 2:
        raise InputError(" ".join(words), "give one or more torrent IDs, then the category "
                                          "(or --none)")
    else:
        name = words.pop()
    client = connect(args)
    try:
        ids = resolve_all(client.snapshot, words)
        job = client.run(cmds.SetCategory(ids, name))
        return report(client, [(t, job) for t in ids],
                      f"in category {clean(name)}" if name else "in no category")
    finally:
        client.stop()


def run_tag(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        snap = client.snapshot
        ids = resolve_all(snap, args.ids)
        if not (args.add or args.remove or args.clear):
            for tid in ids:
                t = snap.torrents[tid]
                note(f"{clean(t.name)}: {tags_text(t) or '(no tags)'}")
            return 0
        if args.clear and args.remove:
            raise InputError("--clear", "--clear takes every tag already: no --remove")
        added, removed = set(check_tags(args.add)), set(check_tags(args.remove))
        jobs = []
        if args.clear or removed:
            jobs.append(client.run(cmds.RemoveTags(ids, [] if args.clear else sorted(removed))))
        if added:
            jobs.append(client.run(cmds.AddTags(ids, sorted(added))))
        for job in jobs:
            job.result()
        for tid in ids:  # what the engine now holds (the snapshot may not show it yet)
            t = snap.torrents[tid]
            kept = set() if args.clear else set(t.tags) - removed
            shown = ", ".join(clean(x) for x in sorted(kept | added))
            note(f"{clean(t.name)}: {shown or '(no tags)'}")
        return 0
    finally:
        client.stop()


def tags_text(t: TorrentState) -> str:
    """A torrent's tags for people, cleaned: ``a, b``."""
    return ", ".join(clean(tag) for tag in t.tags)
