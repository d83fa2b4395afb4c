"""One command for the whole comparison (``make bench``): downloads, creation, recheck, and
the machine's physical limits beside them, in one table.

In one run, in this order (the other scripts do the work; this one only calls them):

1. the physical limits (bench/limits.py): SHA-1 and SHA-256 on 1 and 2 cores, TCP over
   loopback between two processes, disk write with fsync and cold / warm read;
2. downloads of one big file (``--size``) from one seed (bench/download_vs_clients.py):
   ``tidegate download`` against raw libtorrent with tidegate's settings, raw libtorrent
   with its own defaults, aria2c, transmission-cli and qbittorrent-nox; then
   ``tidegate download`` from the tidegate seed against a qbittorrent-nox seed;
3. recheck of that file (bench/recheck_bench.py): tidegate's ``recheck`` against libtorrent's
   ``force_recheck`` with tidegate's settings, with libtorrent's defaults, and with
   tidegate's settings on an auto-managed torrent (as tidegate's are);
4. creating a torrent of that file (bench/create_vs_tools.py): ``tidegate create`` v1, v2
   and hybrid against libtorrent's ``set_piece_hashes``, and v1 against mktorrent;
5. the downloads again for many small files (``--files`` x ``--file-size``), without
   transmission (under 1 MB/s for small files: it alone would take minutes).

Details go to stderr; stdout gets ONE table: each measurement's tidegate MB/s, the other
side's, the ratio tidegate / other (> 1: tidegate is faster; from the two medians shown), and
the physical limit that bounds it. A missing program's rows say ``missing: NAME`` and the
run ends with exit 3, so a partial table is not mistaken for a full one. Presets: the
default takes ~10-15 minutes, ``--quick`` ~2, ``--smoke`` (for the test) under one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from create_vs_tools import probe_piece, time_creators, tools_for
from download_vs_clients import Bench, make_payload, report, version_of
from download_vs_raw import bench_folder, bench_main, parse_size, tidegate_exe, tidegate_source
from limits import measure_limits
from qbt_client import report_seeds
from recheck_bench import compare_rechecks
from suite_table import Row, create_rows, download_rows, print_table, recheck_rows

# client -> the program it needs (tidegate and raw need only this venv)
PROGRAMS = {"aria2": "aria2c", "transmission": "transmission-cli",
            "qbittorrent": "qbittorrent-nox", "mktorrent": "mktorrent"}
BIG_CLIENTS = ["tidegate", "raw", "raw-defaults", "aria2", "transmission", "qbittorrent"]
SMALL_CLIENTS = ["tidegate", "raw", "raw-defaults", "aria2", "qbittorrent"]
MK_THREADS = 2
CREATORS = ["tidegate v1", "tidegate v2", "tidegate hybrid", "libtorrent v1", "libtorrent v2",
            "libtorrent hybrid", f"mktorrent -t {MK_THREADS}"]
MIB = 1 << 20
# preset: size, files, file_size, rounds, settle, hash/net/disk bytes for the limits, reps
PRESETS: dict[str, dict[str, Any]] = {
    "default": dict(size=512 * MIB, files=2000, file_size=64 << 10, rounds=3, settle=4.0,
                    hash_bytes=256 * MIB, net_bytes=1024 * MIB, disk_bytes=512 * MIB, reps=3),
    "quick": dict(size=128 * MIB, files=300, file_size=64 << 10, rounds=1, settle=1.0,
                  hash_bytes=128 * MIB, net_bytes=512 * MIB, disk_bytes=128 * MIB, reps=3),
    "smoke": dict(size=16 * MIB, files=40, file_size=64 << 10, rounds=1, settle=0.2,
                  hash_bytes=16 * MIB, net_bytes=64 * MIB, disk_bytes=16 * MIB, reps=1),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, 1 round (~2 min)")
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, for the test")
    p.add_argument("--size", type=parse_size, help="big payload (default 512M; 128M quick)")
    p.add_argument("--files", type=int, help="small files (default 2000; 300 quick)")
    p.add_argument("--rounds", type=int, help="measured rounds (default 3; 1 quick)")
    p.add_argument("--settle", type=float, help="seconds before each download (default 4)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds one download or check may take")
    p.add_argument("--tmp", default=None, help="parent folder for the temporary data")
    p.add_argument("--json-out", metavar="FILE", help="also write everything as JSON here")
    args = p.parse_args(argv)
    args.mode = "quick" if args.quick else "smoke" if args.smoke else "default"
    for key, value in PRESETS[args.mode].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.rounds < 1 or args.files < 1 or args.settle < 0:
        p.error("--rounds and --files must be at least 1, --settle >= 0")
    args.format, args.seeds = "v1", "both"  # for download_vs_clients.Bench
    return args


def find_missing() -> dict[str, str]:
    """client -> program, for every program not on PATH."""
    return {c: prog for c, prog in PROGRAMS.items() if shutil.which(prog) is None}


def run_downloads(bench: Bench, kind: str, clients: list[str], tmp: Path, exe: str,
                  args: argparse.Namespace, after: Any = None) -> dict[str, Any]:
    """One payload through every client (and both seeds when qbittorrent is there);
    ``after(payload, src)`` runs before the payload's data is deleted."""
    pl, src = make_payload(kind, tmp, exe, args)
    try:
        bench.args.clients = clients
        bench.args.seeds = "both" if "qbittorrent" in clients else "tidegate"
        bench.run_payload(pl, src)
        with contextlib.redirect_stdout(sys.stderr):
            out = report(pl, clients, args.rounds)
            if pl.seed_runs:
                out["seeds"] = report_seeds(pl)
        if after is not None:
            after(pl, src)
    finally:
        shutil.rmtree(src, ignore_errors=True)
    return out


