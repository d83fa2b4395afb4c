"""50,000 torrents: a daemon's start, stop, and SIGKILL at random moments of its start.

Makes (or reuses, ``--home``) a TIDEGATE_HOME whose daemon restores ``--n`` seeding
torrents (one 1 KiB file each, v1, added with ``seed_mode`` by an embedded engine, as
bench/tui_latency.py makes them). Then:

1. ``--rounds`` clean starts: **API up** (spawn until the ``--json`` line and a synced
   ``RemoteEngine``), **all seeding** (spawn until every torrent is listed as seeding and
   ``SessionStats.loading`` is 0), RSS then, and **stop** (SIGINT until exit).
2. ``--kills`` starts, each SIGKILLed after a random delay in [0, 1.2 x the first round's
   all-seeding time] (``--seed``): after each, every resume file must be there, read back
   whole (``lt.read_resume_data``) and say what it said before the first start (paused by
   the user, category, tags), and none may be set aside as ``*.corrupt``.
3. One last clean start must list every torrent seeding.

Every process is stopped by its pid; a home made here is deleted.

    python bench/start_kills.py --n 50000 --rounds 3 --kills 6
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

import libtorrent as lt
from download_vs_raw import BenchError, Child, bench_main, read_json_from, tidegate_source

State = dict[str, tuple[bool, str, tuple[str, ...]]]


def held(flags: int) -> bool:
    return bool(flags & lt.torrent_flags.paused) and not flags & lt.torrent_flags.auto_managed


def read_folder(folder: Path) -> tuple[State, list[str]]:
    """What each resume file says (held, category, tags), and the problems found."""
    state: State = {}
    problems = [f"set aside as corrupt: {p.name}" for p in folder.glob("*.corrupt")]
    for p in folder.glob("*.resume"):
        try:
            data = p.read_bytes()
            params = lt.read_resume_data(data)
            extras = json.loads(lt.bdecode(data)[b"tidegate"])
        except Exception as exc:  # a torn or unreadable file is what this looks for
            problems.append(f"{p.name}: {exc!r}")
            continue
        state[p.name[: -len(".resume")]] = (held(params.flags), extras.get("category", ""),
                                            tuple(extras.get("tags", [])))
    return state, problems


class Daemon:
    def __init__(self, home: Path, logs: Path) -> None:
        self.home = home
        self.logs = logs
        self.starts = 0
        self.child: Child | None = None

    def spawn(self, pipe: bool = True) -> Child:
        self.starts += 1
        self.child = Child(f"tidegate daemon #{self.starts}",
                           [sys.executable, "-m", "tidegate", "daemon", "--json"],
                           {**os.environ, "TIDEGATE_HOME": str(self.home)},
                           self.logs / f"daemon-{self.starts}.log", stdout_pipe=pipe)
        return self.child

    def clean_round(self, n: int) -> dict[str, float]:
        child = self.spawn()
        info = read_json_from(child, 300)
        from tidegate.engine.api import RemoteEngine

        api = RemoteEngine(info["endpoint"], timeout=120).start(120)
        out = {"api up s": time.monotonic() - child.t_start}
        try:
            api.wait_for(lambda s: len(s.torrents) == n and not s.stats.loading and all(
                t.phase == "seeding" for t in s.torrents.values()), 600)
            out["all seeding s"] = time.monotonic() - child.t_start
        finally:
            api.stop()
        status = Path(f"/proc/{child.pid}/status").read_text().splitlines()
        for line in status:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0] + " MiB"] = int(line.split()[1]) / 1024
        t0 = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        if not child.wait(300) or child.status != 0:
            raise BenchError(f"{child.name} did not stop cleanly ({child.status})\n"
                             f"{child.log_tail()}")
        out["stop s"] = time.monotonic() - t0
        return out

    def kill_round(self, delay: float) -> None:
        child = self.spawn(pipe=False)
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)


def make_home(n: int) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from tui_latency import make_home as make

    return make(n)


@bench_main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50_000)
    p.add_argument("--home", help="a home made before (kept): its torrent count must be --n")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--kills", type=int, default=6)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    t_bench = time.monotonic()
    home = Path(args.home) if args.home else make_home(args.n)
    logs = home / "bench-logs"
    logs.mkdir(exist_ok=True)
    print(f"tidegate under test: {tidegate_source(logs)}; home {home}; seed {seed}",
          file=sys.stderr)
    try:
        folder = home / "data" / "resume"
        before, problems = read_folder(folder)
        if problems or len(before) != args.n:
            raise BenchError(f"the home has {len(before)} torrents, problems {problems[:3]}")
        d = Daemon(home, logs)
        rounds = []
        for r in range(args.rounds):
            rounds.append(d.clean_round(args.n))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in rounds[-1].items()),
                  file=sys.stderr, flush=True)
        horizon = 1.2 * rounds[0]["all seeding s"]
        kills: list[tuple[float, int]] = []
        for delay in sorted(rng.uniform(0, horizon) for _ in range(args.kills)):
            d.kill_round(delay)
            after, problems = read_folder(folder)
            lost = sorted(set(before) - set(after))
            changed = [t for t in before if t in after and after[t] != before[t]]
            bad = len(problems) + len(lost) + len(changed)
            kills.append((delay, bad))
            print(f"killed at {delay:.2f} s: {bad} problems " +
                  "; ".join([*problems[:3], *lost[:3], *changed[:3]]), file=sys.stderr,
                  flush=True)
        last = d.clean_round(args.n)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print(f"### {args.n:,} torrents: start, stop, kill -9 during the start\n")
    print("| measure | median | rounds |\n|---|---:|---|")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"| {key} | {statistics.median(values):.2f} | "
              f"{', '.join(f'{v:.2f}' for v in values)} |")
    print(f"\nkill -9 at {', '.join(f'{t:.2f}' for t, _ in kills)} s after spawn "
          f"(seed {seed}): {sum(b for _, b in kills)} resume files lost, torn, changed or "
          f"set aside; the start after them: every torrent seeding in "
          f"{last['all seeding s']:.2f} s")
    print(f"\n{os.cpu_count()} CPUs, libtorrent {lt.__version__}; bench took "
          f"{time.monotonic() - t_bench:.0f} s")
    return 1 if any(b for _, b in kills) else 0


if __name__ == "__main__":
    sys.exit(main())
