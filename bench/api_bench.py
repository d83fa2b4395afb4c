"""Benchmark the engine API: request latency, publication cost, engine starvation.

One engine on 127.0.0.1 is grown to each size in ``--sizes`` (default 100, 1,000 and
10,000 torrents: one 16-byte file each, v1, created under a temp folder in /tmp and added
with ``seed_mode``), and at each size:

* **latency**: request round trips of ``--command`` (default ``pause`` of a torrent that is
  already paused) through the whole stack -- a RemoteEngine in a child process, ipc,
  ApiServer, the engine thread and back -- against two baselines measured in the same
  run: a bare pyzmq DEALER (child) -> ROUTER (a thread here) echo of the same request
  bytes over ipc, and the in-process ``Engine`` call (no ZeroMQ). The three alternate,
  in a new order every round. p50/p90/p99 of all samples and ratios of the medians.
* **publish**: what the server thread spends per publication -- ``protocol.diff`` of two
  snapshots plus encoding the Delta -- when 1% of the torrents changed and when all did,
  and encoding the reply to a ``snapshot`` request (the full state a client syncs from);
  bytes per message and the client's decoding cost; for the protocol's msgspec msgpack,
  msgspec JSON and the stdlib json module (baseline; ``json.dumps`` with a ``default``
  hook), alternating. The snapshots are the engine's own: real TorrentState values.

At the largest size, **starve**: the engine's in-process command latency (``--command``
sent ``--probe-hz`` times a second from this process) without any API server ("off"),
with an ApiServer and one RemoteEngine subscriber in a child process ("on"), and with
that subscriber also fetching a full ``snapshot`` every ``--full-every`` seconds ("full",
a client resyncing or connecting). The arms alternate; the report has the probe
percentiles, the on/off ratios, the engine's snapshot rate, the CPU of the engine and
API threads, and the lag between the engine publishing a snapshot and the subscriber
having applied it.

The periodic resume-data save is moved out of the way (``resume_save_interval`` = 3600 s):
it rewrites every torrent's resume file each interval and would dominate the probes.
Instead, **save** (last, no API server) probes the engine the same way while
``save_resume_data`` writes every torrent's resume file, which is what that periodic save
does with seeding torrents (they always count as modified).

Every engine, server, child process and temp file the bench makes is gone when it ends,
Ctrl-C and SIGTERM included.

    python bench/api_bench.py              # 100, 1,000 and 10,000 torrents
    python bench/api_bench.py --quick      # 100 and 1,000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

import msgspec
import zmq

from tidegate.engine import AddRequest, Engine
from tidegate.engine.api import protocol as p
from tidegate.engine.api.client import RemoteEngine
from tidegate.engine.api.server import ApiServer
from tidegate.engine.config import LOOPBACK_NETWORK, LoadedConfig, from_dict
from tidegate.engine.metainfo import CreateSpec, create_torrent
from tidegate.engine.paths import resolve_paths
from tidegate.engine.state import Snapshot, TorrentState, enc_hook

CONFIG: dict[str, Any] = {
    "network": dict(LOOPBACK_NETWORK),
    # Every interval the engine asks for resume data of every torrent, and seeding
    # torrents always count as modified: at 10,000 torrents that is 10,000 fsynced files
    # written on the engine thread. Out of the way here; docs/BENCHMARKS.md measures it.
    "storage": {"resume_save_interval": 3600.0},
}
COMMANDS = ("pause", "reannounce", "details")
CODECS = ("msgpack", "msgspec-json", "stdlib-json")
PATHS = ("echo", "engine", "remote")
ARMS = ("off", "on", "full")
TIMEOUT = 60.0


class BenchError(Exception):
    pass


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rotate(items: tuple[str, ...], n: int) -> tuple[str, ...]:
    n %= len(items)
    return items[n:] + items[:n]


def source_id() -> str:
    """The engine under test: where it imports from, its git commit, a hash of its source."""
    import tidegate.engine as engine
    root = Path(engine.__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted((root / "engine").rglob("*.py")):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{root} (git {commit or 'n/a'}, engine/ sha256 {h.hexdigest()[:12]})"


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by each live Python thread of this process, by name."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for t in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{t.native_id}/stat").read_text()
        except (OSError, TypeError):
            continue
        fields = stat.rpartition(")")[2].split()
        out[t.name] = (int(fields[11]) + int(fields[12])) / tick
    return out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- child side


def child_main(endpoint: str, echo_endpoint: str) -> int:
    """The client process: a RemoteEngine and a bare DEALER, driven by JSON lines on stdin."""
    remote = RemoteEngine(endpoint, timeout=TIMEOUT).start(timeout=TIMEOUT)
    ctx = zmq.Context.instance()
    watcher: threading.Thread | None = None
    fuller: threading.Thread | None = None
    stop = threading.Event()
    lags: list[float] = []
    fulls: list[float] = []
    marks: dict[str, float] = {}

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def watch() -> None:
        last = remote.snapshot.seq

        def seen(s: Snapshot) -> bool:
            nonlocal last
            if s.seq != last:
                last = s.seq
                lags.append(time.time() - s.time)
            return stop.is_set()

        remote.wait_for(seen, 24 * 3600)

    def fetch_full(every: float) -> None:
        next_t = time.monotonic()
        while not stop.wait(max(0.0, next_t - time.monotonic())):
            t0 = time.perf_counter()
            remote.call("snapshot").result(TIMEOUT)
            fulls.append(time.perf_counter() - t0)
            next_t += every

    reply({"ready": len(remote.snapshot.torrents)})
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg["op"]
        if op == "remote":
            cmd = msg["cmd"]  # the wire name; `call` is the same before and after
            tid, gap = msg["tid"], msg["gap"]

            def call(torrent_id: str, cmd: str = cmd) -> Any:  # engine/commands.py
                return remote.call(cmd, torrent_id=torrent_id)
            for _ in range(msg["warmup"]):
                call(tid).result(TIMEOUT)
            lat = []
            for _ in range(msg["n"]):
                time.sleep(gap)
                t0 = time.perf_counter()
                call(tid).result(TIMEOUT)
                lat.append(time.perf_counter() - t0)
            reply({"lat": lat})
        elif op == "echo":
            dealer = ctx.socket(zmq.DEALER)
            dealer.setsockopt(zmq.LINGER, 0)
            dealer.connect(echo_endpoint)
            frames = p.encode_request(1, msg["cmd"], {"torrent_id": msg["tid"]})
            lat = []
            try:
                for i in range(msg["warmup"] + msg["n"]):
                    time.sleep(msg["gap"])
                    t0 = time.perf_counter()
                    dealer.send_multipart(frames)
                    if not dealer.poll(TIMEOUT * 1000):
                        raise RuntimeError("the echo thread did not answer")
                    dealer.recv_multipart()
                    if i >= msg["warmup"]:
                        lat.append(time.perf_counter() - t0)
            finally:
                dealer.close()
            reply({"lat": lat})
        elif op == "watch":
            stop.clear()
            lags.clear()
            fulls.clear()
            marks.update(t=time.monotonic(), cpu=time.process_time(),
                         resyncs=remote.counters["resyncs"])
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            if msg["full_every"] > 0:
                fuller = threading.Thread(target=fetch_full, args=(msg["full_every"],),
                                          daemon=True)
                fuller.start()
            reply({"watching": True})
        elif op == "stop":
            stop.set()
            for t in (watcher, fuller):
                if t is not None:
                    t.join(TIMEOUT)
            watcher = fuller = None
            wall = time.monotonic() - marks["t"]
            reply({"lags": lags, "fulls": fulls, "wall": wall,
                   "cpu": time.process_time() - marks["cpu"],
                   "resyncs": remote.counters["resyncs"] - marks["resyncs"],
                   "torrents": len(remote.snapshot.torrents)})
        elif op == "quit":
            break
    remote.stop()
    return 0


# --------------------------------------------------------------------------- parent side

CHILDREN: list[subprocess.Popen[str]] = []


class Child:
    """This script run as ``--child``: the client process, answering one JSON line a request."""

    def __init__(self, endpoint: str, echo_endpoint: str):
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", endpoint, echo_endpoint],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        CHILDREN.append(self.proc)
        self.ready = self.read(TIMEOUT)["ready"]

    def read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if r else ""
        if not line:
            raise BenchError(f"the client process did not answer within {timeout:g} s "
                             f"(exit status {self.proc.poll()})")
        return json.loads(line)

    def ask(self, timeout: float = 600.0, **msg: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self.read(timeout)

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.flush()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        if self.proc in CHILDREN:
            CHILDREN.remove(self.proc)


def stop_children() -> None:
    for proc in list(CHILDREN):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        CHILDREN.remove(proc)


class Echo:
    """A bare ROUTER that sends every message back, on its own thread (like ApiServer)."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-echo", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        router = zmq.Context.instance().socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind(self.endpoint)
        self._ready.set()
        try:
            while not self._stop.is_set():
                if router.poll(50):
                    router.send_multipart(router.recv_multipart())
        finally:
            router.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@contextmanager
