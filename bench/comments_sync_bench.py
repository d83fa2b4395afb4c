"""How fast comments spread between comment servers that found each other in the DHT: the
measurements of docs/comments.md "The comments network".

``--nodes`` (default 20) ``tidegate daemon`` processes on 127.0.0.1, each with its own home,
libtorrent port and comment port, comments on (``--difficulty`` bits, ``--sync-interval``
s), joined in a private DHT (each starts knowing node 0 and three others). No daemon is
told of another's comment endpoint: they find each other as peers of the network's topic.

0. **warm-up**: right after every daemon serves, one comment is posted on node 0: time
   until all hold it (the DHT discovery at start-up is in this number).
1. **spread**: ``--rounds`` times, ``--comments`` comments are POSTed, each to a random node;
   per node the time from the round's last post until it holds every comment (its
   ``/sync/digest`` count), and per round the time until all digests are equal.
2. **partition**: ``--partition`` nodes are stopped (SIGTERM), ``--comments`` comments are
   posted on the others (their convergence timed), then the stopped ones start again from
   their homes (same ports) and each posts one: time from their start until every node
   holds everything (healing).

Digests are sampled every ``--step`` s over HTTP. Every daemon is stopped by its pid and the
homes removed when the run ends, Ctrl-C included.

    python bench/comments_sync_bench.py                       # 20 nodes
    python bench/comments_sync_bench.py --nodes 8 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tidegate.engine.comments.author import AuthorKey, load_or_create  # noqa: E402
from tidegate.engine.comments.event import make_comment  # noqa: E402

URL = "https://example.org/bench"


_given: set[int] = set()


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (libtorrent listens on both), never
    one handed out before in this run."""
    for _ in range(200):
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            if port in _given:
                continue
            _given.add(port)
            return int(port)
    raise RuntimeError("no free port")


@dataclass
class Daemon:
    home: Path
    bt_port: int
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, TIDEGATE_HOME=str(self.home), PYTHONPATH=str(ROOT))
        with open(self.home / "daemon.err", "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "tidegate", "daemon"],
                                         env=env, stdout=subprocess.DEVNULL, stderr=err)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def digest(self) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/sync/digest",
                                        timeout=5) as resp:
                d = json.loads(resp.read())
        except (OSError, ValueError):
            return None
        return int(d["count"]), str(d["digest"])

    def post(self, author: AuthorKey, text: str, difficulty: int) -> None:
        c = make_comment(author, URL, text, parent=None, now=time.time(),
                         difficulty=difficulty)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/{c.url_hash}",
                                     data=c.raw, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            if resp.status != 201:
                raise RuntimeError(f"POST answered {resp.status}")


def config(bt_port: int, port: int, known: list[int], args: argparse.Namespace) -> str:
    nodes = ", ".join(f'"127.0.0.1:{p}"' for p in known)
    return f"""
[network]
listen_interfaces = "127.0.0.1:{bt_port}"
enable_dht = true
dht_private_network = true
dht_bootstrap_nodes = []
dht_nodes = [{nodes}]
enable_lsd = false
enable_upnp = false
enable_natpmp = false
enable_utp = false

[web]
port = 0

[comments]
enabled = true
port = {port}
difficulty = {args.difficulty}
sync_interval = {args.sync_interval}
announce_interval = 60.0
"""


def wait_all(daemons: list[Daemon], count: int, t0: float, timeout: float,
             step: float) -> tuple[list[float | None], float | None]:
    """Per daemon: seconds from ``t0`` until it holds ``count`` records; and until all
    digests are one (None: not within ``timeout``)."""
    got: dict[int, float] = {}
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        now = time.monotonic()
        ds = [d.digest() for d in daemons]
        for i, d in enumerate(ds):
            if i not in got and d is not None and d[0] >= count:
                got[i] = now - t0
        if all(d is not None and d[0] == count for d in ds) and \
                len({d[1] for d in ds if d is not None}) == 1:
            return [got.get(i) for i in range(len(daemons))], now - t0
        time.sleep(step)
    return [got.get(i) for i in range(len(daemons))], None


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))]


