"""Memory per torrent, layer by layer (issue 27): libtorrent's share against tidegate's.

Makes ``--n`` tiny seeding torrents (one ``--file-size`` file each, v1, as
bench/session_scale.py does), adds them to an embedded tidegate ``Engine`` with
``seed_mode`` and stops it (resume data saved), then measures, each in a fresh child
process restoring the same torrents from that resume data:

* **raw**: a bare libtorrent session made by ``engine.torrents.session.make_session``
  (tidegate's settings) that reads each resume file (``lt.read_resume_data``) and adds it,
  one at a time; RSS before the adds (its base) and once every torrent seeds.
  **raw-batch**: the same, done the way tidegate's restore does it (every file parsed
  first, then every torrent added, then the alerts read).
* **tidegate**: an embedded ``Engine`` on the same folder (restore), RSS with no torrents
  (an empty folder: the base) and with all of them seeding; then ``malloc_trim(0)`` (what
  glibc gives back: freed but held memory, i.e. fragmentation); then the size of
  tidegate's own Python objects per layer (the snapshot's ``TorrentState`` values, the
  records, the other per-torrent tables of the torrent manager), counted once each.
* **daemon**: ``tidegate daemon`` (session_scale's config) on a copy of the files: RSS
  above an empty daemon with no client ever connected, and after a ``RemoteEngine`` synced
  a full snapshot, saw every torrent seed and left (``--no-daemon`` skips it: at 50,000
  the daemon's engine did not start within its 10 s).
* **tracemalloc** (``--trace``): the same restore with ``tracemalloc`` on: the Python
  allocations still live once every torrent seeds, grouped by the tidegate line that
  made them (top ``--top``), and their total.

Each child prints one JSON line; the parent prints them and a table of KiB per torrent.
Every process is waited for; the temp folder is deleted (``--keep`` keeps it).

    cd /tmp && PYTHONPATH=/work/wt-memory /work/main/.venv/bin/python \\
        /work/wt-memory/bench/memory_breakdown.py --n 10000 --trace --keep /tmp/tg-mem-10k
    # with MALLOC_ARENA_MAX=2 in the environment to see glibc's arenas' share
    # one child on another tree (main's, say) on the kept files:
    PYTHONPATH=<tree> python memory_breakdown.py _tidegate /tmp/tg-mem-10k/home 10000 3
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def trim() -> int:
    """``malloc_trim(0)``, then the RSS in KiB."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_kib()


def engine_for(home: Path) -> Any:
    from tidegate.engine import Engine
    from tidegate.engine.config import LoadedConfig
    from tidegate.engine.paths import resolve_paths

    cfg = bench_config()
    paths = resolve_paths({"TIDEGATE_HOME": str(home)})
    return Engine(LoadedConfig(cfg, paths, frozenset(), False))


def bench_config() -> Any:
    """session_scale's daemon config: loopback, no web proxy, no sites."""
    import tomllib

    from tidegate.engine.config import from_dict, loopback_toml

    raw = tomllib.loads(loopback_toml() + "\n[web]\nenabled = false\n"
                        "[sites]\nenabled = false\n")
    return from_dict(raw)


def all_seeding(n: int) -> Any:
    return lambda s: len(s.torrents) == n and all(
        t.phase == "seeding" for t in s.torrents.values())


# --------------------------------------------------------------------------- children


def child_seed(home: Path, data: Path, n: int, file_size: int) -> dict[str, Any]:
    from session_scale import make_torrents

    from tidegate.engine import commands as cmds
    from tidegate.engine.requests import AddRequest

    torrents = make_torrents(data, n, file_size)
    engine = engine_for(home).start(60)
    try:
        t0 = time.monotonic()
        futures = [engine.run(cmds.Add(AddRequest(torrent=t, save_path=str(data),
                                                  seed_mode=True))) for t in torrents]
        for f in futures:
            f.result(600)
        engine.wait_for(all_seeding(n), 600)
        added = time.monotonic() - t0
    finally:
        engine.stop(900)  # every resume file written and fsynced
    return {"added_s": round(added, 1)}


