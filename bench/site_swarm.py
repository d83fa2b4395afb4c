"""How fast a site update reaches a swarm of tidegate daemons, and whether a site outlives
its owner: the measurements of docs/sites.md "How an update travels".

A swarm of ``--nodes`` (default 20) ``tidegate daemon`` processes on 127.0.0.1, each with
its own home and port, joined in a private DHT (each node starts knowing node 0 and three
others). Node 0 owns a site; every other node follows it. Two arms run one after the
other in the same run, each on a fresh swarm:

* **push**: ``sites.links`` on (a new head goes over live links to every follower, which
  forwards it) and followers re-put the owner's signed head (``sites.reput_interval``).
* **dht**: links off, re-puts off: followers learn of a new head only by polling the DHT
  every ``--poll`` s (the baseline: what BEP 44 alone gives).

Phases of each arm, all timed from the command that starts them:

1. **update**: ``--updates`` times, the owner changes a file and publishes; per follower
   the time until its Hosting serves the new snapshot (``hosting.seq``), verified.
   p50/p95/max over every (update, follower) pair.
2. **cold**: ``--cold`` new nodes join one at a time and follow the address: time until each
   serves the newest snapshot (a lookup through the DHT and two downloads).
3. **owner restart** (dht arm, where nothing re-puts): every node stops, the followers
   start again (libtorrent keeps no DHT items across a restart: the head is in no node),
   then the owner; a new node follows at once: time from the owner's start to the new
   node serving the site. That is the owner's start-up announcement landing.

The owner gone for several item lifetimes is ``bench/owner_gone.py``: libtorrent keeps
items at least 2 h whatever ``dht_item_lifetime`` says, so expiry needs DHT nodes of the
bench's own.

Every daemon is stopped by its pid and every home removed when the run ends, Ctrl-C
included.

    python bench/site_swarm.py                 # 20 nodes, both arms
    python bench/site_swarm.py --nodes 8 --updates 3 --arms push
"""

from __future__ import annotations

import argparse
import json
import os
import random
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tidegate.engine import commands as cmds  # noqa: E402
from tidegate.engine.api import RemoteEngine  # noqa: E402
from tidegate.engine.config import from_dict  # noqa: E402
from tidegate.engine.state import SiteState  # noqa: E402

NEEDED = {"sites": {"links": False, "link_listen": "127.0.0.1", "reput_interval": 0.0}}


def _check_config_keys() -> None:
    """This bench sets keys that arrived with the live-sites work: say so if they are not
    here rather than fail inside a daemon."""
    try:
        from_dict(NEEDED)
    except Exception as exc:
        sys.exit(f"this tree lacks config keys the bench sets: {exc}")


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (libtorrent listens on both)."""
    for _ in range(200):
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(port)
    raise RuntimeError("no free port")


@dataclass
class Node:
    home: Path
    port: int
    toml: str
    proc: subprocess.Popen[str] | None = None
    client: RemoteEngine | None = None
    started_at: float = 0.0

    def start(self) -> None:
        self.started_at = time.monotonic()
        env = dict(os.environ, TIDEGATE_HOME=str(self.home), PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "tidegate", "daemon", "--json"],
                                     env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)

    def connect(self, timeout: float = 60) -> RemoteEngine:
        assert self.proc is not None and self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        line = ""
        while not line and time.monotonic() < deadline and self.proc.poll() is None:
            if sel.select(0.2):
                line = self.proc.stdout.readline()
        sel.close()
        if not line:
            raise RuntimeError(f"daemon in {self.home} did not start")
        # the rest of stdout is read and dropped: a full pipe would block the daemon
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.client = RemoteEngine(json.loads(line)["endpoint"]).start(20)
        return self.client

    def stop(self) -> None:
        if self.client is not None:
            self.client.stop()
            self.client = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def site(self, address: str) -> SiteState | None:
        if self.client is None:
            return None
        return self.client.snapshot.sites.get(address)


@dataclass
class Arm:
    name: str
    links: bool
    reput: float
    poll: float
    root: Path
    nodes: list[Node] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def toml(self, port: int, known: list[int]) -> str:
        nodes = ", ".join(f'"127.0.0.1:{p}"' for p in known)
        return f"""
