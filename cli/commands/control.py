"""Daemon commands that change torrents: pause, resume, recheck, reannounce, rm,
prio, limit, move, queue.

Every id is resolved before anything is sent, so a typo in the third id
changes nothing; then each command's result is reported on stderr.
"""

from __future__ import annotations

import argparse
import fnmatch
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidegate.engine import commands as cmds
from tidegate.engine import units as fmt
from tidegate.engine.config import load
from tidegate.engine.errors import InputError, SiteTorrentError, TidegateError
from tidegate.engine.requests import QUEUE_MOVES

from ..console import clean, fail, note
from ..remote import add_connect_options, connect, resolve, resolve_all

if TYPE_CHECKING:
    from tidegate.engine.api import RemoteEngine

PRIORITIES = {"skip": 0, "low": 1, "normal": 4, "high": 7}

_SIMPLE: dict[str, tuple[str, Callable[[RemoteEngine, str], Future[Any]]]] = {
    "pause": ("stop torrents until resumed", lambda c, t: c.run(cmds.Pause(t))),
    "resume": ("start paused torrents", lambda c, t: c.run(cmds.Resume(t))),
    "recheck": ("hash-check torrents' data again", lambda c, t: c.run(cmds.Recheck(t))),
    "reannounce": ("announce to trackers now", lambda c, t: c.run(cmds.Reannounce(t))),
}


def register(sub: argparse._SubParsersAction) -> None:
    for name, (help_text, _fn) in _SIMPLE.items():
        p = sub.add_parser(name, help=help_text)
        p.add_argument("ids", nargs="+", metavar="ID",
                       help="torrent number (first column of `tidegate ls`) or info-hash prefix")
        add_connect_options(p)
        p.set_defaults(run=run_simple, action=name)

    rm = sub.add_parser("rm", help="remove torrents from the daemon")
    rm.add_argument("ids", nargs="+", metavar="ID",
                    help="torrent number (first column of `tidegate ls`) or info-hash prefix")
    rm.add_argument("--delete-data", action="store_true", help="also delete downloaded files")
    rm.add_argument("--force", action="store_true",
                    help="also remove a torrent a site needs (its snapshot or chain)")
    add_connect_options(rm)
    rm.set_defaults(run=run_rm)

    pr = sub.add_parser("prio", help="set file priorities: prio ID FILE... LEVEL")
    pr.add_argument("id", metavar="ID")
    pr.add_argument("files", nargs="+", metavar="FILE",
                    help="file index or path (shell patterns allowed), then the LEVEL: "
                         "skip, low, normal, high or 0-7")
    add_connect_options(pr)
    pr.set_defaults(run=run_prio)

    lim = sub.add_parser("limit", help="rate and share limits of one torrent, or global rate "
                                       "limits without ID; with no limit given, shows them")
    lim.add_argument("id", nargs="?", metavar="ID")
    lim.add_argument("--down", metavar="RATE", help="e.g. 500K, 2M; 0 is unlimited")
    lim.add_argument("--up", metavar="RATE", help="e.g. 500K, 2M; 0 is unlimited")
    lim.add_argument("--ratio", metavar="RATIO",
                     help="stop seeding at this share ratio; 0 never, -1 the config's")
    lim.add_argument("--seed-time", metavar="SECONDS",
                     help="stop seeding after this long; 0 never, -1 the config's")
    add_connect_options(lim)
    lim.set_defaults(run=run_limit)

    mv = sub.add_parser("move", help="move a torrent's data to another folder")
    mv.add_argument("id", metavar="ID")
    mv.add_argument("folder", metavar="DIR")
    add_connect_options(mv)
    mv.set_defaults(run=run_move)

    qu = sub.add_parser("queue", help="move torrents in the queue (the order queued torrents "
                                      "start in): queue ID... up|down|top|bottom")
    qu.add_argument("ids", nargs="+", metavar="ID")
    qu.add_argument("where", choices=QUEUE_MOVES, metavar="up|down|top|bottom")
    add_connect_options(qu)
    qu.set_defaults(run=run_queue)


def report(client: RemoteEngine, jobs: list[tuple[str, Future[Any]]], done: str,
            says: Callable[[Any], str] | None = None) -> int:
    """One line per torrent: ``done: name`` (or ``says(result): name``), or its error."""
    failed = 0
    for tid, fut in jobs:
        state = client.snapshot.torrents.get(tid)
        name = clean(state.name) if state else tid
        try:
            result = fut.result()
        except TidegateError as exc:
            failed += 1
            fail(f"{name}: {exc}")
            continue
        note(f"{says(result) if says else done}: {name}")
    return 1 if failed else 0


def announced(where: list[str]) -> str:
    """What ``reannounce`` did, from the engine's answer."""
    if not where:
        return ("nowhere to announce to (no tracker; DHT and local discovery are off or the "
                "torrent is private)")
    return "announced to " + ", ".join(where)


def run_simple(args: argparse.Namespace) -> int:
    _help, fn = _SIMPLE[args.action]
    client = connect(args)
    try:
        ids = resolve_all(client.snapshot, args.ids)
        says = announced if args.action == "reannounce" else None
        return report(client, [(t, fn(client, t)) for t in ids], args.action, says)
    finally:
        client.stop()


