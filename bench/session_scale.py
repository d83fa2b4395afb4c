"""Session scale: tidegate daemon against transmission-daemon holding 100 to 10,000 seeds.

For each size (``--sizes``, default 100,1000,10000) this makes that many tiny torrents
(one ``--file-size`` file of random bytes each, default 1 KiB, v1, made in-process with
libtorrent in a temp folder), then:

1. **tidegate**: starts ``tidegate daemon`` (``python -m tidegate daemon``) with its own
   TIDEGATE_HOME and a loopback-only config (engine.config.loopback_toml(), web proxy and
   sites off), adds every torrent through the API with ``seed_mode`` (the data was just
   made: no recheck), waits until all are seeding, and stops it (SIGINT: resume data saved).
2. **transmission**: starts ``transmission-daemon -f`` with its own config folder (loopback
   only, no DHT/LPD/PEX/uTP/port mapping, RPC on 127.0.0.1 without authentication), gives
   it every torrent (by default .torrent and resume files in its config folder, see
   Transmission.add_all; ``--tr-add rpc``: one ``torrent-add`` each, ~0.1 s apiece), waits
   until all are seeding (status 6), and stops it (SIGTERM).
3. ``--rounds`` times, alternating which goes first: restarts each from its saved state
   and measures **start-up** (spawn until the API/RPC answers, and until every torrent is
   listed as seeding), then disconnects, waits ``--settle`` seconds, and measures **idle**
   CPU seconds per second over ``--idle`` seconds (each thread's run time from
   /proc/PID/task/TID/schedstat, in ns; /proc/PID/stat's 10 ms ticks are printed beside),
   wake-ups per second per thread (voluntary context switches) and resident memory
   (VmRSS at the end, VmHWM) from /proc.

Every process is stopped by its pid; the temp folder is deleted.

    python bench/session_scale.py --sizes 100,1000,10000 --rounds 2
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import libtorrent as lt
from download_vs_raw import (
    BenchError,
    Child,
    bench_folder,
    bench_main,
    free_port,
    read_json_from,
    run_quietly,
    tidegate_source,
)

TIDEGATE_EXTRA = """\
[web]
enabled = false
[sites]
enabled = false
"""

TRANSMISSION_SETTINGS: dict[str, Any] = {
    "bind-address-ipv4": "127.0.0.1",
    "bind-address-ipv6": "::1",
    "dht-enabled": False,
    "lpd-enabled": False,
    "pex-enabled": False,
    "utp-enabled": False,
    "port-forwarding-enabled": False,
    "blocklist-enabled": False,
    "rpc-enabled": True,
    "rpc-bind-address": "127.0.0.1",
    "rpc-authentication-required": False,
    "rpc-whitelist-enabled": True,
    "rpc-whitelist": "127.0.0.1",
    "rpc-host-whitelist-enabled": False,
    "speed-limit-down-enabled": False,
    "speed-limit-up-enabled": False,
    "ratio-limit-enabled": False,
    "idle-seeding-limit-enabled": False,
    "seed-queue-enabled": False,  # every torrent seeds, as in tidegate (active_seeds -1)
    "download-queue-enabled": False,
    "start-added-torrents": True,
    "peer-port-random-on-start": False,
    "message-level": 1,
}


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_torrents(folder: Path, n: int, file_size: int) -> list[bytes]:
    """n single-file v1 torrents of ``file_size`` random bytes each, data in ``folder``."""
    folder.mkdir(parents=True)
    out = []
    piece = 16384
    for i in range(n):
        name = f"t{i:05d}.bin"
        data = os.urandom(file_size)
        (folder / name).write_bytes(data)
        ct = lt.create_torrent(lt.list_files(str(folder / name)), piece,
                               lt.create_torrent.v1_only)
        for p in range(ct.num_pieces()):
            ct.set_hash(p, hashlib.sha1(data[p * piece:(p + 1) * piece]).digest())
        out.append(lt.bencode(ct.generate()))
    os.sync()
    return out


# --------------------------------------------------------------------------- tidegate


class Tidegate:
    name = "tidegate"

    def __init__(self, tmp: Path, n: int):
        self.home = tmp / f"tg-home-{n}"
        self.home.mkdir()
        from tidegate.engine.config import loopback_toml  # the tree under test (PYTHONPATH)

        (self.home / "config.toml").write_text(loopback_toml() + TIDEGATE_EXTRA)
        self.env = {**os.environ, "TIDEGATE_HOME": str(self.home)}
        self.n = n
        self.logs = tmp
        self.child: Child | None = None
        self.api: Any = None
        self.starts = 0

    def spawn(self) -> float:
        """Start the daemon; seconds until its API is up."""
        self.starts += 1
        self.child = Child(f"tidegate daemon ({self.n})",
                           [sys.executable, "-m", "tidegate", "daemon", "--json"], self.env,
                           self.logs / f"tg-{self.n}-{self.starts}.log", stdout_pipe=True)
        info = read_json_from(self.child, 300)
        from tidegate.engine.api import RemoteEngine

        self.api = RemoteEngine(info["endpoint"], timeout=120).start(60)
        return time.monotonic() - self.child.t_start

    def wait_seeding(self, timeout: float) -> float:
        n = self.n
        self.api.wait_for(lambda s: len(s.torrents) == n and
                          all(t.phase == "seeding" for t in s.torrents.values()), timeout)
        assert self.child is not None
        return time.monotonic() - self.child.t_start

    def add_all(self, torrents: list[bytes], data: Path) -> None:
        from tidegate.engine import commands as cmds
        from tidegate.engine.requests import AddRequest

        futures = []
        for i, t in enumerate(torrents):
            futures.append(self.api.run(cmds.Add(AddRequest(torrent=t, save_path=str(data),
                                                            seed_mode=True))))
            if len(futures) >= 500 or i == len(torrents) - 1:
                for f in futures:
                    f.result(300)
                futures = []

    def disconnect(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None

    def stop(self) -> float:
        self.disconnect()
        assert self.child is not None
        t0 = time.monotonic()
        self.child.stop(grace=300)
        if self.child.status != 0:
            raise BenchError(f"{self.child.name} exited {self.child.status}\n"
                             f"{self.child.log_tail()}")
        return time.monotonic() - t0


# --------------------------------------------------------------------------- transmission


class Transmission:
    name = "transmission"

    def __init__(self, tmp: Path, n: int, add_mode: str = "files"):
        self.add_mode = add_mode
        self.cfg = tmp / f"tr-cfg-{n}"
        self.cfg.mkdir()
        self.rpc_port = free_port()
        settings = {**TRANSMISSION_SETTINGS, "rpc-port": self.rpc_port,
                    "peer-port": free_port(), "download-dir": str(tmp)}
        (self.cfg / "settings.json").write_text(json.dumps(settings, indent=1))
        self.n = n
        self.logs = tmp
        self.child: Child | None = None
        self.session_id = ""
        self.starts = 0

    def rpc(self, method: str, arguments: dict[str, Any], timeout: float = 120) -> Any:
        body = json.dumps({"method": method, "arguments": arguments}).encode()
        for _ in range(3):
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.rpc_port}/transmission/rpc", data=body,
                headers={"X-Transmission-Session-Id": self.session_id,
                         "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    reply = json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code == 409:
                    self.session_id = exc.headers.get("X-Transmission-Session-Id", "")
                    continue
                raise
            if reply.get("result") != "success":
                raise BenchError(f"transmission {method}: {reply.get('result')}")
            return reply.get("arguments", {})
        raise BenchError("transmission RPC: no session id")

    def spawn(self) -> float:
        self.starts += 1
        self.session_id = ""
        self.child = Child(f"transmission-daemon ({self.n})",
                           ["transmission-daemon", "-f", "-g", str(self.cfg)], dict(os.environ),
                           self.logs / f"tr-{self.n}-{self.starts}.log")
        deadline = time.monotonic() + 300
        while True:
            try:
                self.rpc("session-get", {}, timeout=5)
                break
            except (OSError, urllib.error.URLError):
                if self.child.wait(0.01):
                    raise BenchError(f"transmission-daemon exited {self.child.status}\n"
                                     f"{self.child.log_tail()}") from None
                if time.monotonic() > deadline:
                    raise BenchError("transmission RPC did not answer in 300 s") from None
        return time.monotonic() - self.child.t_start

    def wait_seeding(self, timeout: float) -> float:
        assert self.child is not None
        deadline = time.monotonic() + timeout
        while True:
            got = self.rpc("torrent-get", {"fields": ["status"]})["torrents"]
            if len(got) == self.n and all(t["status"] == 6 for t in got):
                return time.monotonic() - self.child.t_start
            if time.monotonic() > deadline:
                seeding = sum(1 for t in got if t["status"] == 6)
                raise BenchError(f"transmission: {len(got)} torrents, {seeding} seeding "
                                 f"after {timeout:g} s")
            time.sleep(0.1)

    def add_all(self, torrents: list[bytes], data: Path) -> None:
        """Add through RPC (``--tr-add rpc``), or, since one torrent-add takes ~0.1 s of
        transmission 3.00's time whatever the size or concurrency (10,000 would take ~17
        minutes), by stopping the daemon, putting the .torrent files in its config
        folder's torrents/ (where it keeps the torrents it holds), with a resume file
        each saying every piece is present, and starting it again: it loads them at
        start. (Without the resume files it loads them as "downloading", unverified, and
        a torrent-verify of 1,000 did not finish within 300 s.)"""
        if self.add_mode == "rpc" or not torrents:
            for t in torrents:
                self.rpc("torrent-add", {"metainfo": base64.b64encode(t).decode(),
                                         "download-dir": str(data), "paused": False})
            return
        self.stop()
        (self.cfg / "torrents").mkdir(exist_ok=True)
        (self.cfg / "resume").mkdir(exist_ok=True)
        for t in torrents:
            info = lt.bdecode(t)[b"info"]
            name = info[b"name"].decode()
            base = f"{name}.{hashlib.sha1(lt.bencode(info)).hexdigest()[:16]}"
            (self.cfg / "torrents" / f"{base}.torrent").write_bytes(t)
            # transmission 3.00's resume format (libtransmission/resume.c): all pieces
            # present, checked when the file was last changed, in this folder, running.
            mtime = int((data / name).stat().st_mtime)
            (self.cfg / "resume" / f"{base}.resume").write_bytes(lt.bencode({
                b"destination": str(data).encode(), b"paused": 0,
                b"progress": {b"have": b"all", b"time-checked": mtime}}))
        self.spawn()

    def disconnect(self) -> None:
        pass

    def stop(self) -> float:
        assert self.child is not None
        t0 = time.monotonic()
        if self.child.running:
            os.kill(self.child.pid, signal.SIGTERM)
            if not self.child.wait(300):
                self.child.stop()
        return time.monotonic() - t0


# --------------------------------------------------------------------------- the bench


def thread_cpu_ns(pid: int) -> dict[str, int]:
    """Nanoseconds each thread ran (/proc/PID/task/TID/schedstat, first field): the
    scheduler's own count, where /proc/PID/stat's is in 10 ms clock ticks (one tick is
    0.03 % over a 30 s window: too coarse for an idle daemon)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[task.name] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return out