def child_raw(home: Path, n: int, settle: float, batch: bool = False) -> dict[str, Any]:
    """``batch``: as tidegate restores (every file parsed first, then every torrent added,
    then the alerts read), not one file at a time with the alerts read as they come."""
    import libtorrent as lt

    from tidegate.engine.torrents.session import make_session

    cfg = bench_config()
    ses = make_session(cfg)
    time.sleep(settle)
    base = rss_kib()
    files = sorted(home.rglob("*.resume"))
    added = 0
    if batch:
        for atp in [lt.read_resume_data(f.read_bytes()) for f in files]:
            ses.async_add_torrent(atp)
    for f in [] if batch else files:
        atp = lt.read_resume_data(f.read_bytes())
        ses.async_add_torrent(atp)
        del atp
        for a in ses.pop_alerts():
            added += isinstance(a, lt.add_torrent_alert)
    deadline = time.monotonic() + 600
    seeding = 0
    while time.monotonic() < deadline:
        ses.wait_for_alert(500)
        for a in ses.pop_alerts():
            added += isinstance(a, lt.add_torrent_alert)
        if added >= len(files):
            st = ses.get_torrent_status(lambda s: True)
            seeding = sum(s.state == lt.torrent_status.seeding for s in st)
            del st
            if seeding == len(files):
                break
    time.sleep(settle)
    rss = rss_kib()
    return {"torrents": len(files), "seeding": seeding, "base_kib": base, "rss_kib": rss,
            "trimmed_kib": trim()}


def child_tidegate(home: Path, n: int, settle: float, trace: bool,
                   top: int) -> dict[str, Any]:
    if trace:
        import tracemalloc

        tracemalloc.start(12)
    engine = engine_for(home)
    start_rss = rss_kib()
    t0 = time.monotonic()
    engine.start(600)
    try:
        count = len(engine.wait_for(all_seeding(n), 900).torrents)  # not kept: only the
        ready = time.monotonic() - t0  # newest snapshot is live, as in a daemon
        time.sleep(settle)
        out: dict[str, Any] = {"torrents": count, "ready_s": round(ready, 1),
                               "before_start_kib": start_rss, "rss_kib": rss_kib()}
        out["trimmed_kib"] = trim()
        # on the engine thread, between two turns of its loop: nothing half-done is live
        out["layers"] = engine._call(lambda: layers(engine)).result(300)
        if trace:
            out["trace"] = engine._call(lambda: traced(top)).result(300)
    finally:
        engine.stop(900)
    return out


def child_daemon(home: Path, tmp: Path, n: int, settle: float) -> dict[str, Any]:
    """``tidegate daemon`` (session_scale's config) on a copy of ``home``'s resume files:
    its RSS once restored with no client ever connected (``settle`` + 20 s after its API
    is up), then after a client synced a full snapshot, saw every torrent seed and left
    (``settle`` s later): the API server's share, the full snapshot it encoded and sent."""
    from download_vs_raw import read_json_from
    from session_scale import Tidegate, proc_status

    from tidegate.engine.api import RemoteEngine
    from tidegate.engine.paths import resolve_paths

    tmp.mkdir(parents=True, exist_ok=True)
    tg = Tidegate(tmp, n)
    target = resolve_paths({"TIDEGATE_HOME": str(tg.home)}).resume_dir
    target.mkdir(parents=True)
    for f in home.rglob("*.resume"):
        shutil.copyfile(f, target / f.name)
    tg.starts += 1
    from download_vs_raw import Child

    tg.child = Child("tidegate daemon", [sys.executable, "-m", "tidegate", "daemon", "--json"],
                     tg.env, tmp / "daemon.log", stdout_pipe=True)
    try:
        info = read_json_from(tg.child, 300)
        time.sleep(settle + 20)
        alone = proc_status(tg.child.pid)["VmRSS"]
        tg.api = RemoteEngine(info["endpoint"], timeout=120).start(60)
        tg.wait_seeding(300)
        tg.disconnect()
        time.sleep(settle)
        after = proc_status(tg.child.pid)["VmRSS"]
    finally:
        tg.stop()
    return {"torrents": n, "no_client_kib": alone, "after_client_kib": after}