def run_creation(tmp: Path, exe: str, data: Path, args: argparse.Namespace,
                 missing: dict[str, str]) -> dict[str, float]:
    """Median seconds per creator in CREATORS (mktorrent left out when missing)."""
    env = {**os.environ, "TIDEGATE_HOME": str(tmp / "create-home")}
    ref, piece = probe_piece(exe, data, tmp, env)
    tools, outputs = tools_for(exe, data, tmp, piece, MK_THREADS)
    names = [n for n in CREATORS if not (n.startswith("mktorrent") and "mktorrent" in missing)]
    runs = time_creators(tmp, data, names, tools, outputs, ref, piece, args.rounds, env)
    return {n: statistics.median(r["wall_s"] for r in runs if r["what"] == n) for n in names}


@bench_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()
    missing = find_missing()
    for prog in missing.values():
        print(f"missing: {prog} (its rows will say so; the run will exit 3)", file=sys.stderr)
    big = [c for c in BIG_CLIENTS if c not in missing]
    small = [c for c in SMALL_CLIENTS if c not in missing]
    results: dict[str, Any] = {}
    with bench_folder("tidegate-suite-", args.tmp) as tmp:
        exe = tidegate_exe()
        source = tidegate_source(tmp)
        print(f"tidegate under test: {source}", file=sys.stderr, flush=True)
        versions = {prog: version_of([prog, "--version"], tmp / f"v-{prog}.log")
                    for c, prog in PROGRAMS.items() if c not in missing and c != "mktorrent"}
        versions["libtorrent"] = version_of([sys.executable, "-c", "import libtorrent as lt; "
                                             "print(lt.__version__)"], tmp / "v-lt.log")
        print("limits", file=sys.stderr, flush=True)
        results["limits"] = measure_limits(tmp, args.hash_bytes, args.net_bytes,
                                           args.disk_bytes, args.reps)
        bench = Bench(args, tmp, exe)

        def recheck_and_create(pl: Any, src: Path) -> None:
            print("recheck", file=sys.stderr, flush=True)
            results["recheck"] = compare_rechecks(tmp, exe, pl, src, args.rounds,
                                                  args.timeout)
            print("creation", file=sys.stderr, flush=True)
            results["create"] = run_creation(tmp, exe, src / pl.name, args, missing)

        print("downloads: big", file=sys.stderr, flush=True)
        results["big"] = run_downloads(bench, "big", big, tmp, exe, args, recheck_and_create)
        print("downloads: small", file=sys.stderr, flush=True)
        results["small"] = run_downloads(bench, "small", small, tmp, exe, args)
        source_after = tidegate_source(tmp)

    lim = results["limits"]
    rows: list[Row] = (
        download_rows(f"download {args.size / MIB:.0f} MiB", results["big"], BIG_CLIENTS,
                      missing, lim)
        + recheck_rows(f"recheck {args.size / MIB:.0f} MiB", results["recheck"], args.size,
                       lim)
        + create_rows(f"create {args.size / MIB:.0f} MiB", results["create"], args.size,
                      missing, lim)
        + download_rows(f"download {args.files} x {args.file_size >> 10} KiB",
                        results["small"], SMALL_CLIENTS, missing, lim))
    print(f"## make bench ({args.mode}): {args.rounds} round(s), medians, MB = 10^6 bytes\n")
    print_table(rows, sys.stdout)
    load_after = os.getloadavg()
    print("\nlimits (MB/s): " + ", ".join(f"{k} {v:.0f}" for k, v in lim.items())
          + "; disk read cold = after POSIX_FADV_DONTNEED (the VM's host may still cache it)")
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; bench took "
          f"{time.monotonic() - started:.0f} s")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"tidegate under test: {source}")
    if source_after != source:
        print(f"WARNING: tidegate changed during the run; now {source_after}")
    if missing:
        print(f"INCOMPLETE: missing {', '.join(sorted(set(missing.values())))}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"mode": args.mode, "args": {k: v for k, v in vars(args).items()},
             "tidegate": source, "versions": versions, "missing": sorted(missing.values()),
             "load": [load_before[0], load_after[0]], "results": results,
             "rows": [r.as_dict() for r in rows]}, indent=2, default=str))
    if missing:
        print(f"error: missing {', '.join(sorted(set(missing.values())))}: the table is "
              "partial", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
