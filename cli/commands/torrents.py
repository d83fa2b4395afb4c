"""Daemon commands that add and list: ``add``, ``ls``, ``show``, ``stats``."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from engine import units as fmt
from engine.config import load
from engine.errors import TidegateError
from engine.metainfo import request_for
from engine.state import Snapshot, TorrentDetails, TorrentState

from ..console import clean, fail, note, out, print_json
from ..remote import add_connect_options, connect, ordered, resolve
from ..session import resolve_peer


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("add", help="add torrents or magnets to the running daemon")
    a.add_argument("sources", nargs="+", metavar="TORRENT|MAGNET")
    a.add_argument("-d", "--dir", help="download folder (default: the daemon's)")
    a.add_argument("--paused", action="store_true", help="add without starting")
    a.add_argument("--sequential", action="store_true", help="download pieces in order")
    a.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                   help="connect to this peer (repeatable)")
    a.add_argument("--web-seed", action="append", default=[], metavar="URL",
                   help="also download from this BEP 19 web seed (repeatable)")
    a.add_argument("--json", action="store_true", help="print the added ids as JSON")
    add_connect_options(a)
    a.set_defaults(run=run_add)

    ls = sub.add_parser("ls", help="list the daemon's torrents")
    ls.add_argument("--json", action="store_true", help="print every field as JSON")
    ls.add_argument("-a", "--all", action="store_true",
                    help="also the torrents sites need (their snapshots and chains), "
                         "labelled with their site")
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
    loaded = load()
    folder = str(Path(args.dir).expanduser().resolve()) if args.dir else None
    peers = tuple(resolve_peer(p) for p in args.peer)
    requests = [request_for(src, loaded.config.limits, save_path=folder, paused=args.paused,
                            sequential=args.sequential, peers=peers,
                            web_seeds=tuple(args.web_seed)) for src in args.sources]
    client = connect(args, loaded)
    added: list[dict[str, str]] = []
    failed = 0
    try:
        known = set(client.snapshot.torrents)
        futures = [(req, client.add(req)) for req in requests]
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
    hidden = 0
    if not args.all:
        shown = [t for t in torrents if not t.site]
        hidden = len(torrents) - len(shown)
        torrents = shown
    if args.json:
        print_json([_fields(t) for t in torrents])
        return 0
    if not torrents:
        note("no torrents (add some with `tidegate add`)" if not hidden else
             f"no torrents of yours; {hidden} that sites need are hidden (`tidegate ls --all`)")
        return 0
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col, justify in (("#", "right"), ("ID", "left"), ("Name", "left"), ("Size", "right"),
                         ("Done", "right"), ("State", "left"), ("Down", "right"),
                         ("Up", "right"), ("Peers", "right"), ("Ratio", "right"),
                         ("ETA", "right")):
        table.add_column(col, justify=justify, no_wrap=col != "Name")  # type: ignore[arg-type]
    for t in torrents:
        table.add_row(str(t.number), t.id[:8], Text(site_label(snap, t) + clean(t.name)),
                      fmt.size(t.total_size), f"{t.progress:.0%}", t.phase.value,
                      fmt.rate(t.download_rate), fmt.rate(t.upload_rate),
                      f"{t.num_peers}({t.num_seeds})", f"{t.ratio:.2f}",
                      fmt.eta(t.eta, t.finished))
    out.print(table, markup=False)
    if hidden:
        note(f"{hidden} torrents that sites need are not shown (`tidegate ls --all`)")
    return 0


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
        details = client.details(tid).result()
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
    eta = fmt.eta(t.eta, t.finished)
    out.print(f"{clean(t.name)}\n  number    {t.number}\n  id        {t.id}{site}\n"
              f"  state     {t.phase.value}"
              f"{'  (' + clean(t.error) + ')' if t.error else ''}\n"
              f"  progress  {t.progress:.1%} of {fmt.size(t.wanted)} "
              f"({fmt.size(t.total_size)} in torrent)\n"
              f"  rates     down {fmt.rate(t.download_rate)}  up {fmt.rate(t.upload_rate)}\n"
              f"  eta       {eta or '-'}\n"
              f"  folder    {clean(t.save_path)}\n  magnet    {d.magnet}", markup=False)
    out.print(f"files ({len(d.files)}):", markup=False)
    for f in d.files:
        done = f.done / f.size if f.size else 1.0
        out.print(f"  {f.index:>4}  {done:>4.0%}  prio {f.priority}  {fmt.size(f.size):>10}  "
                  f"{clean(f.path)}", markup=False)
    out.print(f"peers ({len(d.peers)}):", markup=False)
    for p in d.peers:
        out.print(f"  {p.address}:{p.port}  {clean(p.client)[:24]:<24} {p.flags:<6} "
                  f"down {fmt.rate(p.download_rate)}  up {fmt.rate(p.upload_rate)}  "
                  f"{p.progress:.0%}", markup=False)
    out.print(f"trackers ({len(d.trackers)}):", markup=False)
    for tr in d.trackers:
        retry = f"  failed {tr.fails}x" if tr.fails else ""
        nxt = f"  next {fmt.duration(tr.next_announce)}" if tr.next_announce >= 0 else ""
        out.print(f"  tier {tr.tier}  {clean(tr.url)}  {tr.status}{retry}  seeds {tr.seeds}  "
                  f"leechers {tr.leechers}{nxt}  {clean(tr.last_error)}", markup=False)


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
                    "phases": dict(phases), "stats": snap.stats})
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


def _limit(v: int) -> str:
    return fmt.rate(v) if v else "unlimited"