def serving(engine: Engine, root: Path) -> Iterator[tuple[ApiServer, Child]]:
    """An ApiServer on ipc in ``root`` and one client process connected to it."""
    server = ApiServer(engine, f"ipc://{root}/api.sock", f"ipc://{root}/pub.sock").start()
    child: Child | None = None
    try:
        child = Child(server.bound_endpoint, f"ipc://{root}/echo.sock")
        yield server, child
    finally:
        if child is not None:
            child.close()
        server.stop()


# --------------------------------------------------------------------------- the engine


def build_engine(home: Path) -> Engine:
    cfg = from_dict(CONFIG)
    return Engine(LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(home)}), frozenset(),
                               False))


def make_torrents(data: Path, start: int, stop: int) -> list[tuple[bytes, str]]:
    """Torrents ``start`` .. ``stop``-1: one 16-byte random file each, v1."""
    out = []
    for i in range(start, stop):
        f = data / f"t{i:05d}.bin"
        f.write_bytes(os.urandom(16))
        created = create_torrent(CreateSpec(path=str(f), format="v1"))
        out.append((created.data, created.save_path))
    return out


def call(engine: Any, cmd: str, tid: str) -> Any:
    return getattr(engine, cmd)(tid).result(TIMEOUT)


def grow(engine: Engine, data: Path, ids: list[str], size: int) -> dict[str, float]:
    """Create and add torrents until the engine has ``size``; returns the phase timings."""
    t0 = time.perf_counter()
    made = make_torrents(data, len(ids), size)
    t1 = time.perf_counter()
    futs = [engine.add(AddRequest(torrent=d, save_path=s, seed_mode=True)) for d, s in made]
    ids += [f.result(TIMEOUT * 5) for f in futs]
    t2 = time.perf_counter()
    engine.wait_for(lambda s: len(s.torrents) >= size, TIMEOUT * 5)
    t3 = time.perf_counter()
    # Each new torrent's resume file is written (and fsynced) on the engine thread: wait
    # for all of them, so that backlog is not measured as latency.
    deadline = time.monotonic() + TIMEOUT * 5
    while sum(1 for _ in engine.state_dir.glob("*.resume")) < size:
        if time.monotonic() > deadline:
            raise BenchError("resume files of the new torrents were not written in time")
        time.sleep(0.2)
    t4 = time.perf_counter()
    return {"create_s": t1 - t0, "add_s": t2 - t1, "in_snapshot_s": t3 - t1,
            "resume_written_s": t4 - t1, "added": len(made)}


