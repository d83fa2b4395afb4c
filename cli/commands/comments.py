"""Comments on any URL from the command line (docs/comments.md):

    tidegate comment URL               the thread, as a table (--json: the records' views)
    tidegate comment URL "text" [--reply ID]
    tidegate comment export URL        JSON lines of NIP-22 Nostr events
    tidegate comment import FILE|-     records or Nostr events, one JSON per line
    tidegate comment status            the endpoint, difficulty, author
    tidegate comment peers             the comments network: our announce, each peer

``comment URL ...`` is short for ``comment show URL`` / ``comment post URL TEXT``
(:func:`shorthand`). Comment text, URLs and keys come from strangers: every one printed
goes through ``clean`` and is never markup.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from tidegate.engine import commands as cmds
from tidegate.engine.comments.views import CommentView, ImportResult, threaded
from tidegate.engine.errors import InputError

from ..console import clean, done, err, line, note, print_json
from ..remote import add_connect_options, connect
from ..tables import KEEP_ALWAYS, Column, print_table

VERBS = ("show", "post", "export", "import", "status", "peers")
BATCH = 200
"""Records sent per ``comment_import`` request."""
MAX_LINE = 32 * 1024


def shorthand(argv: list[str]) -> list[str]:
    """``comment URL`` -> ``comment show URL``; ``comment URL TEXT`` -> ``comment post URL
    TEXT``."""
    if len(argv) < 2 or argv[0] != "comment" or argv[1] in VERBS or argv[1].startswith("-"):
        return argv
    positional = [a for a in argv[1:] if not a.startswith("-")]
    return ["comment", "post" if len(positional) >= 2 else "show", *argv[1:]]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("comment", help="comments on any URL: `comment URL` shows them, "
                                       "`comment URL TEXT` posts one")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    show = verbs.add_parser("show", help="a URL's comments as a thread (also `comment URL`)")
    show.add_argument("url", metavar="URL")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=run_show)
    post = verbs.add_parser("post", help="comment on a URL, signed by this node's author "
                                         "key (also `comment URL TEXT`)")
    post.add_argument("url", metavar="URL")
    post.add_argument("text", metavar="TEXT")
    post.add_argument("--reply", default="", metavar="ID",
                      help="the id of the comment this answers")
    post.set_defaults(run=run_post)
    export = verbs.add_parser("export", help="a URL's comments as JSON lines of NIP-22 "
                                             "Nostr events")
    export.add_argument("url", metavar="URL")
    export.set_defaults(run=run_export)
    imp = verbs.add_parser("import", help="import records or Nostr events (one JSON per "
                                          "line), each accepted or refused with its reason")
    imp.add_argument("file", metavar="FILE", help="a file, or - for standard input")
    imp.set_defaults(run=run_import)
    status = verbs.add_parser("status", help="the comment endpoint, difficulty and author")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=run_status)
    peers = verbs.add_parser("peers", help="the comments network: this node's DHT announce "
                                           "and each comment server it pulls from")
    peers.add_argument("--json", action="store_true")
    peers.set_defaults(run=run_peers)
    for q in (show, post, export, imp, status, peers):
        add_connect_options(q)


def _ago(t: int) -> str:
    s = max(0, int(time.time()) - t)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def show_thread(comments: list[CommentView]) -> None:
    """The thread as a table: replies under their parent, indented."""
    if not comments:
        note("no comments yet")
        return
    columns = [Column("ID", keep=60, min_width=8), Column("Author", keep=40),
               Column("When", keep=30, justify="right"),
               Column("Comment", keep=KEEP_ALWAYS, wrap=True, min_width=20)]
    rows = []
    for depth, c in threaded(comments):
        who = c.author[:12] if c.author else "nostr:" + c.nostr[:8]
        text = clean(c.content.replace("\n", " "))
        rows.append([c.id[:12], clean(who), _ago(c.created_at),
                     "  " * depth + ("↳ " if depth else "") + text])
    print_table(columns, rows)


def run_show(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        comments = client.run(cmds.CommentList(args.url)).result()
    finally:
        client.stop()
    if args.json:
        print_json(comments)
    else:
        show_thread(comments)
    return 0


def run_post(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        view = client.run(cmds.CommentPost(args.url, args.text, args.reply)).result()
    finally:
        client.stop()
    done("posted", f"{view.id} on {view.url} ({view.work} bits of work)")
    line(view.id)
    return 0


def run_export(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        events = client.run(cmds.CommentExport(args.url)).result()
    finally:
        client.stop()
    for event in events:
        line(event)
    return 0


def _records(path: str) -> list[tuple[str, str | None]]:
    """The file's records, one JSON per line (or a JSON array), each with where it is
    (``line 3``, ``item 3``); None for one that is not UTF-8 (refused here: the wire
    carries text)."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read it: {exc.strerror}") from None
    if data.lstrip().startswith(b"["):  # a JSON array of records or events
        try:
            items = msgspec.json.decode(data, type=list[msgspec.Raw])
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise InputError(path, f"not a JSON array: {exc}") from None
        chunks = [(f"item {n}", bytes(i)) for n, i in enumerate(items, 1)]
    else:
        chunks = [(f"line {n}", ln) for n, ln in enumerate(data.splitlines(), 1)
                  if ln.strip()]
    out: list[tuple[str, str | None]] = []
    for where, chunk in chunks:
        try:
            out.append((where, chunk.decode("utf-8")))
        except UnicodeDecodeError:
            out.append((where, None))
    return out