def row(phase: str, xs: list[float | None]) -> dict[str, Any]:
    ok = [x for x in xs if x is not None]
    out: dict[str, Any] = {"phase": phase, "samples": len(xs), "missed": len(xs) - len(ok)}
    if ok:
        out.update(p50=round(statistics.median(ok), 2), p95=round(pct(ok, 95), 2),
                   max=round(max(ok), 2))
    return out


def run(args: argparse.Namespace, root: Path, daemons: list[Daemon]) -> list[dict[str, Any]]:
    author = load_or_create(root / "author.key")
    bt = [free_port() for _ in range(args.nodes)]
    for i in range(args.nodes):
        known = [bt[0]] + random.sample(bt[1:], min(3, args.nodes - 1))
        home = root / f"n{i}"
        home.mkdir()
        port = free_port()
        (home / "config.toml").write_text(config(bt[i], port, [p for p in known
                                                               if p != bt[i]], args))
        daemons.append(Daemon(home, bt[i], port))
    t_start = time.monotonic()
    for d in daemons:
        d.start()
    for d in daemons:
        deadline = time.monotonic() + 120
        while d.digest() is None:
            if time.monotonic() > deadline or (d.proc is not None and d.proc.poll() is not None):
                tail = (d.home / "daemon.err").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"daemon {d.home} did not serve comments:\n{tail}")
            time.sleep(0.1)
    print(f"{args.nodes} daemons up in {time.monotonic() - t_start:.1f} s", flush=True)
    rows: list[dict[str, Any]] = []
    t0 = time.monotonic()  # warm-up: discovery through the DHT, then the first comment
    daemons[0].post(author, "warm-up", args.difficulty)
    total = 1
    _nodes, allt = wait_all(daemons, total, t0, args.timeout, args.step)
    rows.append(row("warm-up: first comment (all up) -> all equal", [allt]))
    print(f"warm-up: all {args.nodes} equal after {allt} s", flush=True)
    per_node: list[float | None] = []
    whole: list[float | None] = []
    for r in range(args.rounds):
        for k in range(args.comments):
            random.choice(daemons).post(author, f"round {r} comment {k}", args.difficulty)
        total += args.comments
        nodes, allt = wait_all(daemons, total, time.monotonic(), args.timeout, args.step)
        per_node += nodes
        whole.append(allt)
        print(f"round {r}: all {args.nodes} equal after {allt} s", flush=True)
    rows.append(row("last post -> a node holds all (per node)", per_node))
    rows.append(row("last post -> all digests equal (per round)", whole))
    if args.partition:
        gone, live = daemons[-args.partition:], daemons[:-args.partition]
        for d in gone:
            d.stop()
        for k in range(args.comments):
            random.choice(live).post(author, f"partition comment {k}", args.difficulty)
        total += args.comments
        _nodes, allt = wait_all(live, total, time.monotonic(), args.timeout, args.step)
        rows.append(row(f"partition: {len(live)} live nodes equal", [allt]))
        t0 = time.monotonic()
        for d in gone:
            d.start()
        for d in gone:
            while d.digest() is None and time.monotonic() - t0 < 120:
                time.sleep(0.1)
            d.post(author, f"back: {d.home.name}", args.difficulty)
        total += len(gone)
        nodes, allt = wait_all(daemons, total, t0, args.timeout, args.step)
        rows.append(row("healing: restart -> a node holds all (per node)", nodes))
        rows.append(row("healing: restart -> all digests equal", [allt]))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--comments", type=int, default=20, help="comments per round")
    p.add_argument("--partition", type=int, default=3, help="nodes stopped (0: no phase)")
    p.add_argument("--difficulty", type=int, default=8)
    p.add_argument("--sync-interval", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--step", type=float, default=0.1)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tg-comments-bench-"))
    daemons: list[Daemon] = []

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        rows = run(args, root, daemons)
        print(json.dumps({"nodes": args.nodes, "comments": args.comments,
                          "rounds": args.rounds, "sync_interval": args.sync_interval,
                          "rows": rows}, indent=1))
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