# --------------------------------------------------------------------------- sizes


def deep_size(roots: Iterable[object], seen: set[int], skip: tuple[type, ...] = ()) -> int:
    """Bytes of ``roots`` and everything they hold that ``seen`` does not have yet (each
    object once); objects of the ``skip`` types (libtorrent's) are counted shallow."""
    import sys as _sys

    total = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        total += _sys.getsizeof(obj)
        if isinstance(obj, skip):
            continue
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif hasattr(obj, "__struct_fields__"):
            stack.extend(getattr(obj, f) for f in obj.__struct_fields__)
        else:
            d = getattr(obj, "__dict__", None)
            if isinstance(d, dict):
                stack.append(d)
            for cls in type(obj).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    if hasattr(obj, slot):
                        stack.append(getattr(obj, slot))
    return total


def layers(engine: Any) -> dict[str, int]:
    """Bytes of tidegate's own per-torrent objects, counted once, in this order (what
    an earlier layer holds is not counted again): the snapshot, the records, the rest."""
    from types import MappingProxyType

    import libtorrent as lt

    skip = (lt.torrent_handle, lt.add_torrent_params, lt.torrent_info)
    m = engine._manager
    seen: set[int] = set()
    snap = engine.snapshot
    out = {"snapshot": deep_size([dict(snap.torrents)], seen, skip)}
    recs = list(m.records.torrents.values())
    states = [r.state for r in recs]
    seen.update(id(s) for s in states)
    out["records"] = deep_size([m.records.torrents, m.records._by_handle], seen, skip)
    rest = 0
    n = max(1, len(recs))
    parts = {k: v for k, v in vars(m).items() if k not in ("records", "torrents")}
    for name, part in parts.items():
        for attr, value in vars(part).items() if hasattr(part, "__dict__") else ():
            if isinstance(value, dict | set | list | MappingProxyType) and len(value) >= n / 2:
                size = deep_size([value], seen, skip)
                out[f"{name}.{attr}"] = size
                rest += size
    out["handles"] = sum(1 for r in recs if isinstance(r.handle, lt.torrent_handle))
    return out


def traced(top: int) -> dict[str, Any]:
    import tracemalloc

    snap = tracemalloc.take_snapshot()
    total = sum(s.size for s in snap.statistics("filename"))
    by_line: dict[str, int] = {}
    for stat in snap.statistics("traceback"):
        frames = [f for f in stat.traceback if "/engine/" in f.filename
                  or "/tidegate/" in f.filename]
        last = stat.traceback[-1]  # frames run from the oldest to the newest
        where = (f"{frames[-1].filename.split('/engine/')[-1]}:{frames[-1].lineno}"
                 if frames else f"(outside) {last.filename.rsplit('/', 2)[-1]}:{last.lineno}")
        by_line[where] = by_line.get(where, 0) + stat.size
    ranked = sorted(by_line.items(), key=lambda kv: -kv[1])[:top]
    return {"total_bytes": total, "top": ranked, "lines": by_line}


