"""Daemon commands that change where a torrent finds peers and how it downloads:
``tracker add|rm``, ``peer add`` and ``sequential``.

Each is one engine command (engine/commands.py) run on the daemon; ids are resolved
before anything is sent, and each torrent's result is reported on stderr.
"""

from __future__ import annotations

import argparse

from tidegate.engine import commands as cmds
from tidegate.engine.errors import InputError

from ..remote import add_connect_options, connect, resolve, resolve_all
from ..session import resolve_peer
from .control import report

ID_HELP = "torrent number (first column of `tidegate ls`) or info-hash prefix"


def register(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("tracker", help="add or remove a torrent's trackers (`tidegate show "
                                        "ID` lists them)")
    tr_sub = tr.add_subparsers(dest="tracker_command", metavar="add|rm", required=True)
    for name, help_text in (("add", cmds.AddTrackers.__doc__),
                            ("rm", cmds.RemoveTrackers.__doc__)):
        p = tr_sub.add_parser(name, help=help_text)
        p.add_argument("id", metavar="ID", help=ID_HELP)
        p.add_argument("urls", nargs="+", metavar="URL")
        add_connect_options(p)
        p.set_defaults(run=run_tracker)

    pe = sub.add_parser("peer", help="connect a torrent to peers (kept, and dialled again at "
                                     "every start)")
    pe_sub = pe.add_subparsers(dest="peer_command", metavar="add", required=True)
    p = pe_sub.add_parser("add", help=cmds.AddPeers.__doc__)
    p.add_argument("id", metavar="ID", help=ID_HELP)
    p.add_argument("peers", nargs="+", metavar="HOST:PORT")
    add_connect_options(p)
    p.set_defaults(run=run_peer_add)

    sq = sub.add_parser("sequential", help=cmds.SetSequential.__doc__)
    sq.add_argument("ids", nargs="+", metavar="ID", help=ID_HELP)
    sq.add_argument("switch", choices=("on", "off"), metavar="on|off")
    add_connect_options(sq)
    sq.set_defaults(run=run_sequential)


def run_tracker(args: argparse.Namespace) -> int:
    urls = list(dict.fromkeys(u.strip() for u in args.urls if u.strip()))
    if not urls:
        raise InputError(" ".join(args.urls), "give at least one tracker URL")
    adding = args.tracker_command == "add"
    client = connect(args)
    try:
        tid = resolve(client.snapshot, args.id)
        command: cmds.Command[None] = (cmds.AddTrackers(tid, urls) if adding
                                       else cmds.RemoveTrackers(tid, urls))
        n = len(urls)
        return report(client, [(tid, client.run(command))],
                      f"{'added' if adding else 'removed'} {n} tracker{'s' * (n != 1)}")
    finally:
        client.stop()


def run_peer_add(args: argparse.Namespace) -> int:
    peers = [resolve_peer(p) for p in args.peers]  # a bad one ends the command first
    client = connect(args)
    try:
        tid = resolve(client.snapshot, args.id)
        n = len(peers)
        return report(client, [(tid, client.run(cmds.AddPeers(tid, peers)))],
                      f"connecting to {n} peer{'s' * (n != 1)} (kept with the torrent)")
    finally:
        client.stop()


def run_sequential(args: argparse.Namespace) -> int:
    on = args.switch == "on"
    client = connect(args)
    try:
        ids = resolve_all(client.snapshot, args.ids)
        jobs = [(t, client.run(cmds.SetSequential(t, on))) for t in ids]
        return report(client, jobs, "sequential on" if on else "sequential off")
    finally:
        client.stop()
