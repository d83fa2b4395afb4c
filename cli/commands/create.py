"""``tidegate create``: make a .torrent (v1, v2 or hybrid) with a progress bar."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

from tidegate.engine import units as fmt

from ..console import err, line, note, print_json

# metainfo imports libtorrent: imported by the commands that use it
if TYPE_CHECKING:
    from tidegate.engine.metainfo import Created, CreateSpec, Format


def add_format_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--v1", dest="format", action="store_const", const="v1",
                   help="BitTorrent v1 only (SHA-1)")
    g.add_argument("--v2", dest="format", action="store_const", const="v2",
                   help="BitTorrent v2 only (SHA-256 merkle trees)")
    g.add_argument("--hybrid", dest="format", action="store_const", const="hybrid",
                   help="both v1 and v2 (default); transmission 3.00 and aria2 1.36 cannot "
                        "use it: --v1 for them (docs/interop.md)")
    p.add_argument("--tracker", action="append", default=[], metavar="URL",
                   help="announce URL (repeatable; one tier each)")
    p.add_argument("--piece-size", type=fmt.parse_size, default=0, metavar="N",
                   help="piece size, e.g. 256K or 4M (default: chosen from the total size)")


def spec_format(args: argparse.Namespace) -> Format:
    return cast("Format", args.format or "hybrid")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("create", help="create a .torrent from a file or folder")
    p.add_argument("path", metavar="PATH")
    p.add_argument("-o", "--output", help="where to write the .torrent (default: NAME.torrent)")
    add_format_options(p)
    p.add_argument("--web-seed", action="append", default=[], metavar="URL",
                   help="HTTP web seed (repeatable)")
    p.add_argument("--comment", default="")
    p.add_argument("--private", action="store_true", help="set the private flag (no DHT/PEX)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


@contextlib.contextmanager
def hashing_progress(quiet: bool) -> Iterator[Callable[[int, int], None]]:
    if quiet or not err.is_terminal:
        yield lambda done, total: None  # nothing drawn: rich is not even loaded
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("hashing"), BarColumn(), MofNCompleteColumn(), TextColumn("pieces"),
               TimeRemainingColumn()]
    with Progress(*columns, console=err.console, transient=True, refresh_per_second=4) as bar:
        task = bar.add_task("hash", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield on_progress


def build(spec: CreateSpec, quiet: bool) -> Created:
    """Hash with a progress bar on stderr. Ctrl-C raises out of the per-piece callback,
    which stops hashing at the next piece."""
    # libtorrent: imported by the command that uses it
    from tidegate.engine.metainfo import create_torrent

    with hashing_progress(quiet) as on_progress:
        return create_torrent(spec, on_progress)


def run(args: argparse.Namespace) -> int:
    # libtorrent: imported by the command that uses it
    from tidegate.engine.metainfo import CreateSpec

    spec = CreateSpec(path=args.path, format=spec_format(args), trackers=tuple(args.tracker),
                      web_seeds=tuple(args.web_seed), comment=args.comment, private=args.private,
                      piece_size=args.piece_size or 0)
    created = build(spec, quiet=args.json)
    target = Path(args.output) if args.output else Path(f"{created.name}.torrent")
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(created.data)
    tmp.replace(target)
    if args.json:
        print_json({"file": str(target), "name": created.name, "magnet": created.magnet,
                    "info_hash_v1": created.info_hash_v1, "info_hash_v2": created.info_hash_v2,
                    "size": created.total_size, "files": created.num_files,
                    "pieces": created.num_pieces, "piece_size": created.piece_size})
    else:
        line(created.magnet)
        if created.info_hash_v1:
            line(f"info-hash v1: {created.info_hash_v1}")
        if created.info_hash_v2:
            line(f"info-hash v2: {created.info_hash_v2}")
        note(f"wrote {target} ({created.num_files} files, {fmt.size(created.total_size)}, "
             f"{created.num_pieces} pieces of {fmt.size(created.piece_size)})")
    return 0
