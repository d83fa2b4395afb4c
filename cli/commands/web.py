"""The Smart Proxy from the command line: ``tidegate proxy`` (where it listens, what it
did) and ``tidegate stream`` (URLs that play a torrent's files while they download)."""

from __future__ import annotations

import argparse
import fnmatch
import json
from urllib.parse import quote

import msgspec

from tidegate.engine import commands as cmds
from tidegate.engine.errors import InputError
from tidegate.engine.state import WebState

from ..console import clean, note
from ..remote import add_connect_options, connect, resolve


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("proxy", help="the Smart Proxy: its address, PAC file and counters")
    p.add_argument("--json", action="store_true", help="print every field as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_proxy)

    p = sub.add_parser("stream", help="URLs that stream a torrent's files while they "
                                      "download (open them in a browser or mpv)")
    p.add_argument("torrent", metavar="TORRENT",
                   help="torrent number (first column of `tidegate ls`) or info-hash prefix")
    p.add_argument("files", nargs="*", metavar="GLOB",
                   help="only files whose path matches (default: every file)")
    add_connect_options(p)
    p.set_defaults(run=run_stream)


def proxy_url(web: WebState) -> str:
    """The proxy's base URL; InputError saying why when it is not running."""
    if not web.url:
        why = web.error or "it is off (web.enabled) or the daemon runs no sites"
        raise InputError("web", f"the Smart Proxy is not running: {why}")
    return web.url


def site_url(web: WebState, address: str) -> str:
    return f"http://{address.removesuffix('.onion')}.localhost:{web.port}/"


def run_proxy(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        web = client.snapshot.web
    finally:
        client.stop()
    if args.json:
        print(json.dumps(msgspec.to_builtins(web), indent=2))
        return 0
    base = proxy_url(web)
    print(f"listening   {base}")
    print(f"onion PAC   {base}proxy.pac")
    print(f"responses   {web.served:,} verified, {web.refused:,} refused, "
          f"{web.bad:,} files that failed verification")
    print(f"connections at most {web.max_connections:,} at once (file descriptors), "
          f"{web.busy:,} refused at that limit")
    return 0


def run_stream(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        snap = client.snapshot
        tid = resolve(snap, args.torrent)
        base = proxy_url(snap.web)
        details = client.run(cmds.Details(tid)).result()
    finally:
        client.stop()
    files = [f for f in details.files
             if not args.files or any(fnmatch.fnmatch(f.path, g) for g in args.files)]
    if not files:
        raise InputError(" ".join(args.files), f"no file of torrent {tid[:12]} matches")
    for f in files:
        print(f"{base}torrent/{snap.web.token}/{tid}/{quote(f.path)}")
    if len(files) == 1:
        note(f"streams {clean(files[0].path)}: pieces are fetched first where it is read")
    note("the URLs carry your proxy token: other users of this computer get 403 without it")
    return 0
