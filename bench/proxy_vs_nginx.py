"""Benchmark the Smart Proxy (engine/proxy/) against nginx serving the same folder.

One engine on 127.0.0.1 (sites on, its proxy on a free port) publishes a site: a ~4 KiB
``index.html``, a few small assets and one ``--big-size`` file (default 64 MiB) of random
bytes. nginx is started with its own temporary config whose ``root`` is the snapshot
folder the engine hosts (``<data_dir>/sites/<address>/snapshots/1/site/``), so both
servers send the same bytes from the same files; one nginx with ``worker_processes
auto`` and one with 1 worker, each on its own free 127.0.0.1 port. Before anything is
measured every file is fetched once from each server with Python and compared with the
published source.

Then wrk, in ``--rounds`` rounds (the servers' order rotates every round, one unmeasured
``--warmup`` run each first):

* **small**: ``GET /index.html`` for ``--duration`` s with ``-t{--threads}
  -c{--conns}``: requests/s;
* **big**: ``GET /<big file>`` with ``-c{--big-conns}``: MB/s (10^6 bytes, all bytes wrk
  read, headers included).

Defaults and why: wrk gets one thread (``-t1``) so that the load generator takes at most
one of the machine's two cores; the proxy is one event loop (uvloop) in one Python
process, so nginx with 1 worker is the like-for-like baseline and ``auto`` (2 workers
here) is what nginx does with the whole machine. 32 connections keep a single-threaded
server busy without measuring queueing; 4 connections for the big file keep the server
streaming all the time while each response still goes at full speed. nginx runs with
``access_log off``, ``sendfile on`` (Debian's default), ``keepalive_requests`` raised to
10^6 (the proxy closes no keep-alive connection; nginx's default of 1,000 would make wrk
reconnect) and otherwise defaults.
The tidegate engine runs its defaults apart from loopback networking (``web.cache_mb``
64, ``--cache-mb`` to change it; a 64 MiB file in a 64 MiB cache is partly re-read and
re-hashed on every pass, which the "verified MB hashed" column shows).

The table has the median per server and the ratio tidegate/nginx, plus each server's CPU
per request (tidegate: the proxy thread and its read pool; nginx: its workers), wrk's own
CPU (near 100% means the client, not the server, was the limit) and, for tidegate, the
bytes its verifier hashed (cache misses) during the measured runs.

nginx runs in the foreground (``daemon off``) as a child of this script and is stopped by
its pid (and the pid file in the temp dir) at the end, on error, Ctrl-C and SIGTERM; wrk
likewise; the engine is stopped and the temp folder deleted.

    python bench/proxy_vs_nginx.py                      # 3 rounds of 5 s per test
    python bench/proxy_vs_nginx.py --rounds 5 --duration 10 --conns 64
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import logging
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent))  # after PYTHONPATH: a pinned copy wins

from tidegate.engine import Engine  # noqa: E402
from tidegate.engine.config import LOOPBACK_NETWORK, LoadedConfig, from_dict  # noqa: E402
from tidegate.engine.paths import resolve_paths  # noqa: E402

try:
    from tidegate.engine.node import Node
except ImportError:  # a pinned copy from before the composition root: Engine ran sites
    Node = None  # type: ignore[assignment,misc]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # /usr/sbin is not on every PATH
WRK = shutil.which("wrk") or "/usr/bin/wrk"
TIMEOUT = 120.0
INDEX = "index.html"
BIG = "media/big.bin"
TESTS = ("small", "big")

WRK_LUA = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d,"p50_us":%.0f,"p99_us":%.0f,"max_us":%.0f}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
master_process on;
pid {tmp}/nginx-{name}.pid;
error_log {tmp}/nginx-{name}.error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    server_tokens off;
    client_body_temp_path {tmp}/nginx-{name}-body;
    proxy_temp_path {tmp}/nginx-{name}-proxy;
    fastcgi_temp_path {tmp}/nginx-{name}-fastcgi;
    uwsgi_temp_path {tmp}/nginx-{name}-uwsgi;
    scgi_temp_path {tmp}/nginx-{name}-scgi;
    server {{
        listen 127.0.0.1:{port} default_server;
        server_name _;
        root {root};
    }}
}}
"""


class BenchError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None