[network]
listen_interfaces = "127.0.0.1:{port}"
enable_dht = true
dht_private_network = true
dht_bootstrap_nodes = []
dht_nodes = [{nodes}]
enable_lsd = false
enable_upnp = false
enable_natpmp = false
enable_utp = false
allow_multiple_connections_per_ip = true

[web]
port = 0

[sites]
poll_interval = {self.poll}
links = {"true" if self.links else "false"}
link_listen = "127.0.0.1"
reput_interval = {self.reput}
"""

    def new_node(self, known: int = 4) -> Node:
        port = free_port()
        pool = self.ports[:1] + random.sample(self.ports[1:], min(known - 1,
                                                                  len(self.ports[1:])))
        home = Path(tempfile.mkdtemp(prefix=f"tg{self.name[0]}", dir=self.root))
        node = Node(home, port, self.toml(port, pool))
        (home / "config.toml").write_text(node.toml)
        self.ports.append(port)
        self.nodes.append(node)
        return node


def wait(pred: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def serving(node: Node, address: str, seq: int) -> bool:
    s = node.site(address)
    return s is not None and s.hosting.seq >= seq


def time_until_serving(nodes: list[Node], address: str, seq: int, t0: float,
                       timeout: float) -> list[float | None]:
    """Per node: seconds from ``t0`` until it serves snapshot ``seq`` (None: not in time)."""
    got: dict[int, float] = {}
    deadline = t0 + timeout
    while len(got) < len(nodes) and time.monotonic() < deadline:
        now = time.monotonic()
        for i, n in enumerate(nodes):
            if i not in got and serving(n, address, seq):
                got[i] = now - t0
        time.sleep(0.02)
    return [got.get(i) for i in range(len(nodes))]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def summary(name: str, xs: list[float | None]) -> dict[str, Any]:
    ok = [x for x in xs if x is not None]
    row: dict[str, Any] = {"phase": name, "samples": len(xs), "missed": len(xs) - len(ok)}
    if ok:
        row.update(p50=statistics.median(ok), p95=pct(ok, 95), max=max(ok))
    return row


def run_arm(arm: Arm, n: int, updates: int, cold: int, timeout: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    print(f"[{arm.name}] starting {n} daemons", flush=True)
    arm.ports = [free_port() for _ in range(4)]  # the first nodes know each other
    first = list(arm.ports)
    arm.ports = []
    for i in range(n):
        if i < 4:
            port = first[i]
            home = Path(tempfile.mkdtemp(prefix=f"tg{arm.name[0]}", dir=arm.root))
            node = Node(home, port, arm.toml(port, [p for p in first if p != port]))
            (home / "config.toml").write_text(node.toml)
            arm.ports.append(port)
            arm.nodes.append(node)
        else:
            arm.new_node()
    for node in arm.nodes:
        node.start()
    for node in arm.nodes:
        node.connect()
    owner, followers = arm.nodes[0], arm.nodes[1:]
    assert owner.client is not None
    source = arm.root / f"site-{arm.name}"
    source.mkdir()
    (source / "index.html").write_text("<h1>version 1</h1>\n")
    state = owner.client.run(cmds.SiteNew(name=f"bench-{arm.name}",
                                          folder=str(source))).result(60)
    address = state.address
    owner.client.run(cmds.SitePublish(site=address)).result(600)
    for f in followers:
        assert f.client is not None
        f.client.run(cmds.SiteFollow(address=address)).result(30)
    t0 = time.monotonic()
    first_fetch = time_until_serving(followers, address, 1, t0, timeout * 3)
    rows.append(summary("first follow (swarm start)", first_fetch))
    print(f"[{arm.name}] {rows[-1]}", flush=True)

    seq = 1
    samples: list[float | None] = []
    for u in range(updates):
        seq += 1
        (source / "index.html").write_text(f"<h1>version {seq}</h1>\n{'x' * u}\n")
        time.sleep(1.0)  # a quiet swarm between updates
        t0 = time.monotonic()
        owner.client.run(cmds.SitePublish(site=address)).result(600)
        got = time_until_serving(followers, address, seq, t0, timeout)
        samples += got
        ok = [g for g in got if g is not None]
        print(f"[{arm.name}] update {u + 1}: {len(ok)}/{len(got)} followers, "
              f"max {max(ok) if ok else float('nan'):.2f} s", flush=True)
    rows.append(summary("update: publish -> every follower serving", samples))

    colds: list[float | None] = []
    for _ in range(cold):
        node = arm.new_node()
        node.start()
        client = node.connect()
        t0 = time.monotonic()
        client.run(cmds.SiteFollow(address=address)).result(30)
        colds += time_until_serving([node], address, seq, t0, timeout)
    rows.append(summary("cold: new node follows -> serving", colds))
    print(f"[{arm.name}] {rows[-1]}", flush=True)

    if not arm.reput:
        print(f"[{arm.name}] every node stops; followers start again, then the owner",
              flush=True)
        for node in arm.nodes:
            node.stop()
        for node in arm.nodes[1:]:
            node.start()
        for node in arm.nodes[1:]:
            node.connect()
        wait(lambda: all(n.client is not None and n.client.snapshot.stats.dht_nodes > 0
                         for n in arm.nodes[1:]), 60, 0.2)
        owner.start()
        owner.connect()
        t_start = owner.started_at
        node = arm.new_node()
        node.start()
        client = node.connect()
        client.run(cmds.SiteFollow(address=address)).result(30)
        back = time_until_serving([node], address, seq, t_start, timeout)
        rows.append(summary("owner restart: owner start -> new node serving", back))
        print(f"[{arm.name}] {rows[-1]}", flush=True)
    return rows


@contextmanager
def swarm_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="tgswarm", dir="/tmp"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--updates", type=int, default=5)
    ap.add_argument("--cold", type=int, default=3)
    ap.add_argument("--poll", type=float, default=15.0,
                    help="followers' DHT poll interval in the dht arm")
    ap.add_argument("--reput", type=float, default=60.0,
                    help="followers' re-put interval in the push arm")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--arms", default="push,dht")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    _check_config_keys()
    random.seed(1)
    results: dict[str, list[dict[str, Any]]] = {}
    arms: list[Arm] = []
    with swarm_root() as root:
        try:
            for name in args.arms.split(","):
                push = name == "push"
                arm = Arm(name, links=push, reput=(args.reput if push else 0.0),
                          poll=(3600.0 if push else args.poll), root=root)
                arms.append(arm)
                try:
                    results[name] = run_arm(arm, args.nodes, args.updates, args.cold,
                                            args.timeout)
                finally:
                    for node in arm.nodes:
                        node.stop()
        finally:
            for arm in arms:
                for node in arm.nodes:
                    node.stop()
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"\n{args.nodes} daemons on 127.0.0.1, private DHT; the push arm polls every "
          f"3600 s, the dht arm every {args.poll} s")
    print(f"{'arm':<5} {'phase':<52} {'n':>4} {'miss':>4} {'p50 s':>7} {'p95 s':>7} "
          f"{'max s':>7}")
    for name, rows in results.items():
        for r in rows:
            cells = [f"{r[k]:7.2f}" if k in r else f"{'-':>7}" for k in ("p50", "p95", "max")]
            print(f"{name:<5} {r['phase']:<52} {r['samples']:>4} {r['missed']:>4} "
                  + " ".join(cells))


if __name__ == "__main__":
    main()