# --------------------------------------------------------------------------- latency


def bench_latency(engine: Engine, root: Path, tid: str, args: argparse.Namespace
                  ) -> dict[str, list[float]]:
    lat: dict[str, list[float]] = {k: [] for k in PATHS}
    echo = Echo(f"ipc://{root}/echo.sock")
    try:
        with serving(engine, root) as (_server, child):
            for rnd in range(args.rounds):
                for path in rotate(PATHS, rnd):
                    if path == "engine":
                        for _ in range(args.warmup):
                            call(engine, args.command, tid)
                        for _ in range(args.requests):
                            time.sleep(args.gap_ms / 1000)
                            t0 = time.perf_counter()
                            call(engine, args.command, tid)
                            lat[path].append(time.perf_counter() - t0)
                    else:
                        lat[path] += child.ask(op=path, cmd=args.command, tid=tid,
                                               n=args.requests, warmup=args.warmup,
                                               gap=args.gap_ms / 1000)["lat"]
    finally:
        echo.stop()
    return lat


# --------------------------------------------------------------------------- publication


def _std_default(obj: object) -> object:
    if isinstance(obj, msgspec.Struct):
        return msgspec.structs.asdict(obj)
    if isinstance(obj, MappingProxyType):
        return dict(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def codecs() -> dict[str, tuple[Callable[[Any], bytes], Callable[[bytes], Any],
                                Callable[[bytes], Any]]]:
    """name -> (encode, decode a Delta, decode a snapshot reply), as a client would."""
    mp_delta = msgspec.msgpack.Decoder(p.Delta)
    js_enc = msgspec.json.Encoder(enc_hook=enc_hook)
    js_delta = msgspec.json.Decoder(p.Delta)
    js_reply = msgspec.json.Decoder(p.Reply)

    def mp_full(b: bytes) -> Any:
        return p.result_of("snapshot", p.parse_reply([p.VERSION, b]))

    def js_full(b: bytes) -> Any:
        return msgspec.convert(js_reply.decode(b).result, p.FullSnapshot)

    def std_enc(obj: Any) -> bytes:
        return json.dumps(obj, default=_std_default, separators=(",", ":")).encode()

    return {
        "msgpack": (p.encode, mp_delta.decode, mp_full),
        "msgspec-json": (js_enc.encode, js_delta.decode, js_full),
        "stdlib-json": (std_enc, json.loads, json.loads),
    }


def changed(snap: Snapshot, every: int) -> Snapshot:
    """``snap`` with every ``every``-th torrent replaced by a new, changed object."""
    torrents: dict[str, TorrentState] = dict(snap.torrents)
    for i, (tid, t) in enumerate(snap.torrents.items()):
        if i % every == 0:
            torrents[tid] = msgspec.structs.replace(
                t, upload_rate=t.upload_rate + 1000, all_time_upload=t.all_time_upload + 1000,
                seeding_time=t.seeding_time + 1)
    return Snapshot(seq=snap.seq + 1, time=time.time(), torrents=MappingProxyType(torrents),
                    stats=snap.stats, running=snap.running)


def timed(fn: Callable[[], Any], min_time: float, min_reps: int = 3) -> list[float]:
    samples: list[float] = []
    end = time.perf_counter() + min_time
    while len(samples) < min_reps or time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def bench_publish(snap: Snapshot, args: argparse.Namespace) -> dict[str, Any]:
    """Server and client cost per publication, per codec (medians, seconds) and bytes."""
    n = len(snap.torrents)
    epoch = "0123456789abcdef"
    cases = {"1%": changed(snap, 100), "all": changed(snap, 1)}
    full = p.Reply(1, True, p.FullSnapshot(epoch, snap, 0))
    cs = codecs()
    raw: dict[tuple[str, str, str], list[float]] = {}
    size: dict[tuple[str, str], int] = {}

    def add(key: tuple[str, str, str], samples: list[float]) -> None:
        raw.setdefault(key, []).extend(samples)

    for rnd in range(args.rounds):
        for name in rotate(CODECS, rnd):
            enc, dec_delta, dec_full = cs[name]
            for case, new in cases.items():
                def publish(new: Snapshot = new, enc: Any = enc) -> bytes:
                    return enc(p.diff(snap, new, epoch))
                body = publish()
                size[(name, case)] = len(body)
                add((name, case, "server"), timed(publish, args.min_time))
                add((name, case, "client"),
                    timed(lambda body=body, dec=dec_delta: dec(body), args.min_time))
            body = enc(full)
            size[(name, "full")] = len(body)
            add((name, "full", "server"), timed(lambda enc=enc: enc(full), args.min_time))
            add((name, "full", "client"),
                timed(lambda body=body, dec=dec_full: dec(body), args.min_time))
        for case, new in cases.items():
            add(("-", case, "diff"), timed(lambda new=new: p.diff(snap, new, epoch),
                                           args.min_time))
            delta = p.diff(snap, new, epoch)
            add(("-", case, "apply"), timed(lambda delta=delta: p.apply(snap, delta),
                                            args.min_time))
        add(("-", "engine", "build"), timed(
            lambda: MappingProxyType({tid: t for tid, t in snap.torrents.items()}),
            args.min_time))
    return {"n": n, "t": {k: median(v) for k, v in raw.items()}, "bytes": size}


# --------------------------------------------------------------------------- starvation


def probe(engine: Engine, cmd: str, tid: str, seconds: float, hz: float) -> list[float]:
    lat = []
    period = 1.0 / hz
    next_t = time.monotonic()
    end = next_t + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        call(engine, cmd, tid)
        lat.append(time.perf_counter() - t0)
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))
    return lat


