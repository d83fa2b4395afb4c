"""Entry point of the ``tidegate`` command: parse, dispatch, map errors to exit codes.

Exit codes: 0 success, 1 failure (the message says why), 2 bad usage,
130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from typing import NoReturn

from tidegate import __version__
from tidegate.engine.errors import ConfigError, TidegateError

from .commands import (
    cat,
    comments,
    control,
    create,
    daemon,
    download,
    info,
    labels,
    qbt,
    rss,
    seed,
    sites,
    swarm,
    tor,
    torrents,
    tui,
    turtle,
    watch,
    web,
)
from .console import fail


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidegate",
        description="A terminal BitTorrent client and distributed site-hosting engine.",
        epilog="TIDEGATE_HOME relocates config, data and runtime files.")
    parser.add_argument("--version", action="version", version=f"tidegate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (tui, download, create, seed, info, daemon, torrents, control, labels, swarm,
                   sites, web, tor, qbt, rss, watch, turtle, comments, cat):
        module.register(sub)
    return parser


KEY_OPTIONS = ("--server-key",)
"""Options whose value is a Z85 key, which may start with ``-`` (one key in 85 does)."""


def join_key_values(argv: list[str]) -> list[str]:
    """``--server-key -rP4...`` as ``--server-key=-rP4...``: argparse takes a value that
    starts with ``-`` for another option and refuses the command."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in KEY_OPTIONS and i + 1 < len(argv) and argv[i + 1] != "--":
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    # SIGTERM and SIGHUP stop as cleanly as Ctrl-C: resume data is saved.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    parser = build_parser()
    args = parser.parse_args(comments.shorthand(join_key_values(
        sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "run", None):
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            parser.print_help()  # no terminal to draw on: say what there is instead
            return 0
        args = parser.parse_args(["tui"])
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    except ConfigError as exc:
        fail(str(exc), "fix the file, or run `tidegate config` to see every key and default"
             if exc.path else None)
        return 1
    except TidegateError as exc:
        fail(str(exc))
        return 1
    except BrokenPipeError:
        return 1


def entry() -> NoReturn:
    """The ``tidegate`` command: :func:`main`, then a quick exit."""
    rc = main()
    # Every command has closed and saved what it opened by now. Skip the interpreter's
    # last garbage collection over every object still loaded (~15-20 ms after a
    # download, docs/BENCHMARKS.md): the process ending frees that memory anyway. atexit
    # handlers and the flushing of stdout and stderr still run.
    gc.freeze()
    sys.exit(rc)


if __name__ == "__main__":
    entry()
