"""``tidegate download``: fetch one torrent with an embedded engine, then exit.

Exits 0 only when every wanted byte is downloaded, hash-checked and flushed to
disk. On Ctrl-C or failure the engine stops cleanly, so resume data is kept and
running the same command again continues where it stopped.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.engine import Phase, Snapshot, TorrentState
from tidegate.engine import units as fmt
from tidegate.engine.events import TorrentErrored
from tidegate.engine.safetext import clean

from ..console import done, err, fail, note, print_json
from ..session import load_config, oneshot_engine, resolve_peer
from .seed import show_seeding

if TYPE_CHECKING:
    from tidegate.engine import Engine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="download one torrent and exit when it is complete")
    p.add_argument("source", metavar="TORRENT|MAGNET", help=".torrent file, magnet URI or hash")
    p.add_argument("-d", "--dir", help="download folder (default: the configured one)")
    p.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                   help="connect to this peer (repeatable); works with no tracker or DHT")
    p.add_argument("--web-seed", action="append", default=[], metavar="URL",
                   help="also download from this BEP 19 web seed (repeatable)")
    p.add_argument("--seed", action="store_true", help="keep seeding after the download")
    p.add_argument("--sequential", action="store_true", help="download pieces in order")
    p.add_argument("--listen", metavar="HOST:PORT", help="listen address for peers")
    p.add_argument("--timeout", type=float, default=0,
                   help="give up after this many seconds (default: never)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # libtorrent: imported by the command that uses it
    from tidegate.engine.metainfo import request_for

    loaded = load_config(args.listen)
    target = Path(args.dir).expanduser().resolve() if args.dir else loaded.download_dir()
    peers = tuple(resolve_peer(p) for p in args.peer)
    req = request_for(args.source, loaded.config.limits, config=loaded.config,
                      save_path=str(target), peers=peers,
                      sequential=args.sequential, web_seeds=tuple(args.web_seed))
    engine = oneshot_engine(loaded, f"{args.source}|{target}", target)
    engine.start()
    events = engine.subscribe()
    tid: str | None = None
    interrupted = ok = False
    message = ""
    t_add = time.monotonic()
    seconds = 0.0
    try:
        tid = engine.add(req).result(30)
        ok, message = _watch(engine, tid, events, args.timeout, quiet=args.json)
        seconds = time.monotonic() - t_add
        if ok and args.seed:
            note("download complete; seeding until interrupted (Ctrl-C)")
            show_seeding(engine, tid)
    except KeyboardInterrupt:
        interrupted = True
        ok, message = False, "interrupted; run the same command again to continue"
    finally:
        state = engine.snapshot.torrents.get(tid) if tid else None
        # complete: its resume data is deleted just below, so it is not saved first
        engine.stop(save=not (ok and state is not None and state.complete_on_disk))
    if not ok or state is None:
        fail(message)
        return 130 if interrupted else 1
    shutil.rmtree(engine.state_dir, ignore_errors=True)  # complete: nothing to continue
    if args.json:
        print_json({"id": state.id, "name": state.name, "path": str(target / state.name),
                    "size": state.total_size, "info_hash_v1": state.info_hash_v1,
                    "info_hash_v2": state.info_hash_v2, "seconds": round(seconds, 4)})
    else:
        done("complete", f"{state.name} ({fmt.size(state.total_size)}) in {target}, "
                         f"{seconds:.1f} s")
    return 0


def _watch(engine: Engine, tid: str, events: object, timeout: float,
           quiet: bool) -> tuple[bool, str]:
    """Wait until the torrent is complete on disk, fails or times out; a progress bar on
    stderr meanwhile when it is a terminal (and not ``quiet``)."""
    if quiet or not err.is_terminal:
        return _wait(engine, tid, events, timeout, lambda st: None)
    # imported here: rich.progress costs ~20 ms of start-up that other commands need not pay
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    # the description is the torrent's name: shown as it is, never as markup or emoji codes
    columns = [TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
               TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[peers]}"),
               TimeRemainingColumn()]
    with Progress(*columns, console=err.console, transient=True,
                  refresh_per_second=4) as bar:
        task = bar.add_task("metadata", total=None, rate="", peers="")

        def show(st: TorrentState) -> None:
            bar.update(task, description=clean(st.name)[:40], total=st.wanted or None,
                       completed=st.wanted_done, rate=fmt.rate(st.download_rate),
                       peers=f"{st.num_peers} peers")

        return _wait(engine, tid, events, timeout, show)


def _wait(engine: Engine, tid: str, events: object, timeout: float,
          show: Callable[[TorrentState], None]) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout if timeout > 0 else None
    while True:
        for ev in events.drain():  # type: ignore[attr-defined]
            if isinstance(ev, TorrentErrored) and ev.torrent_id == tid:
                return False, f"{ev.message} {ev.file}".strip()
        try:
            snap = engine.wait_for(lambda s: s.torrents.get(tid) is not None, 1.0)
        except TimeoutError:
            continue
        st = snap.torrents[tid]
        if st.phase == Phase.ERROR:
            return False, st.error
        if st.complete_on_disk:
            return True, ""
        show(st)
        if deadline is not None and time.monotonic() > deadline:
            return False, f"not complete after {timeout:g} s ({st.progress:.0%}); " \
                          "resume data kept, run again to continue"
        engine.wait_for(_newer_than(snap.seq), 5.0)


def _newer_than(seq: int) -> Callable[[Snapshot], bool]:
    return lambda s: s.seq > seq
