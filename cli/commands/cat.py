"""``tidegate cat ID FILE [--range A-B]``: a torrent's file to stdout, while it downloads.

Reads through the daemon's ``torrent_read`` (1 MiB at a time; missing pieces are asked
for first), so ``tidegate cat 3 0 --range 50000000- | mpv -`` plays from the middle of a
video the torrent has not reached yet. Only hash-checked bytes are written; stdout gets
nothing else (messages go to stderr).
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from tidegate.engine import commands as cmds
from tidegate.engine.commands_stream import MAX_READ
from tidegate.engine.errors import InputError

from ..remote import add_connect_options, connect, resolve

_RANGE = re.compile(r"(\d{1,19})-(\d{0,19})")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cat", help="write a torrent's file (or a byte range of it) to stdout, "
                                   "while it downloads")
    p.add_argument("id", help="torrent number or info-hash prefix (`tidegate ls`)")
    p.add_argument("file", help="the file's index or path (`tidegate show ID` lists them)")
    p.add_argument("--range", metavar="A-B", default=None,
                   help="bytes A to B of the file, both included (A- : from A to the end)")
    add_connect_options(p)
    p.set_defaults(run=run_cat)


def parse_range(text: str | None, size: int) -> tuple[int, int]:
    """``(start, end)``, end exclusive, of ``--range`` within a file of ``size`` bytes."""
    if text is None:
        return 0, size
    m = _RANGE.fullmatch(text.strip())
    if m is None:
        raise InputError(text, "--range must be A-B or A- (byte offsets, B included)")
    start = int(m.group(1))
    end = min(size, int(m.group(2)) + 1) if m.group(2) else size
    if start > size or end < start:
        raise InputError(text, f"--range is outside the file ({size} bytes)")
    return start, end


def run_cat(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        tid = resolve(client.snapshot, args.id)
        files = client.run(cmds.Details(tid)).result().files
        f = next((x for x in files if str(x.index) == args.file or x.path == args.file), None)
        if f is None:
            raise InputError(args.file, f"torrent {tid} has no such file (index or path: "
                                        f"`tidegate show {args.id}` lists them)"
                             if files else f"torrent {tid} has no metadata yet")
        pos, end = parse_range(args.range, f.size)
        out = sys.stdout.buffer
        try:
            while pos < end:
                data = client.run(cmds.TorrentRead(tid, f.index, pos,
                                                   min(MAX_READ, end - pos))).result().data
                if not data:
                    break
                out.write(data)
                pos += len(data)
            out.flush()
        except BrokenPipeError:  # `| head -c N`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        client.stop()