def bench_starve(engine: Engine, root: Path, tid: str, args: argparse.Namespace
                 ) -> dict[str, Any]:
    arms: dict[str, dict[str, Any]] = {a: {"lat": [], "lags": [], "fulls": [], "snaps": 0.0,
                                           "wall": 0.0, "deltas": 0, "dropped": 0,
                                           "client_cpu": 0.0, "resyncs": 0, "cpu": {}}
                                       for a in ARMS}
    for rnd in range(args.rounds):
        for arm in rotate(ARMS, rnd):
            a = arms[arm]
            with (serving(engine, root) if arm != "off" else _nothing()) as served:
                if served is not None:
                    served[1].ask(op="watch", full_every=args.full_every if arm == "full" else 0)
                time.sleep(args.settle)
                seq0, cpu0, t0 = engine.snapshot.seq, thread_cpu(), time.monotonic()
                a["lat"] += probe(engine, args.command, tid, args.starve_seconds, args.probe_hz)
                wall = time.monotonic() - t0
                seq1, cpu1 = engine.snapshot.seq, thread_cpu()
                a["wall"] += wall
                a["snaps"] += seq1 - seq0
                for name, sec in cpu1.items():
                    a["cpu"][name] = a["cpu"].get(name, 0.0) + sec - cpu0.get(name, sec)
                if served is not None:
                    server, child = served
                    got = child.ask(op="stop")
                    a["lags"] += got["lags"]
                    a["fulls"] += got["fulls"]
                    a["client_cpu"] += got["cpu"] / got["wall"] * wall
                    a["resyncs"] += got["resyncs"]
                    a["deltas"] += server.counters["deltas"]
                    a["dropped"] += server.counters["publish_dropped"]
            log(f"  starve round {rnd + 1} {arm:4}: p50 {median(a['lat'][-50:]) * 1e3:.2f} ms")
    return arms


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def bench_save(engine: Engine, tid: str, args: argparse.Namespace) -> dict[str, Any]:
    """Probe the engine while it saves every torrent's resume data (no API server).

    ``save_resume_data`` does what the periodic save (``resume_save_interval``) does when
    every torrent counts as modified, which seeding torrents always do.
    """
    period = 1.0 / args.probe_hz
    lat: list[float] = []
    t0 = time.perf_counter()
    fut = engine.save_resume_data()
    next_t = time.monotonic()
    while not fut.done():
        a = time.perf_counter()
        call(engine, args.command, tid)
        lat.append(time.perf_counter() - a)
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))
    fut.result(TIMEOUT)
    return {"save_s": time.perf_counter() - t0, "lat": lat}