# --------------------------------------------------------------------------- parent


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__)), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=3600,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--file-size", type=int, default=1024)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--trace", action="store_true", help="also a tracemalloc run")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--keep", type=Path, help="use (and keep) this folder")
    ap.add_argument("--no-daemon", action="store_true",
                    help="skip the daemon runs (at 50,000 the daemon's engine did not start "
                    "within its 10 s)")
    a = ap.parse_args()
    tmp = a.keep or Path(tempfile.mkdtemp(prefix="tg-mem-"))
    home, empty, data = tmp / "home", tmp / "empty", tmp / "data"
    s = str(a.settle)
    try:
        if not home.exists():
            print(json.dumps({"seed": run_child(["_seed", str(home), str(data), str(a.n),
                                                 str(a.file_size)])}), flush=True)
        runs = {
            "raw": ["_raw", str(home), str(a.n), s],
            "raw-batch": ["_raw", str(home), str(a.n), s, "batch"],
            "empty": ["_tidegate", str(empty), "0", s],
            "tidegate": ["_tidegate", str(home), str(a.n), s],
        }
        if not a.no_daemon:
            runs["daemon"] = ["_daemon", str(home), str(tmp / "d"), str(a.n), s]
            runs["daemon-empty"] = ["_daemon", str(empty), str(tmp / "d0"), "0", s]
        results = {}
        for name, argv in runs.items():
            results[name] = run_child(argv)
            print(json.dumps({name: results[name]}), flush=True)
        if a.trace:
            results["traced-empty"] = run_child(["_tidegate", str(empty), "0", s, "trace",
                                                 str(a.top)])
            results["traced"] = run_child(["_tidegate", str(home), str(a.n), s, "trace",
                                           str(a.top)])
        for k in ("traced-empty", "traced") if a.trace else ():
            v = results[k]
            print(json.dumps({k: {**v, "trace": {**v["trace"], "lines": "..."}}}), flush=True)
        table(results, a.n)
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def table(r: dict[str, Any], n: int) -> None:
    raw, tg, base = r["raw"], r["tidegate"], r["empty"]
    per = lambda kib: f"{kib * 1024 / n / 1024:.2f}"  # noqa: E731
    print(f"\nKiB per torrent at {n:,} (restored, seeding):")
    print(f"  libtorrent (raw session, RSS above its base): {per(raw['rss_kib'] - raw['base_kib'])}"
          f"  after malloc_trim: {per(raw['trimmed_kib'] - raw['base_kib'])}")
    rb = r["raw-batch"]
    print(f"  libtorrent, all parsed then all added (as tidegate restores): "
          f"{per(rb['rss_kib'] - rb['base_kib'])}  after malloc_trim: "
          f"{per(rb['trimmed_kib'] - rb['base_kib'])}")
    print(f"  tidegate Engine (RSS above an empty engine): {per(tg['rss_kib'] - base['rss_kib'])}"
          f"  after malloc_trim: {per(tg['trimmed_kib'] - base['trimmed_kib'])}")
    for k, v in tg["layers"].items():
        if k != "handles":
            print(f"    {k}: {v / n:.0f} B")
    if "daemon" in r:
        d, d0 = r["daemon"], r["daemon-empty"]
        print(f"  tidegate daemon, no client ever: "
              f"{per(d['no_client_kib'] - d0['no_client_kib'])}  after a client synced and "
              f"left: {per(d['after_client_kib'] - d0['after_client_kib'])}")
    if "traced" in r:
        live = r["traced"]["trace"]["total_bytes"] - r["traced-empty"]["trace"]["total_bytes"]
        print(f"  Python allocations live (tracemalloc, above an empty engine): {live / n:.0f} B")
        empty = r["traced-empty"]["trace"]["lines"]
        grown = {k: v - empty.get(k, 0) for k, v in r["traced"]["trace"]["lines"].items()}
        for where, size in sorted(grown.items(), key=lambda kv: -kv[1])[:25]:
            print(f"    {size / n:8.0f} B  {where}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        sys.path.insert(0, str(HERE))
        kind, rest = sys.argv[1], sys.argv[2:]
        if kind == "_seed":
            res = child_seed(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]))
        elif kind == "_daemon":
            res = child_daemon(Path(rest[0]), Path(rest[1]), int(rest[2]), float(rest[3]))
        elif kind == "_raw":
            res = child_raw(Path(rest[0]), int(rest[1]), float(rest[2]), len(rest) > 3)
        else:
            res = child_tidegate(Path(rest[0]), int(rest[1]), float(rest[2]),
                                 len(rest) > 3, int(rest[4]) if len(rest) > 4 else 25)
        print(json.dumps(res), flush=True)
    else:
        main()
