"""``tidegate turtle on|off|status``: the alternative global limits (turtle mode).

A switch by hand holds until the speed schedule's next boundary (``[schedule] windows``),
or until switched again when there is no schedule (docs/automation.md "Speed schedule").
"""

from __future__ import annotations

import argparse
import sys
import time

from tidegate.engine import commands as cmds
from tidegate.engine import units as fmt
from tidegate.engine.state import SessionStats

from ..console import note, print_json
from ..remote import add_connect_options, connect

WAIT = 5.0
"""Seconds to wait for the snapshot that shows the switch."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("turtle", help="turtle mode: the alternative global limits "
                                      "([schedule] alt_download, alt_upload) on, off, or show "
                                      "which limits are in force")
    p.add_argument("state", nargs="?", choices=("on", "off", "status"), default="status")
    p.add_argument("--json", action="store_true", help="print the state as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_turtle)


def describe(stats: SessionStats) -> str:
    """``turtle mode on (by hand, until Mon 18:00): down 100 KiB/s, up unlimited``."""
    alt = stats.alt_speed
    why = {"manual": "by hand", "schedule": "by the schedule"}.get(alt.by, "")
    if alt.until:
        until = f"until {time.strftime('%a %H:%M', time.localtime(alt.until))}"
        why = f"{why}, {until}" if why else until
    limits = [f"down {fmt.rate(stats.download_limit) if stats.download_limit else 'unlimited'}",
              f"up {fmt.rate(stats.upload_limit) if stats.upload_limit else 'unlimited'}"]
    return (f"turtle mode {'on' if alt.on else 'off'}{f' ({why})' if why else ''}: "
            f"{', '.join(limits)}")


def run_turtle(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        if args.state != "status":
            on = args.state == "on"
            client.run(cmds.SetAltSpeed(on=on)).result()
            snap = client.wait_for(lambda s: s.stats.alt_speed.on == on, WAIT)
        else:
            snap = client.snapshot
    finally:
        client.stop()
    if args.json:
        print_json(snap.stats.alt_speed)
    elif args.state == "status":
        sys.stdout.write(describe(snap.stats) + "\n")
    else:
        note(describe(snap.stats))
    return 0