def source_id() -> str:
    """The engine under test: where it imports from, its git commit, a hash of its source
    (the hash comes last: :func:`main` compares it before and after the run)."""
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_of(pid: int, tid: int | None = None) -> float:
    """CPU seconds (user + system) of a process, or of one of its threads."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the site


def site_files(big_size: int) -> dict[str, bytes]:
    rows = "".join(f"<li><a href=\"/post/{i}.html\">Post number {i}: notes on hosting a "
                   f"site from a signed chain</a></li>\n" for i in range(40))
    index = (f"<!doctype html>\n<html><head><meta charset=utf-8><title>bench</title>"
             f"<link rel=stylesheet href=/style.css><script src=/app.js></script></head>"
             f"<body><h1>Benchmark site</h1><ul>\n{rows}</ul></body></html>\n").encode()
    index = index[:4096].ljust(4096, b" ")  # exactly 4 KiB
    rnd = os.urandom
    return {
        INDEX: index,
        "style.css": b"body { font: 16px/1.5 sans-serif; margin: 2em auto; max-width: 40em }\n"
                     * 30,
        "app.js": b"document.addEventListener('DOMContentLoaded', () => { /* noop */ });\n"
                  * 100,
        "img/logo.png": b"\x89PNG\r\n\x1a\n" + rnd(20_000),
        "post/1.html": b"<!doctype html><h1>post</h1>" + b"<p>text</p>" * 300,
        BIG: rnd(big_size),
    }


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def make_engine(home: Path, cache_mb: int = 64) -> Engine:
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    cfg = from_dict({
        "network": {**LOOPBACK_NETWORK, "enable_dht": True, "dht_private_network": True,
                    "dht_bootstrap_nodes": []},
        "bus": {"hosting_endpoint": f"inproc://tg-bench-hosting-{tag}",
                "blockchain_endpoint": f"inproc://tg-bench-blockchain-{tag}"},
        "web": {"port": 0, "cache_mb": cache_mb},
    })
    paths = resolve_paths({"TIDEGATE_HOME": str(home)})
    loaded = LoadedConfig(cfg, paths, frozenset(), False)
    if Node is None:
        return Engine(loaded, sites=True)  # type: ignore[call-arg]
    return Node(loaded)  # type: ignore[return-value]


def publish(engine: Engine, src: Path) -> tuple[str, Path, int]:
    """Publish ``src`` as a new site; (address, hosted snapshot folder, proxy port)."""
    st = engine.site_new("bench", str(src)).result(TIMEOUT)
    address = st.address
    engine.site_publish("bench").result(TIMEOUT)

    def ready(s: Any) -> bool:
        site = s.sites.get(address)
        return site is not None and site.hosting.seq == 1 and s.web.port > 0
    snap = engine.wait_for(ready, TIMEOUT)
    folder = engine.loaded.paths.data_dir / "sites" / address / "snapshots" / "1" / "site"
    if not folder.is_dir():
        raise BenchError(f"the hosted snapshot is not at {folder}")
    # the proxy serves only once the sites thread has put the site in its table
    deadline = time.monotonic() + TIMEOUT
    while address not in engine.proxy.table.current:  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise BenchError("the proxy never listed the published site")
        time.sleep(0.05)
    return address, folder, snap.web.port


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    port: int
    host: str
    """The Host header to send."""
    pid: int = 0
    """nginx: its master's pid (0 for tidegate, which is this process)."""

    def cpu(self) -> float:
        raise NotImplementedError


@dataclass
class Nginx(Server):
    proc: subprocess.Popen[bytes] | None = None
    pid_file: Path | None = None
    workers: list[int] = field(default_factory=list)

    def cpu(self) -> float:
        return sum(cpu_of(w) for w in self.workers)


@dataclass
class Tidegate(Server):
    engine: Engine | None = None

    def threads(self) -> list[int]:
        return [t.native_id for t in threading.enumerate()
                if t.native_id is not None and t.name.startswith(
                    ("tidegate-proxy", "tidegate-read"))]

    def cpu(self) -> float:
        return sum(cpu_of(os.getpid(), tid) for tid in self.threads())

    def verified(self) -> int:
        assert self.engine is not None and self.engine.proxy is not None
        app = self.engine.proxy.app
        return app.verifier.verified_bytes if app is not None else 0


