"""``tidegate seed`` and ``tidegate share``: serve data until interrupted."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.engine import AddRequest, Phase, Snapshot
from tidegate.engine import units as fmt

from ..console import clean, err, note, out, print_json
from ..session import load_config, oneshot_engine
from .create import add_format_options, build, spec_format

if TYPE_CHECKING:
    from tidegate.engine import Engine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("seed", help="seed a torrent whose data you have, until interrupted")
    p.add_argument("torrent", metavar="TORRENT", help=".torrent file")
    p.add_argument("-d", "--dir", help="folder that holds the torrent's data "
                                      "(default: the configured download folder)")
    p.add_argument("--listen", metavar="HOST:PORT", help="listen address for peers")
    p.add_argument("--json", action="store_true", help="print the magnet as JSON, then seed")
    p.set_defaults(run=run_seed)

    s = sub.add_parser("share", help="create a torrent from a file or folder and seed it")
    s.add_argument("path", metavar="PATH")
    s.add_argument("--listen", metavar="HOST:PORT", help="listen address for peers")
    s.add_argument("-o", "--output", help="also write the .torrent here")
    s.add_argument("--json", action="store_true", help="print the magnet as JSON, then seed")
    add_format_options(s)
    s.set_defaults(run=run_share)


def run_seed(args: argparse.Namespace) -> int:
    # libtorrent: imported by the command that uses it
    from tidegate.engine.metainfo import read_torrent_file

    loaded = load_config(args.listen)
    data = read_torrent_file(args.torrent, loaded.config.limits)
    folder = Path(args.dir).expanduser().resolve() if args.dir else loaded.download_dir()
    return _serve(loaded, AddRequest(torrent=data, source=args.torrent, save_path=str(folder)),
                  f"seed|{Path(args.torrent).resolve()}|{folder}", args.json)


def run_share(args: argparse.Namespace) -> int:
    # libtorrent: imported by the command that uses it
    from tidegate.engine.metainfo import CreateSpec

    loaded = load_config(args.listen)
    path = Path(args.path).expanduser().resolve()
    spec = CreateSpec(path=str(path), format=spec_format(args), trackers=tuple(args.tracker),
                      piece_size=args.piece_size or 0)
    created = build(spec, quiet=args.json)
    if args.output:
        Path(args.output).write_bytes(created.data)
    req = AddRequest(torrent=created.data, source=str(path), save_path=created.save_path,
                     seed_mode=True)
    return _serve(loaded, req, f"share|{path}", args.json, created.magnet)


def _serve(loaded: object, req: AddRequest, key: str, as_json: bool,
           magnet: str | None = None) -> int:
    engine = oneshot_engine(loaded, key, None)  # type: ignore[arg-type]
    engine.start()
    try:
        tid = engine.add(req).result(30)
        # announce only once the data check is over and the torrent really serves
        snap = engine.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase not in
                               ("checking", "metadata"), 3600)
        port = snap.stats.listen_port or engine.snapshot.stats.listen_port
        details = engine.details(tid).result(10)
        if as_json:
            print_json({"id": tid, "magnet": magnet or details.magnet, "port": port,
                        "name": details.torrent.name})
        else:
            out.print(magnet or details.magnet, markup=False)
            note(f"listening on port {port}; Ctrl-C stops")
        show_seeding(engine, tid, quiet=as_json)
    except KeyboardInterrupt:
        note("stopping")
    finally:
        engine.stop()
    return 0


def _newer_than(seq: int) -> Callable[[Snapshot], bool]:
    return lambda s: s.seq > seq


def show_seeding(engine: Engine, tid: str, quiet: bool = False) -> None:
    """Show upload progress until interrupted."""
    from rich.live import Live
    from rich.text import Text

    warned = False
    with Live(Text(""), console=err.console, transient=True, auto_refresh=False,
              redirect_stdout=False) as live:
        seq = 0
        while True:
            snap = engine.wait_for(_newer_than(seq), 10**6)
            seq = snap.seq
            st = snap.torrents.get(tid)
            if st is None:
                continue
            if st.phase == Phase.DOWNLOADING and not warned and st.has_metadata:
                warned = True
                note(f"only {st.progress:.0%} of the data is present in {st.save_path}; "
                     "seeding what there is")
            if not quiet:
                live.update(Text(
                    f"{clean(st.name)[:40]}  {st.phase}  up {fmt.rate(st.upload_rate)}  "
                    f"sent {fmt.size(st.all_time_upload)}  ratio {st.ratio:.2f}  "
                    f"peers {st.num_peers}"), refresh=True)
