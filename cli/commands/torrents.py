"""Daemon commands that add and list: ``add``, ``ls``, ``show``, ``stats``."""

from __future__ import annotations

import argparse
import time
from collections import Counter

from tidegate.engine import commands as cmds
from tidegate.engine import units as fmt
from tidegate.engine.config import load
from tidegate.engine.errors import TidegateError
from tidegate.engine.state import PartState, Snapshot, TorrentDetails, TorrentState

from ..console import clean, fail, note, out, print_json
from ..remote import add_connect_options, connect, local_folder, ordered, resolve
from ..session import resolve_peer
from ..tables import KEEP_ALWAYS, Column, print_table


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("add", help="add .torrent files (paths or http(s) URLs), magnets or "
                                   "info-hashes to the running daemon")
    a.add_argument("sources", nargs="+", metavar="TORRENT|URL|MAGNET")
    a.add_argument("-d", "--dir", help="download folder (default: the daemon's)")
    a.add_argument("--paused", action="store_true", help="add without starting")
    a.add_argument("--sequential", action="store_true", help="download pieces in order")
    a.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                   help="connect to this peer (repeatable)")
    a.add_argument("--web-seed", action="append", default=[], metavar="URL",
                   help="also download from this BEP 19 web seed (repeatable)")
    a.add_argument("--category", default="", metavar="NAME",
                   help="put it in this category (saved in its save path unless -d)")
    a.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="give it this tag (repeatable)")
    a.add_argument("--json", action="store_true", help="print the added ids as JSON")
    add_connect_options(a)
    a.set_defaults(run=run_add)

    ls = sub.add_parser("ls", help="list the daemon's torrents")
    ls.add_argument("--json", action="store_true", help="print every field as JSON")
    ls.add_argument("-a", "--all", action="store_true",
                    help="also the torrents sites need (their snapshots and chains), "
                         "labelled with their site")
    ls.add_argument("--category", metavar="NAME",
                    help="only the torrents in this category (\"\" those in none)")
    ls.add_argument("--tag", action="append", default=[], metavar="TAG",
                    help="only the torrents with this tag (repeatable: with all of them)")
    add_connect_options(ls)
    ls.set_defaults(run=run_ls)

    sh = sub.add_parser("show", help="files, peers and trackers of one torrent")
    sh.add_argument("id", metavar="ID",
                    help="torrent number (first column of `tidegate ls`) or info-hash prefix")
    sh.add_argument("--json", action="store_true")
    add_connect_options(sh)
    sh.set_defaults(run=run_show)

    st = sub.add_parser("stats", help="session totals of the running daemon")
    st.add_argument("--json", action="store_true")
    add_connect_options(st)
    st.set_defaults(run=run_stats)


def run_add(args: argparse.Namespace) -> int:
    # libtorrent: imported by the command that uses it
    from tidegate.engine.metainfo import request_for

    loaded = load()
    folder = local_folder(args.dir)
    peers = tuple(resolve_peer(p) for p in args.peer)
    requests = [request_for(src, loaded.config.limits, config=loaded.config,
                            save_path=folder, paused=args.paused,
                            sequential=args.sequential, peers=peers,
                            web_seeds=tuple(args.web_seed), category=args.category,
                            tags=tuple(args.tag)) for src in args.sources]
    client = connect(args, loaded)
    added: list[dict[str, str]] = []
    failed = 0
    try:
        known = set(client.snapshot.torrents)
        futures = [(req, client.run(cmds.Add(req))) for req in requests]
        for req, fut in futures:
            try:
                tid = fut.result()
            except TidegateError as exc:
                failed += 1
                fail(str(exc))
                continue
            added.append({"id": tid, "source": req.source})
            if not args.json:
                out.print(f"{tid}  {clean(req.source)}", markup=False)
            if tid in known:  # only with peers: an add again without them is refused
                note(f"{tid} was already added: connecting to {len(req.peers)} peers, "
                     f"kept with it")
    finally:
        client.stop()
    if args.json:
        print_json(added)
    return 1 if failed else 0