# --------------------------------------------------------------------------- report


def ms(x: float) -> str:
    return f"{x * 1e3:.3f}"


def us(x: float) -> str:
    return f"{x * 1e6:,.0f}"


def print_setup(setup: list[dict[str, Any]], out: TextIO) -> None:
    print("\n### Creating and adding the torrents\n", file=out)
    print("| torrents | added | create s | add s (futures) | in snapshot s | resume files "
          "written s |", file=out)
    print("|---:|---:|---:|---:|---:|---:|", file=out)
    for s in setup:
        print(f"| {s['size']:,} | {s['added']:,} | {s['create_s']:.1f} | {s['add_s']:.1f} | "
              f"{s['in_snapshot_s']:.1f} | {s['resume_written_s']:.1f} |", file=out)


def print_latency(results: list[tuple[int, dict[str, list[float]]]], cmd: str,
                  out: TextIO) -> None:
    print(f"\n### Request round trip: `{cmd}` (ms)\n", file=out)
    print("| torrents | path | n | p50 | p90 | p99 | p50 / echo | p50 / engine |", file=out)
    print("|---:|---|---:|---:|---:|---:|---:|---:|", file=out)
    for n, lat in results:
        echo, eng = median(lat["echo"]), median(lat["engine"])
        for path in PATHS:
            v = lat[path]
            print(f"| {n:,} | {path} | {len(v)} | {ms(pct(v, 50))} | {ms(pct(v, 90))} | "
                  f"{ms(pct(v, 99))} | {median(v) / echo:.2f} | {median(v) / eng:.2f} |",
                  file=out)