def run_rm(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        snap = client.snapshot
        ids = resolve_all(snap, args.ids)
        for tid in ids:  # before anything is removed: a site's torrent ends the command
            t = snap.torrents[tid]
            if t.site and not args.force:
                site = snap.sites.get(t.site)
                raise SiteTorrentError(tid, t.name, t.site, site.name if site else "",
                                       t.site_role)
        jobs = [(t, client.run(cmds.Remove(t, args.delete_data, args.force))) for t in ids]
        return report(client, jobs, "removed with its data" if args.delete_data else "removed")
    finally:
        client.stop()


def parse_level(text: str) -> int:
    t = text.strip().lower()
    if t in PRIORITIES:
        return PRIORITIES[t]
    level = fmt.decimal(t, 1)
    if level is not None and level <= 7:
        return level
    raise InputError(text, "priority must be skip, low, normal, high or a number 0-7")


def run_prio(args: argparse.Namespace) -> int:
    if len(args.files) < 2:
        raise InputError(" ".join(args.files), "give at least one FILE and then a LEVEL")
    *selectors, level_text = args.files
    level = parse_level(level_text)
    client = connect(args)
    try:
        tid = resolve(client.snapshot, args.id)
        details = client.run(cmds.Details(tid)).result()
        chosen: dict[int, int] = {}
        for sel in selectors:
            hits = [f.index for f in details.files
                    if f.index == fmt.decimal(sel)
                    or f.path == sel or Path(f.path).name == sel
                    or fnmatch.fnmatchcase(f.path, sel)]
            if not hits:
                raise InputError(sel, f"no file of {clean(details.torrent.name)} matches (see "
                                      f"`tidegate show {args.id}`)")
            chosen.update(dict.fromkeys(hits, level))
        client.run(cmds.SetFilePriorities(tid, chosen)).result()
    finally:
        client.stop()
    note(f"priority {level} set on {len(chosen)} file(s)")
    return 0


def run_limit(args: argparse.Namespace) -> int:
    down = _rate(args.down, "--down") if args.down is not None else None
    up = _rate(args.up, "--up") if args.up is not None else None
    # the engine checks the range (and refuses NaN and infinities); this only reads numbers
    ratio = _number(args.ratio, "--ratio", float) if args.ratio is not None else None
    seed_time = _number(args.seed_time, "--seed-time", int) if args.seed_time is not None \
        else None
    share = ratio is not None or seed_time is not None
    if share and args.id is None:
        raise InputError("limit", "--ratio and --seed-time need a torrent ID")
    show_only = down is None and up is None and not share
    loaded = load()
    client = connect(args, loaded)
    try:
        if args.id is None:
            if not show_only:
                client.run(cmds.SetGlobalLimits(down, up)).result()
            stats = client.snapshot.stats
            what = "global limits"
            rates = (stats.download_limit, stats.upload_limit)
            shares: tuple[float, int] | None = None
        else:
            tid = resolve(client.snapshot, args.id)
            if down is not None or up is not None:
                client.run(cmds.SetLimits(tid, down, up)).result()
            if share:
                client.run(cmds.SetShareLimits(tid, ratio, seed_time)).result()
            t = client.snapshot.torrents[tid]
            what = f"limits of {tid[:8]} {clean(t.name)}"
            rates = (t.download_limit, t.upload_limit)
            shares = (t.ratio_limit, t.seed_time_limit)
    finally:
        client.stop()
    if not show_only:  # what was asked for: the snapshot may not show it yet
        rates = (rates[0] if down is None else down, rates[1] if up is None else up)
        if shares is not None:
            shares = (shares[0] if ratio is None else ratio,
                      shares[1] if seed_time is None else seed_time)
    shown = [f"down {_limit(rates[0])}", f"up {_limit(rates[1])}"]
    if shares is not None:
        shown += [f"ratio {_share(shares[0], ':g')}", f"seed time {_share(shares[1], ' s')}"]
    note(f"{what}: {', '.join(shown)}")
    if any(rates) and not loaded.config.rates.limit_local_peers:
        note("peers on this computer and the local network are not limited "
             "(rates.limit_local_peers = false: set it to true to limit them too)")
    return 0


def _limit(v: int) -> str:
    return fmt.rate(v) if v else "unlimited"


def _share(v: float, unit: str) -> str:
    if v < 0:
        return "the config's"
    if v == 0:
        return "never"
    return f"{v:g}" if unit == ":g" else f"{v:g}{unit}"


def _number(text: str, flag: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        raise InputError(f"{flag} {text}", f"not {'a whole' if kind is int else 'a'} "
                                           "number") from None


def _rate(text: str, flag: str) -> int:
    try:
        return fmt.parse_rate(text)
    except ValueError as exc:
        raise InputError(f"{flag} {text}", str(exc)) from None


def run_move(args: argparse.Namespace) -> int:
    folder = str(Path(args.folder).expanduser().resolve())
    client = connect(args)
    try:
        tid = resolve(client.snapshot, args.id)
        new = client.run(cmds.Move(tid, folder)).result()
    finally:
        client.stop()
    note(f"moved to {clean(new)}")
    return 0


def run_queue(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        ids = resolve_all(client.snapshot, args.ids)
        torrents = client.snapshot.torrents
        # sent in an order that keeps the named torrents' order among themselves (the
        # daemon runs them in the order they arrive): up and bottom nearest the top first
        ids.sort(key=lambda t: torrents[t].queue_position,
                 reverse=args.where in ("down", "top"))
        jobs = [(t, client.run(cmds.QueueMove(t, args.where))) for t in ids]
        return report(client, jobs, f"moved {args.where}" if args.where in ("up", "down")
                       else f"moved to the {args.where}")
    finally:
        client.stop()