class Counted(logging.Handler):
    """Counts what aiohttp logs on ``aiohttp.server`` (each wrk run ends by closing its
    connections, and a response cut short that way is logged as an error with a
    traceback) instead of printing it; the report says how many there were."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        key = f"{record.levelname} {type(exc).__name__ if exc else record.getMessage()[:60]}"
        self.counts[key] = self.counts.get(key, 0) + 1


NGINXES: list[Nginx] = []
WRKS: list[subprocess.Popen[bytes]] = []


def start_nginx(tmp: Path, name: str, workers: str, root: Path, host_label: str) -> Nginx:
    port = free_port()
    # as root, workers would drop to nobody, who cannot read the private temp dir
    user = f"user {pwd.getpwuid(0).pw_name};\n" if os.geteuid() == 0 else ""
    conf = tmp / f"nginx-{name}.conf"
    conf.write_text(NGINX_CONF.format(user=user, workers=workers, tmp=tmp, name=name,
                                      port=port, root=root))
    errlog = tmp / f"nginx-{name}.stderr"
    pid_file = tmp / f"nginx-{name}.pid"
    with open(errlog, "wb") as err:
        proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp), "-e",
                                 str(tmp / f"nginx-{name}.error.log")],
                                stdout=err, stderr=subprocess.STDOUT)
    srv = Nginx(name, port, f"{host_label}:{port}", proc.pid, proc, pid_file)
    NGINXES.append(srv)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise BenchError(f"nginx ({name}) exited with {proc.returncode}:\n"
                             + errlog.read_text(errors="replace")[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"nginx ({name}) did not listen on {port} within 10 s") \
                    from None
            time.sleep(0.05)
    expect = (os.cpu_count() or 1) if workers == "auto" else int(workers)
    while True:
        srv.workers = children_of(proc.pid)
        if len(srv.workers) >= expect or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return srv


def children_of(pid: int) -> list[int]:
    try:
        return [int(x) for x in
                Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        out = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text().rpartition(")")[2].split()
                except OSError:
                    continue
                if int(stat[1]) == pid:
                    out.append(int(d.name))
        return out


def stop_nginx(srv: Nginx) -> None:
    """Stop one nginx by its pid (the child we started, the same pid as its pid file)."""
    proc = srv.proc
    if proc is None:
        return
    if srv.pid_file is not None and srv.pid_file.exists():
        try:
            if int(srv.pid_file.read_text().strip()) != proc.pid:
                log(f"warning: nginx ({srv.name}) pid file says something else than "
                    f"{proc.pid}")
        except ValueError:
            pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its workers
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    for w in srv.workers:  # normally gone with the master
        try:
            os.kill(w, 0)
        except OSError:
            continue
        log(f"warning: nginx worker {w} outlived its master; killing it")
        os.kill(w, signal.SIGKILL)
    srv.proc = None


def stop_all() -> None:
    for p in list(WRKS):
        if p.poll() is None:
            p.kill()
            p.wait()
        WRKS.remove(p)
    for srv in list(NGINXES):
        stop_nginx(srv)
        NGINXES.remove(srv)


# --------------------------------------------------------------------------- checks


def fetch(srv: Server, path: str) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/" + path, headers={"Host": srv.host})
        r = conn.getresponse()
        return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def check_same(servers: list[Server], files: dict[str, bytes]) -> None:
    for path, want in files.items():
        for srv in servers:
            status, body, _ = fetch(srv, path)
            if status != 200 or body != want:
                raise BenchError(f"{srv.name} answered /{path} with {status} and "
                                 f"{len(body)} bytes that are not the published file "
                                 f"({len(want)} bytes)")
    log(f"checked: {len(files)} files identical from {', '.join(s.name for s in servers)}")


# --------------------------------------------------------------------------- wrk


@dataclass
class Run:
    test: str
    server: str
    round: int
    requests: int
    bytes: int
    seconds: float
    cpu: float
    verified: int
    client_cpu: float
    """wrk's CPU seconds (user + system) in this run."""
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def mbps(self) -> float:
        return self.bytes / 1e6 / self.seconds

    @property
    def client_pct(self) -> float:
        return self.client_cpu / self.seconds * 100

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.requests * 1e6 if self.requests else float("nan")