def print_publish(results: list[dict[str, Any]], out: TextIO) -> None:
    print("\n### Publication cost per message (µs; bytes)\n", file=out)
    print("server = diff + encode for a Delta, encode for the `snapshot` reply; client = "
          "decode (typed for msgspec, plain dicts for stdlib json).\n", file=out)
    print("| torrents | message | codec | server µs | bytes | client µs | server / stdlib "
          "| bytes / stdlib |", file=out)
    print("|---:|---|---|---:|---:|---:|---:|---:|", file=out)
    for r in results:
        t, b = r["t"], r["bytes"]
        for case in ("1%", "all", "full"):
            label = {"1%": "delta, 1% changed", "all": "delta, all changed",
                     "full": "full snapshot"}[case]
            base_t, base_b = t[("stdlib-json", case, "server")], b[("stdlib-json", case)]
            for name in CODECS:
                st = t[(name, case, "server")]
                print(f"| {r['n']:,} | {label} | {name} | {us(st)} | {b[(name, case)]:,} | "
                      f"{us(t[(name, case, 'client')])} | {st / base_t:.2f} | "
                      f"{b[(name, case)] / base_b:.2f} |", file=out)
    print("\n| torrents | diff µs, 1% | diff µs, all | client apply µs (dict copy) | engine "
          "snapshot build µs (reference) |", file=out)
    print("|---:|---:|---:|---:|---:|", file=out)
    for r in results:
        t = r["t"]
        print(f"| {r['n']:,} | {us(t[('-', '1%', 'diff')])} | {us(t[('-', 'all', 'diff')])} | "
              f"{us(t[('-', 'all', 'apply')])} | {us(t[('-', 'engine', 'build')])} |",
              file=out)


