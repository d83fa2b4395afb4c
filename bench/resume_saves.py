"""What the periodic resume save costs an engine full of idle seeds, with and without
``storage.counters_save_interval``.

A seed's counters (active and seeding time) change every second, so libtorrent's
``only_if_modified`` counts every seed as modified, and the periodic save rewrote every
seed's resume file each ``resume_save_interval``. Two arms, each an in-process Engine
holding the same ``--torrents`` idle seeds (16-byte files, ``seed_mode``, no peers), with
``resume_save_interval`` = ``--interval``:

- ``every``: ``counters_save_interval`` = ``--interval`` (the old behaviour: counters saved
  at every periodic save);
- ``default``: ``counters_save_interval`` at its default (900 s).

For ``--seconds`` after the set-up has settled, it counts the resume files rewritten
(mtime changed), the process's CPU seconds per second, and the latency of an in-process
``pause`` of an already paused torrent every 50 ms (how long a command waits for the engine
thread). Arms alternate over ``--rounds`` (each round restarts the arm's engine from its
resume files). Prints medians and the ratio default/every.

    python bench/resume_saves.py --torrents 2000 --interval 5 --seconds 20 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tidegate.engine import AddRequest, Engine, Snapshot  # noqa: E402
from tidegate.engine.config import LOOPBACK_NETWORK, LoadedConfig, from_dict  # noqa: E402
from tidegate.engine.metainfo import CreateSpec, create_torrent  # noqa: E402
from tidegate.engine.paths import resolve_paths  # noqa: E402

ARMS = ("every", "default")


def build(home: Path, interval: float, arm: str) -> Engine:
    storage: dict[str, Any] = {"resume_save_interval": interval}
    if arm == "every":
        storage["counters_save_interval"] = interval
    cfg = from_dict({"network": dict(LOOPBACK_NETWORK), "storage": storage,
                     "web": {"enabled": False}, "sites": {"enabled": False}})
    return Engine(LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(home)}), frozenset(),
                               False))


def make_torrents(data: Path, n: int) -> list[tuple[bytes, str]]:
    data.mkdir(parents=True)
    out = []
    for i in range(n):
        f = data / f"t{i:05d}.bin"
        f.write_bytes(os.urandom(16))
        created = create_torrent(CreateSpec(path=str(f), format="v1"))
        out.append((created.data, created.save_path))
    return out


def settled(n: int) -> Callable[[Snapshot], bool]:
    return lambda s: len(s.torrents) == n and all(
        t.phase in ("seeding", "paused") for t in s.torrents.values())


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.resume")}


def measure(engine: Engine, resume_dir: Path, probe_id: str, seconds: float
            ) -> dict[str, float]:
    before = mtimes(resume_dir)
    cpu0, t0 = time.process_time(), time.monotonic()
    lat = []
    next_t = t0
    while time.monotonic() < t0 + seconds:
        s = time.perf_counter()
        engine.pause(probe_id).result(60)
        lat.append(time.perf_counter() - s)
        next_t += 0.05
        time.sleep(max(0.0, next_t - time.monotonic()))
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    after = mtimes(resume_dir)
    rewritten = sum(1 for k, v in after.items() if before.get(k) != v)
    lat.sort()
    return {"rewritten": rewritten, "cpu_per_s": cpu / wall,
            "p99_ms": lat[int(0.99 * (len(lat) - 1))] * 1e3, "max_ms": lat[-1] * 1e3}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torrents", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=5.0, help="resume_save_interval, s")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window per arm")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tmp", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tidegate-saves-", dir=args.tmp))
    results: dict[str, list[dict[str, float]]] = {a: [] for a in ARMS}
    try:
        made = make_torrents(tmp / "data", args.torrents)
        ids: dict[str, list[str]] = {}
        for rnd in range(args.rounds):
            for arm in ARMS if rnd % 2 == 0 else ARMS[::-1]:
                home = tmp / arm
                engine = build(home, args.interval, arm).start()
                try:
                    if arm not in ids:  # first round: add them all (later: restored)
                        futs = [engine.add(AddRequest(torrent=d, save_path=s, seed_mode=True))
                                for d, s in made]
                        ids[arm] = [f.result(120) for f in futs]
                        engine.pause(ids[arm][0]).result(60)
                    engine.wait_for(settled(len(ids[arm])), 300)
                    time.sleep(2 * args.interval)  # the saves that follow adding them
                    r = measure(engine, home / "data" / "resume", ids[arm][0], args.seconds)
                finally:
                    engine.stop()
                results[arm].append(r)
                print(f"round {rnd + 1} {arm:7}: {r['rewritten']:6d} files rewritten, "
                      f"{r['cpu_per_s'] * 100:5.1f} % of a core, pause p99 "
                      f"{r['p99_ms']:7.1f} ms, max {r['max_ms']:7.1f} ms", flush=True)
        med = {a: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
               for a, rs in results.items()}
        print(f"\n{args.torrents} idle seeds, resume_save_interval {args.interval:g} s, "
              f"{args.seconds:g} s measured, {args.rounds} rounds (medians)\n")
        print("| counters saved | files rewritten | CPU, % of a core | pause p99 ms | "
              "pause max ms |")
        print("|---|---:|---:|---:|---:|")
        for a in ARMS:
            m = med[a]
            label = "every save (before)" if a == "every" else "every 900 s (default)"
            print(f"| {label} | {m['rewritten']:.0f} | {m['cpu_per_s'] * 100:.1f} | "
                  f"{m['p99_ms']:.1f} | {m['max_ms']:.1f} |")
        e, d = med["every"], med["default"]
        print(f"\nratio default/every: CPU {d['cpu_per_s'] / e['cpu_per_s']:.3f}, "
              f"pause max {d['max_ms'] / e['max_ms']:.3f}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