def wrk(lua: Path, srv: Server, path: str, threads: int, conns: int, seconds: int,
        timeout: float) -> dict[str, Any]:
    argv = [WRK, f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout",
            f"{timeout:g}s", "-s", str(lua), "-H", f"Host: {srv.host}",
            f"http://127.0.0.1:{srv.port}/{path}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    WRKS.append(proc)
    try:
        out, _ = proc.communicate(timeout=seconds + timeout + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        WRKS.remove(proc)
    text = out.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}): {' '.join(argv)}\n{text[-2000:]}")
    res = json.loads(line[len("WRKJSON "):])
    errors = {k: res[k] for k in ("connect", "read", "write", "status", "timeout") if res[k]}
    if errors:
        raise BenchError(f"wrk against {srv.name} /{path} had errors {errors}:\n{text}")
    if not res["requests"]:
        raise BenchError(f"wrk against {srv.name} /{path} completed no request:\n{text}")
    return res


def measure(lua: Path, srv: Server, test: str, rnd: int, args: argparse.Namespace,
            seconds: int) -> Run:
    path = INDEX if test == "small" else BIG
    conns = args.conns if test == "small" else args.big_conns
    tg = srv if isinstance(srv, Tidegate) else None
    cpu0 = srv.cpu()
    ver0 = tg.verified() if tg else 0
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped now
    res = wrk(lua, srv, path, args.threads, conns, seconds, 2.0 if test == "small" else 30.0)
    cpu = srv.cpu() - cpu0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    return Run(test, srv.name, rnd, res["requests"], res["bytes"], res["duration_us"] / 1e6,
               cpu, (tg.verified() - ver0) if tg else 0, client, res["p50_us"] / 1e3,
               res["p99_us"] / 1e3)


# --------------------------------------------------------------------------- report


def med(runs: list[Run], test: str, server: str, attr: str) -> float:
    vals = [getattr(r, attr) for r in runs if r.test == test and r.server == server]
    return statistics.median(vals) if vals else float("nan")