def thread_switches(pid: int) -> dict[str, int]:
    """Voluntary context switches (sleeps that ended: wake-ups) per thread, by
    ``name/tid``; a thread that ended meanwhile is left out."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    out[f"{name}/{task.name}"] = int(line.split()[1])
        except OSError:
            continue
    return out


def measure_idle(child: Child, seconds: float) -> tuple[float, dict[str, Any], dict[str, float]]:
    """CPU seconds per second (schedstat), /proc status, and wake-ups per second per thread
    (``comm/tid``: Python threads all show as ``python``; only those that woke)."""
    w0 = thread_switches(child.pid)
    n0 = thread_cpu_ns(child.pid)
    c0, t0 = cpu_seconds(child.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(child.pid), time.monotonic()
    n1 = thread_cpu_ns(child.pid)
    w1 = thread_switches(child.pid)
    wakes: dict[str, float] = {}
    for key, n in w1.items():
        if key in w0 and n > w0[key]:
            wakes[key] = (n - w0[key]) / (t1 - t0)
    status: dict[str, Any] = dict(proc_status(child.pid))
    status["cpu_ticks"] = (c1 - c0) / (t1 - t0)  # the clock-tick count, for comparison
    ran = sum(n - n0.get(tid, 0) for tid, n in n1.items())  # threads that ended: left out
    return ran / 1e9 / (t1 - t0), status, wakes



@bench_main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100,1000,10000", help="torrent counts (comma-separated)")
    p.add_argument("--rounds", type=int, default=2, help="restarts per client and size")
    p.add_argument("--idle", type=float, default=20.0, help="idle window, seconds (default 20)")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds between loaded and the idle window (default 5)")
    p.add_argument("--file-size", type=int, default=1024, help="bytes per torrent (1024)")
    p.add_argument("--clients", default="tidegate,transmission")
    p.add_argument("--tr-add", choices=("files", "rpc"), default="files",
                   help="how torrents reach transmission: its torrents/ folder (default) or "
                        "one torrent-add RPC each (~0.1 s apiece)")
    p.add_argument("--add-timeout", type=float, default=900.0,
                   help="seconds adding all torrents to one client may take")
    p.add_argument("--tmp", default=None, help="parent folder for the temporary data")
    p.add_argument("--json-out", metavar="FILE", help="also write every result as JSON here")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = {"tidegate": Tidegate, "transmission": Transmission}
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if any(c not in kinds for c in clients) or not clients or not sizes:
        p.error("--clients takes tidegate,transmission; --sizes at least one number")

    started = time.monotonic()
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    with bench_folder("tidegate-scale-", args.tmp) as tmp:
        source = tidegate_source(tmp)
        tr_version = run_quietly("transmission-daemon", ["transmission-daemon", "-V"],
                                 tmp / "trv.log") or "transmission-daemon ?"
        print(f"tidegate under test: {source}", file=sys.stderr, flush=True)
        for n in sizes:
            data = tmp / f"data-{n}"
            t0 = time.monotonic()
            torrents = make_torrents(data, n, args.file_size)
            print(f"{n}: made {n} torrents in {time.monotonic() - t0:.1f} s", file=sys.stderr,
                  flush=True)
            sessions: dict[str, Any] = {c: kinds[c](tmp, n) for c in clients}
            if "transmission" in sessions:
                sessions["transmission"].add_mode = args.tr_add
            ok = dict.fromkeys(clients, True)
            for c, s in sessions.items():
                up = s.spawn()
                t0 = time.monotonic()
                try:
                    s.add_all(torrents, data)
                    s.wait_seeding(args.add_timeout)
                    added = time.monotonic() - t0
                except BenchError as exc:
                    ok[c] = False
                    notes.append(f"{c} at {n}: {exc}")
                    added = float("nan")
                stop_s = s.stop()
                print(f"{n}: {c} first start {up:.2f} s, added all in {added:.1f} s, "
                      f"stopped in {stop_s:.1f} s", file=sys.stderr, flush=True)
                results.append({"n": n, "client": c, "phase": "add", "api_up_s": up,
                                "add_s": added, "stop_s": stop_s})
            for rnd in range(1, args.rounds + 1):
                order = clients if rnd % 2 else clients[::-1]
                for c in order:
                    if not ok[c]:
                        continue
                    s = sessions[c]
                    up = s.spawn()
                    ready = s.wait_seeding(600)
                    s.disconnect()
                    time.sleep(args.settle)
                    assert s.child is not None
                    cpu, status, wakes = measure_idle(s.child, args.idle)
                    stop_s = s.stop()
                    r = {"n": n, "client": c, "phase": "restart", "round": rnd,
                         "api_up_s": up, "ready_s": ready, "idle_cpu": cpu,
                         "rss_mib": status["VmRSS"] / 1024, "hwm_mib": status["VmHWM"] / 1024,
                         "threads": status["Threads"], "stop_s": stop_s,
                         "wakeups_per_s": sum(wakes.values()), "wakeups_by_thread": wakes,
                         "idle_cpu_ticks": status["cpu_ticks"]}
                    results.append(r)
                    print(f"{n}: round {rnd} {c:12} API up {up:6.2f} s, all seeding "
                          f"{ready:6.2f} s, idle CPU {cpu * 100:6.3f}% (ticks "
                          f"{status['cpu_ticks'] * 100:.2f}%), RSS "
                          f"{r['rss_mib']:7.1f} MiB (peak {r['hwm_mib']:7.1f}), "
                          f"stop {stop_s:5.1f} s, wake-ups/s {r['wakeups_per_s']:.1f} ("
                          + ", ".join(f"{k} {v:.1f}" for k, v in
                                      sorted(wakes.items(), key=lambda kv: -kv[1])[:8])
                          + ")", file=sys.stderr, flush=True)
            shutil.rmtree(data)
        source_after = tidegate_source(tmp)

    print("### Session scale: restart from saved state, then idle\n")
    print("| torrents | client | API up s | all seeding s | idle CPU % of a core | "
          "idle wake-ups/s | RSS MiB | peak RSS MiB | threads | stop s | "
          "add all s (first run) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    med = statistics.median
    for n in sizes:
        for c in clients:
            rs = [r for r in results if r["n"] == n and r["client"] == c
                  and r["phase"] == "restart"]
            add = [r for r in results if r["n"] == n and r["client"] == c and r["phase"] == "add"]
            if not rs:
                print(f"| {n:,} | {c} | - | - | - | - | - | - | - | - | failed |")
                continue
            print(f"| {n:,} | {c} | {med(r['api_up_s'] for r in rs):.2f} | "
                  f"{med(r['ready_s'] for r in rs):.2f} | "
                  f"{med(r['idle_cpu'] for r in rs) * 100:.3f} | "
                  f"{med(r['wakeups_per_s'] for r in rs):.1f} | "
                  f"{med(r['rss_mib'] for r in rs):.1f} | {med(r['hwm_mib'] for r in rs):.1f} | "
                  f"{med(r['threads'] for r in rs):.0f} | {med(r['stop_s'] for r in rs):.1f} | "
                  f"{add[0]['add_s']:.1f} |")
    print(f"\nmedians of {args.rounds} restart(s) per size and client; idle = CPU seconds per "
          f"second (the threads' schedstat run time) over {args.idle:g} s, {args.settle:g} s "
          f"after every torrent was seeding, no "
          f"client connected; {args.file_size}-byte v1 torrents; {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, libtorrent {lt.__version__}, "
          f"{tr_version.splitlines()[0]}; bench took {time.monotonic() - started:.0f} s")
    print(f"tidegate under test: {source}")
    for note in notes:
        print(f"note: {note}")
    if source_after != source:
        print(f"WARNING: tidegate changed during the run; now {source_after}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"tidegate": source, "results": results,
                                                   "notes": notes}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