def print_save(n: int, save: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    v = save["lat"]
    print(f"\n### Saving resume data of all {n:,} torrents (no API server)\n", file=out)
    print(f"save_resume_data took {save['save_s']:.1f} s; in-process `{args.command}` probes "
          f"at {args.probe_hz:g} Hz meanwhile: {len(v)} probes, p50 {ms(pct(v, 50))} ms, "
          f"p99 {ms(pct(v, 99))} ms, max {ms(max(v, default=float('nan')))} ms", file=out)


def print_starve(n: int, arms: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    print(f"\n### Engine starvation at {n:,} torrents: in-process `{args.command}` "
          f"at {args.probe_hz:g} Hz (ms)\n", file=out)
    print("| arm | probes | p50 | p90 | p99 | max | p50 / off | p99 / off | engine snapshots/s "
          "| deltas sent | dropped | engine thread CPU % | API thread CPU % | client CPU % |",
          file=out)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", file=out)
    off = arms["off"]["lat"]
    for arm in ARMS:
        a = arms[arm]
        v, wall = a["lat"], a["wall"] or float("nan")
        print(f"| {arm} | {len(v)} | {ms(pct(v, 50))} | {ms(pct(v, 90))} | {ms(pct(v, 99))} | "
              f"{ms(max(v))} | {median(v) / median(off):.2f} | {pct(v, 99) / pct(off, 99):.2f} | "
              f"{a['snaps'] / wall:.1f} | {a['deltas']} | {a['dropped']} | "
              f"{100 * a['cpu'].get('tidegate-engine', 0) / wall:.0f} | "
              f"{100 * a['cpu'].get('tidegate-api', 0) / wall:.0f} | "
              f"{100 * a['client_cpu'] / wall:.0f} |", file=out)
    print("\n| arm | snapshots applied by the client | lag p50 ms | lag p99 ms | lag max ms | "
          "client resyncs | full snapshot fetches | fetch p50 ms | fetch max ms |", file=out)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|", file=out)
    for arm in ARMS[1:]:
        a = arms[arm]
        lags, fulls = a["lags"], a["fulls"]
        print(f"| {arm} | {len(lags)} | {ms(pct(lags, 50))} | {ms(pct(lags, 99))} | "
              f"{ms(max(lags, default=float('nan')))} | {a['resyncs']} | {len(fulls)} | "
              f"{ms(pct(fulls, 50))} | {ms(max(fulls, default=float('nan')))} |", file=out)


# --------------------------------------------------------------------------- main


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s.replace("_", "")) for s in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated torrent counts") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive torrent counts")
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=parse_sizes, default=[100, 1000, 10000], metavar="N,N",
                    help="torrent counts, comma-separated (default 100,1000,10000)")
    ap.add_argument("--quick", action="store_true", help="sizes 100,1000 only")
    ap.add_argument("--parts", default="latency,publish,starve,save",
                    help="which measurements (default latency,publish,starve,save)")
    ap.add_argument("--command", choices=COMMANDS, default="pause",
                    help="the command timed for latency and starvation (default pause, of a "
                         "paused torrent)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating rounds of every comparison (default 3)")
    ap.add_argument("--requests", type=int, default=200,
                    help="timed requests per path per round (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed requests first (default 20)")
    ap.add_argument("--gap-ms", type=float, default=5.0,
                    help="pause before each timed request (default 5)")
    ap.add_argument("--min-time", type=float, default=0.05,
                    help="seconds each publication timing repeats for, per round (default 0.05)")
    ap.add_argument("--starve-seconds", type=float, default=5.0,
                    help="seconds of probing per starvation arm and round (default 5)")
    ap.add_argument("--probe-hz", type=float, default=50.0,
                    help="starvation probes per second (default 50)")
    ap.add_argument("--full-every", type=float, default=1.0,
                    help="seconds between full snapshot fetches in the 'full' arm (default 1)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds before each starvation arm is measured (default 1)")
    ap.add_argument("--tmp", default="/tmp",
                    help="parent of the temp folder (short: ipc paths max 107 bytes)")
    ap.add_argument("--json-out", metavar="FILE", help="also write the raw results as JSON")
    ap.add_argument("--child", nargs=2, metavar=("ENDPOINT", "ECHO"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(*args.child)
    if args.quick:
        args.sizes = [100, 1000]
    parts = set(args.parts.split(","))
    if not parts <= {"latency", "publish", "starve", "save"}:
        ap.error("--parts takes latency, publish, starve and save")
    if args.rounds < 1 or args.requests < 1:
        ap.error("--rounds and --requests must be at least 1")

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    root = Path(tempfile.mkdtemp(prefix="tgapi-", dir=args.tmp))
    if len(f"{root}/echo.sock".encode()) > 107:
        shutil.rmtree(root)
        ap.error(f"--tmp {args.tmp} is too long for ipc socket paths")
    started = time.monotonic()
    source = source_id()
    log(f"engine under test: {source}; temp folder {root}")
    data = root / "data"
    data.mkdir()
    engine: Engine | None = None
    setup: list[dict[str, Any]] = []
    latency: list[tuple[int, dict[str, list[float]]]] = []
    publish: list[dict[str, Any]] = []
    starve: dict[str, Any] | None = None
    save: dict[str, Any] | None = None
    try:
        engine = build_engine(root / "home").start()
        ids: list[str] = []
        tid = ""
        for size in args.sizes:
            log(f"growing to {size:,} torrents")
            s = grow(engine, data, ids, size)
            s["size"] = size
            setup.append(s)
            log(f"  created in {s['create_s']:.1f} s, added in {s['add_s']:.1f} s, all in the "
                f"snapshot after {s['in_snapshot_s']:.1f} s, resume files after "
                f"{s['resume_written_s']:.1f} s")
            if not tid:
                tid = ids[0]
                engine.pause(tid).result(TIMEOUT)
                engine.wait_for(lambda snap, t=tid: snap.torrents[t].paused, TIMEOUT)
            if "latency" in parts:
                log(f"  latency at {size:,}")
                latency.append((size, bench_latency(engine, root, tid, args)))
            if "publish" in parts:
                log(f"  publication cost at {size:,}")
                publish.append(bench_publish(engine.snapshot, args))
        if "starve" in parts:
            log(f"starvation at {args.sizes[-1]:,}")
            starve = bench_starve(engine, root, tid, args)
        if "save" in parts:
            log(f"saving resume data of all {args.sizes[-1]:,} torrents")
            save = bench_save(engine, tid, args)
        source_after = source_id()
        log("stopping the engine (it saves every torrent's resume data)")
        t0 = time.perf_counter()
        engine.stop()
        engine = None
        stop_s = time.perf_counter() - t0
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        stop_children()
        if engine is not None:
            engine.stop()
        shutil.rmtree(root, ignore_errors=True)

    out = sys.stdout
    print(f"\nengine under test: {source}", file=out)
    if source_after != source:
        print(f"WARNING: the engine changed during the run; now {source_after}", file=out)
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}, msgspec "
          f"{msgspec.__version__}, pyzmq {zmq.__version__} (libzmq {zmq.zmq_version()}); "
          f"{args.rounds} alternating rounds; engine stop took {stop_s:.1f} s; bench took "
          f"{time.monotonic() - started:.0f} s", file=out)
    print_setup(setup, out)
    if latency:
        print_latency(latency, args.command, out)
    if publish:
        print_publish(publish, out)
    if starve is not None:
        print_starve(args.sizes[-1], starve, args, out)
    if save is not None:
        print_save(args.sizes[-1], save, args, out)
    if args.json_out:
        doc = {"source": source, "setup": setup,
               "latency": [{"n": n, **lat} for n, lat in latency],
               "publish": [{"n": r["n"], "t": {"/".join(k): v for k, v in r["t"].items()},
                            "bytes": {"/".join(k): v for k, v in r["bytes"].items()}}
                           for r in publish],
               "starve": starve, "save": save}
        Path(args.json_out).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