def _local_refusal(record: str | None) -> tuple[str, str] | None:
    if record is None:
        return "BadComment", "the line is not valid UTF-8"
    if len(record) > MAX_LINE:
        return "OversizedComment", f"the line is over {MAX_LINE} characters"
    return None


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    if not err.is_terminal or total <= BATCH:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(),
                  console=err.console, transient=True) as bar:
        task = bar.add_task("import", total=total)
        yield lambda n: bar.update(task, completed=n)


def run_import(args: argparse.Namespace) -> int:
    records = _records(args.file)
    results: list[ImportResult] = []
    client = connect(args)
    try:
        with _progress(len(records)) as advance:
            for start in range(0, len(records), BATCH):
                batch = records[start:start + BATCH]
                local = [_local_refusal(r) for _, r in batch]
                sendable = [r if r is not None and why is None else ""
                            for (_, r), why in zip(batch, local, strict=True)]
                for r in client.run(cmds.CommentImport(sendable)).result():
                    why = local[r.index]
                    if why is not None:
                        r = ImportResult(index=r.index, error=why[0], reason=why[1])
                    results.append(msgspec.structs.replace(r, index=start + r.index))
                advance(start + len(batch))
    finally:
        client.stop()
    accepted = sum(1 for r in results if not r.error)
    for r in results:
        if r.error:
            note(f"{records[r.index][0]}: {r.error}: {clean(r.reason)}")
    done("imported", f"{accepted} of {len(results)} accepted")
    return 0 if all(not r.error or r.error == "ReplayedComment" for r in results) else 1


def run_status(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        info = client.run(cmds.CommentStatus()).result()
    finally:
        client.stop()
    if args.json:
        print_json(info)
        return 0
    line(f"endpoint    {info.url or 'not serving'}")
    if info.failure:
        line(f"failure     {clean(info.failure)}")
    line(f"network     {info.network}")
    work = (f"none (allow-list of {info.allow_authors})" if info.allow_authors
            else f"{info.difficulty} bits")
    line(f"work        {work}")
    line(f"comments    {info.count}")
    line(f"author      {info.author}")
    line(f"nostr       {info.nostr}")
    return 0


def run_peers(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        state = client.run(cmds.CommentPeers()).result()
    finally:
        client.stop()
    if args.json:
        print_json(state)
        return 0
    line(f"network     {state.network}")
    line(f"dht topic   {state.topic}")
    line("announced   " + (_ago(int(state.announced_at)) if state.announced_at else "not yet"))
    if state.announce_error:
        line(f"dht error   {clean(state.announce_error)}")
    if state.cursor_error:
        line(f"cursors     {clean(state.cursor_error)}")
    if state.config_error:
        line(f"config      {clean(state.config_error)}")
    if not state.peers:
        note("no peers found yet")
        return 0
    columns = [Column("Peer", keep=KEEP_ALWAYS), Column("From", keep=20),
               Column("Synced", keep=50, justify="right"),
               Column("Pulled", keep=40, justify="right"),
               Column("Refused", keep=45, justify="right"),
               Column("Error", keep=30, wrap=True)]
    rows = [[clean(p.endpoint), p.source,
             _ago(int(p.last_sync)) if p.last_sync else "never", str(p.pulled),
             str(p.refused) + (f" ({', '.join(p.refusals)})" if p.refusals else ""),
             clean(p.last_error)] for p in state.peers]
    print_table(columns, rows)
    return 0
