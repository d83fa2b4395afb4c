"""``tidegate qbt password``: set the qBittorrent API's password (only its hash is kept).

The password counts at the next login, daemon running or not: the endpoint reads the
stored hash at every login (docs/qbittorrent-api.md).
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys

from tidegate.engine.config import load
from tidegate.engine.errors import InputError
from tidegate.engine.qbt.auth import MAX_PASSWORD, store_password

from ..console import note


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("qbt", help="the qBittorrent Web API endpoint (qbt.enabled)")
    verbs = p.add_subparsers(dest="qbt_command", metavar="COMMAND", required=True)
    s = verbs.add_parser("password", help="set the password its login (qbt.username) takes")
    how = s.add_mutually_exclusive_group()
    how.add_argument("--stdin", action="store_true",
                     help="read the password from the first line of standard input")
    how.add_argument("--generate", action="store_true",
                     help="make a random password and print it (once)")
    s.set_defaults(run=run_password)


def run_password(args: argparse.Namespace) -> int:
    loaded = load()
    if args.generate:
        password = secrets.token_urlsafe(12)
    elif args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("new qBittorrent API password: ")
        if getpass.getpass("again: ") != password:
            raise InputError("password", "the two passwords differ")
    if not password or len(password) > MAX_PASSWORD:
        raise InputError("password", f"a password has 1 to {MAX_PASSWORD} characters")
    path = store_password(loaded.paths.data_dir, password)
    if args.generate:
        print(password)
    note(f"password of {loaded.config.qbt.username!r} stored hashed in {path}")
    return 0