def report(runs: list[Run], servers: list[str], tests: list[str], args: argparse.Namespace,
           big_size: int) -> str:
    out = []
    base = [s for s in servers if s != "tidegate"]
    out.append("| test | server | rounds | median | ratio tidegate / this | p50 ms | p99 ms "
               "| server CPU µs/req | wrk CPU % | verified MB hashed |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for test in tests:
        attr, unit = ("rps", "req/s") if test == "small" else ("mbps", "MB/s")
        label = (f"{INDEX} (4 KiB), -c{args.conns}" if test == "small"
                 else f"{BIG} ({big_size >> 20} MiB), -c{args.big_conns}")
        tg = med(runs, test, "tidegate", attr)
        for s in servers:
            vals = [getattr(r, attr) for r in runs if r.test == test and r.server == s]
            m = med(runs, test, s, attr)
            ratio = f"{tg / m:.2f}" if s in base else "–"
            ver = (f"{med(runs, test, s, 'verified') / 1e6:,.1f}" if s == "tidegate"
                   else "–")
            out.append(f"| {label} | {s} | {', '.join(f'{v:,.0f}' for v in vals)} | "
                       f"{m:,.0f} {unit} | {ratio} | {med(runs, test, s, 'p50_ms'):.2f} | "
                       f"{med(runs, test, s, 'p99_ms'):.2f} | "
                       f"{med(runs, test, s, 'cpu_us'):,.0f} | "
                       f"{med(runs, test, s, 'client_pct'):.0f} | {ver} |")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    global NGINX, WRK
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    p.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    p.add_argument("--warmup", type=int, default=1,
                   help="whole seconds of unmeasured wrk per server and test first (1; 0: none)")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    p.add_argument("--conns", type=int, default=32,
                   help="wrk connections for index.html (default 32)")
    p.add_argument("--big-conns", type=int, default=4,
                   help="wrk connections for the big file (default 4)")
    p.add_argument("--big-size", type=parse_size, default=64 << 20,
                   help="size of the big file, e.g. 64M (default)")
    p.add_argument("--cache-mb", type=int, default=64,
                   help="the engine's web.cache_mb, verified bytes kept (default 64, the "
                        "engine's default)")
    p.add_argument("--nginx-workers", default="auto,1",
                   help="comma-separated nginx worker_processes variants (default auto,1)")
    p.add_argument("--tests", default="small,big", help="small,big (default both)")
    p.add_argument("--nginx", default=NGINX, help=f"the nginx binary (default {NGINX})")
    p.add_argument("--wrk", default=WRK, help=f"the wrk binary (default {WRK})")
    p.add_argument("--tmp", default=None, help="parent folder for the temporary data")
    p.add_argument("--json-out", metavar="FILE", help="also write every run as JSON here")
    args = p.parse_args(argv)
    tests = [t for t in args.tests.split(",") if t]
    if not tests or set(tests) - set(TESTS):
        p.error("--tests takes small and/or big")
    if args.rounds < 1 or args.duration <= 0:
        p.error("--rounds must be >= 1 and --duration > 0")
    NGINX, WRK = args.nginx, args.wrk
    missing = [f"{what} ({path})" for what, path in (("nginx", NGINX), ("wrk", WRK))
               if not (os.path.isfile(path) and os.access(path, os.X_OK))]
    if missing:
        print(f"error: {' and '.join(missing)} not found; install them (Debian: apt-get "
              "install nginx-light wrk) or pass --nginx / --wrk", file=sys.stderr)
        return 2

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    counted = Counted()
    aio_log = logging.getLogger("aiohttp.server")
    aio_log.addHandler(counted)
    aio_log.propagate = False
    tmp = Path(tempfile.mkdtemp(prefix="tidegate-proxybench-", dir=args.tmp))
    engine: Engine | None = None
    runs: list[Run] = []
    started = time.monotonic()
    source = source_id()
    log(f"tidegate under test: {source}")
    try:
        files = site_files(args.big_size)
        src = tmp / "src"
        write_tree(src, files)
        engine = make_engine(tmp / "home", args.cache_mb).start()
        address, folder, port = publish(engine, src)
        label = address.removesuffix(".onion") + ".localhost"
        log(f"site {address} published; snapshot {folder}; proxy on {port}")
        servers: list[Server] = [Tidegate("tidegate", port, f"{label}:{port}", engine=engine)]
        for w in [w.strip() for w in args.nginx_workers.split(",") if w.strip()]:
            servers.append(start_nginx(tmp, f"nginx-{w}w" if w != "auto" else "nginx-auto",
                                       w, folder, label))
        log("nginx: " + ", ".join(f"{s.name} on {s.port} (workers {s.workers})"
                                  for s in servers if isinstance(s, Nginx)))
        check_same(servers, files)
        lua = tmp / "report.lua"
        lua.write_text(WRK_LUA)
        if args.warmup > 0:
            for test in tests:
                for srv in servers:
                    measure(lua, srv, test, 0, args, args.warmup)
        order = [s for s in servers if isinstance(s, Nginx)] + [servers[0]]
        for rnd in range(1, args.rounds + 1):
            for test in tests:
                k = (rnd - 1) % len(order)
                for srv in order[k:] + order[:k]:
                    run = measure(lua, srv, test, rnd, args, args.duration)
                    runs.append(run)
                    log(f"round {rnd} {test:5} {srv.name:10} {run.rps:10,.0f} req/s "
                        f"{run.mbps:9,.1f} MB/s  cpu {run.cpu_us:7,.0f} µs/req  "
                        f"wrk {run.client_pct:3.0f}%  p50 {run.p50_ms:.2f} ms  "
                        f"verified {run.verified / 1e6:,.1f} MB")
        names = [s.name for s in order]
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()
        if engine is not None and engine.running:
            engine.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nwrk -t{args.threads}: index.html -c{args.conns}, big -c{args.big_conns}; "
          f"web.cache_mb {args.cache_mb}; "
          f"{args.rounds} rounds x {args.duration:g} s (medians), servers alternating; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{subprocess.run([NGINX, '-v'], capture_output=True, text=True).stderr.strip()}; "
          f"bench took {time.monotonic() - started:.0f} s")
    print(f"tidegate under test: {source}")
    after = source_id()
    if after.rsplit(" ", 1)[-1] != source.rsplit(" ", 1)[-1]:
        print(f"WARNING: engine/ changed during the run; now {after}")
    elif after != source:
        print(f"(git HEAD moved during the run, engine/ unchanged: now {after})")
    print(report(runs, names, tests, args, args.big_size))
    if counted.counts:
        print("aiohttp.server log records during the run (not printed): " + ", ".join(
            f"{n} x {k}" for k, n in sorted(counted.counts.items())))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"args": vars(args), "tidegate": source,
             "runs": [{**r.__dict__, "rps": r.rps, "mbps": r.mbps} for r in runs]},
            indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
