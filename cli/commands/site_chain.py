"""``tidegate site log`` and ``site verify``: a site's chain, entry by entry, and the check
of its chain and newest snapshot on disk. Names, magnets and problems come from strangers
(followed sites): every one goes through :func:`clean`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from tidegate.engine import commands as cmds
from tidegate.engine import units as fmt
from tidegate.engine.state import ChainEntryInfo, SiteReport

from ..console import clean, fail, out, print_json
from ..remote import connect, local_folder


def iso_utc(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_log(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        entries = client.run(cmds.SiteLog(args.site)).result()
    finally:
        client.stop()
    if args.json:
        print_json(entries)
        return 0
    for e in entries:
        out.print(_entry_line(e), markup=False)
    return 0


def _entry_line(e: ChainEntryInfo) -> str:
    head = f"{e.seq:>4}  {e.kind:<7}  {iso_utc(e.time)}  {e.hash[:16]}"
    if e.kind == "genesis":
        return f"{head}  name '{clean(e.name)}'"
    return f"{head}  {e.files:>5} files  {fmt.size(e.size):>10}  {clean(e.magnet)}"


# ---------------------------------------------------------------- verify


def run_verify(args: argparse.Namespace) -> int:
    rebuild = local_folder(args.rebuild)
    client = connect(args)
    try:
        report = client.run(cmds.SiteVerify(args.site, rebuild)).result()
    finally:
        client.stop()
    if args.json:
        print_json(report)
    else:
        _print_report(report, rebuild)
    if report.problems:
        fail(f"{report.address}: {len(report.problems)} problem(s) found"
             + ("" if args.json else " (listed above)"))
        return 1
    return 0


def _print_report(r: SiteReport, rebuild: str | None) -> None:
    chain_ok = not any(p.startswith("chain:") for p in r.problems)
    lines = [f"site      {r.address}",
             f"chain     {'verified from genesis to' if chain_ok else 'FAULTY, see below;'} "
             f"height {r.height}"]
    if r.snapshot >= 0:
        lines.append(f"snapshot  {r.snapshot}: {r.files} file(s) match its manifest "
                     f"({fmt.size(r.bytes)} in the snapshot)")
    else:
        lines.append("snapshot  none on disk")
    if r.rebuilt and rebuild is not None:
        rebuilt_ok = not any(p.startswith("rebuild:") for p in r.problems)
        lines.append(f"rebuild   {clean(rebuild)}: "
                     + ("identical to the head's snapshot" if rebuilt_ok else "differs"))
    if r.problems:
        lines.append(f"problems  {len(r.problems)}:")
        lines += [f"  {clean(p)}" for p in r.problems]
    else:
        lines.append("ok")
    out.print("\n".join(lines), markup=False)