def run_ls(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        snap = client.snapshot
    finally:
        client.stop()
    torrents = ordered(snap)
    if snap.stats.loading:  # the daemon has just started: its list is not complete yet
        note(f"the daemon is still loading {snap.stats.loading:,} more torrents from its "
             f"resume folder; this list is not complete yet")
    hidden = 0
    if not args.all:
        shown = [t for t in torrents if not t.site]
        hidden = len(torrents) - len(shown)
        torrents = shown
    if args.category is not None:
        torrents = [t for t in torrents if t.category == args.category]
    if args.tag:
        wanted = {tag.strip() for tag in args.tag}
        torrents = [t for t in torrents if wanted <= set(t.tags)]
    if args.json:
        print_json([_fields(t) for t in torrents])
        return 0
    if not torrents:
        note("no torrents (add some with `tidegate add`)" if not hidden else
             f"no torrents of yours; {hidden} that sites need are hidden (`tidegate ls --all`)")
        return 0
    from rich.text import Text

    rows = [(str(t.number), t.id[:8], Text(site_label(snap, t) + clean(t.name)),
             fmt.size(t.total_size), f"{t.progress:.0%}", t.phase.value,
             fmt.rate(t.download_rate), fmt.rate(t.upload_rate),
             f"{t.num_peers}({t.num_seeds})", f"{t.ratio:.2f}", fmt.eta(t.eta, t.finished),
             Text(clean(t.category)), Text(", ".join(clean(x) for x in t.tags)))
            for t in torrents]
    print_table(LS_COLUMNS, rows)
    if hidden:
        note(f"{hidden} torrents that sites need are not shown (`tidegate ls --all`)")
    return 0


LS_COLUMNS = (
    Column("#", 90, "right"), Column("ID", 60),
    Column("Name", KEEP_ALWAYS, wrap=True, min_width=24),
    Column("Size", 40, "right"), Column("Done", 80, "right"), Column("State", 85),
    Column("Down", 70, "right"), Column("Up", 65, "right"), Column("Peers", 30, "right"),
    Column("Ratio", 20, "right"), Column("ETA", 35, "right"),
    Column("Category", 25, wrap=True, min_width=8), Column("Tags", 15, wrap=True, min_width=8),
)
"""``tidegate ls``: on a narrow terminal columns empty in every row go first (Category and
Tags, when no torrent has one), then Tags, Ratio, Category, Peers, ETA, Size, ID...;
Name is never dropped."""


def site_label(snap: Snapshot, t: TorrentState) -> str:
    """``[site <name> <role>] `` before the name of a torrent a site needs, else ""."""
    if not t.site:
        return ""
    site = snap.sites.get(t.site)
    name = clean(site.name if site and site.name else t.site[:16])
    return f"[site {name} {clean(t.site_role) or 'torrent'}] "


def _fields(t: TorrentState) -> dict[str, object]:
    return {f: getattr(t, f) for f in t.__struct_fields__}


def run_show(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        tid = resolve(client.snapshot, args.id)
        details = client.run(cmds.Details(tid)).result()
    finally:
        client.stop()
    if args.json:
        print_json(details)
        return 0
    _print_details(details)
    return 0


def _print_details(d: TorrentDetails) -> None:
    t = d.torrent
    site = f"\n  site      {clean(t.site)} ({clean(t.site_role)})" if t.site else ""
    if t.category or t.tags:
        site += (f"\n  category  {clean(t.category) or '-'}\n"
                 f"  tags      {', '.join(clean(x) for x in t.tags) or '-'}")
    eta = fmt.eta(t.eta, t.finished)
    out.print(f"{clean(t.name)}\n  number    {t.number}\n  id        {t.id}{site}\n"
              f"  state     {t.phase.value}"
              f"{'  (' + clean(t.error) + ')' if t.error else ''}\n"
              f"  progress  {t.progress:.1%} of {fmt.size(t.wanted)} "
              f"({fmt.size(t.total_size)} in torrent)\n"
              f"  rates     down {fmt.rate(t.download_rate)}  up {fmt.rate(t.upload_rate)}\n"
              f"  eta       {eta or '-'}\n"
              f"  folder    {clean(t.save_path)}\n  magnet    {d.magnet}", markup=False)
    from rich.text import Text

    out.print(f"files ({len(d.files)}):", markup=False)
    if d.files:  # none until a magnet's metadata arrives
        print_table(FILE_COLUMNS, [
            (str(f.index), f"{f.done / f.size if f.size else 1.0:.0%}", str(f.priority),
             fmt.size(f.size), Text(clean(f.path))) for f in d.files])
    out.print(f"peers ({len(d.peers)}):", markup=False)
    if d.peers:
        print_table(PEER_COLUMNS, [
            (f"{p.address}:{p.port}", Text(clean(p.client)), p.flags,
             fmt.rate(p.download_rate), fmt.rate(p.upload_rate), f"{p.progress:.0%}")
            for p in d.peers])
    out.print(f"trackers ({len(d.trackers)}):", markup=False)
    if d.trackers:
        print_table(TRACKER_COLUMNS, [
            (str(tr.tier), Text(clean(tr.url)), tr.status, str(tr.fails), str(tr.seeds),
             str(tr.leechers),
             fmt.duration(tr.next_announce) if tr.next_announce >= 0 else "-",
             Text(clean(tr.last_error))) for tr in d.trackers])


FILE_COLUMNS = (
    Column("#", 90, "right"), Column("Done", 80, "right"), Column("Prio", 30, "right"),
    Column("Size", 70, "right"), Column("Path", KEEP_ALWAYS, wrap=True, min_width=20),
)
PEER_COLUMNS = (
    Column("Address", KEEP_ALWAYS), Column("Client", 40, wrap=True, min_width=10),
    Column("Flags", 20), Column("Down", 80, "right"), Column("Up", 70, "right"),
    Column("Done", 60, "right"),
)
TRACKER_COLUMNS = (
    Column("Tier", 20, "right"), Column("URL", KEEP_ALWAYS, wrap=True, min_width=20),
    Column("Status", 90), Column("Fails", 50, "right"), Column("Seeds", 40, "right"),
    Column("Leechers", 35, "right"), Column("Next", 30, "right"),
    Column("Error", 85, wrap=True, min_width=12),
)


def run_stats(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        snap = client.snapshot
        pid = client.daemon_pid
    finally:
        client.stop()
    phases = Counter(t.phase.value for t in snap.torrents.values())
    if args.json:
        print_json({"daemon_pid": pid, "torrents": len(snap.torrents),
                    "phases": dict(phases), "stats": snap.stats,
                    "parts": list(snap.parts.values())})
        return 0
    _print_stats(snap, phases, pid)
    return 0


def _print_stats(snap: Snapshot, phases: Counter[str], pid: int | None) -> None:
    s = snap.stats
    by_phase = ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items())) or "none"
    out.print(f"daemon pid   {pid}\ntorrents     {len(snap.torrents)} ({by_phase})\n"
              f"download     {fmt.rate(s.payload_download_rate)} (limit "
              f"{_limit(s.download_limit)}), {fmt.size(s.total_download)} total\n"
              f"upload       {fmt.rate(s.payload_upload_rate)} (limit "
              f"{_limit(s.upload_limit)}), {fmt.size(s.total_upload)} total\n"
              f"peers        {s.num_peers}\ndht nodes    {s.dht_nodes}\n"
              f"listen port  {s.listen_port}", markup=False)
    for part in snap.parts.values():  # a long name still leaves a space before its line
        out.print(f"{'part ' + part.name:<12} {part_line(part)}", markup=False)


def part_line(part: PartState) -> str:
    """``running``, or ``restarting (3 restarts; died: ...)`` (docs/watcher.md)."""
    text = part.status
    extra = []
    if part.restarts:
        extra.append(f"{part.restarts} restart{'s' if part.restarts != 1 else ''}")
    if part.status != "running" and part.retry_at:
        extra.append(f"next try at {time.strftime('%H:%M:%S', time.localtime(part.retry_at))}")
    if part.failure:
        extra.append(f"last failure: {clean(part.failure)}")
    return f"{text} ({'; '.join(extra)})" if extra else text


def _limit(v: int) -> str:
    return fmt.rate(v) if v else "unlimited"
