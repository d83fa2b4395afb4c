"""Benchmark ``tidegate download`` against bare libtorrent, per disk I/O backend.

Generates a random payload, makes a .torrent with ``tidegate create``, starts one
``tidegate seed`` on loopback, then runs alternating pairs of downloads from it: the
``tidegate download`` command and bench/raw_libtorrent.py (same libtorrent settings, no
tidegate code), each into a fresh folder that is deleted afterwards. Every downloaded file
is checked against the source's SHA-256. Times are whole-process wall times, from spawning
the downloader to its exit (so interpreter start and libtorrent import count on both
sides); peak RSS is the downloader's ru_maxrss from wait4, and anonymous / file-backed RSS
are sampled from /proc. Each download waits ``--settle`` seconds first, so that memory freed
by the previous round is in the same state every time (bench/README.md says why).

With ``--disk-io pread,posix,mmap`` the whole comparison runs once per backend (the seed
and both downloaders use that backend) and a summary per backend is printed at the end.

    python bench/download_vs_raw.py --size 256M --rounds 3 --disk-io pread,posix,mmap
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ParamSpec, TextIO

P = ParamSpec("P")

HERE = Path(__file__).resolve().parent
RAW_SCRIPT = HERE / "raw_libtorrent.py"
MODES = ("pread", "posix", "mmap", "default")
PAYLOAD_NAME = "payload.bin"
CHUNK = 16 << 20
SAMPLE_S = 0.05

CONFIG = """\
[network]
listen_interfaces = "127.0.0.1:0"
enable_dht = false
enable_lsd = false
enable_upnp = false
enable_natpmp = false
enable_utp = false
allow_multiple_connections_per_ip = true
[storage]
disk_io = "{disk_io}"
"""


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- children


class Child:
    """A subprocess we reap ourselves with wait4, for its exact exit time and rusage."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path,
                 stdout_pipe: bool = False):
        self.name = name
        self.log = log
        self.status: int | None = None
        self.rusage: Any = None
        self.t_end = 0.0
        self.peak_kib = dict.fromkeys(("RssAnon", "RssFile", "RssShmem"), 0)
        self._log_file = open(log, "wb")  # closed in _reaped()
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self._log_file, stderr=self._log_file)
        self.pid = self.proc.pid
        self._pidfd = os.pidfd_open(self.pid)
        LIVE.append(self)

    @property
    def running(self) -> bool:
        return self.status is None

    @property
    def wall(self) -> float:
        return self.t_end - self.t_start

    @property
    def peak_rss_mib(self) -> float:
        return self.rusage.ru_maxrss / 1024  # KiB on Linux

    def peak_mib(self, key: str) -> float:
        return self.peak_kib[key] / 1024

    @property
    def cpu_s(self) -> float:
        return self.rusage.ru_utime + self.rusage.ru_stime

    def sample(self) -> None:
        """Record the largest anonymous and file-backed RSS seen in /proc so far."""
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key in self.peak_kib:
                self.peak_kib[key] = max(self.peak_kib[key], int(value.split()[0]))

    def wait(self, timeout: float, sample: tuple[Child, ...] = ()) -> bool:
        """Reap the child if it exits within ``timeout`` seconds; False if it did not.

        While waiting, the memory of this child and of ``sample`` is read every
        SAMPLE_S seconds; the exit itself wakes the wait at once (pidfd).
        """
        if self.status is not None:
            return True
        deadline = time.monotonic() + timeout
        while True:
            if SAMPLE_S:
                for child in (self, *sample):
                    child.sample()
            left = deadline - time.monotonic()
            step = min(left, SAMPLE_S) if SAMPLE_S else left
            ready, _, _ = select.select([self._pidfd], [], [], max(0.0, step))
            if ready:
                break
            if left <= 0:
                return False
        self.t_end = time.monotonic()
        _, wstatus, self.rusage = os.wait4(self.pid, 0)
        self.status = os.waitstatus_to_exitcode(wstatus)
        self.proc.returncode = self.status  # we reaped it, not Popen
        self._reaped()
        return True

    def _reaped(self) -> None:
        os.close(self._pidfd)
        self._log_file.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self in LIVE:
            LIVE.remove(self)

    def stop(self, grace: float = 15.0) -> None:
        """SIGINT, then SIGKILL if it has not exited after ``grace`` seconds."""
        if self.status is not None:
            return
        for sig, limit in ((signal.SIGINT, grace), (signal.SIGKILL, 10.0)):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(limit):
                return
        print(f"warning: {self.name} (pid {self.pid}) did not exit after SIGKILL",
              file=sys.stderr)

    def log_tail(self, n: int = 15) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


LIVE: list[Child] = []


def stop_all() -> None:
    for child in list(reversed(LIVE)):
        child.stop()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def bench_folder(prefix: str, parent: str | None) -> Iterator[Path]:
    """A fresh temp folder (under ``parent``) for one run. SIGINT and SIGTERM both stop the
    run as Ctrl-C does (a shell starts background jobs with SIGINT ignored, and children
    inherit that; a Python process killed by SIGTERM runs no cleanup). On the way out,
    however the run ends, every child is stopped by pid and the folder removed."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield tmp
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_main(main: Callable[P, int]) -> Callable[P, int]:
    """A bench's ``main``: a :class:`BenchError` ends it with its message and exit 1, Ctrl-C
    or SIGTERM with exit 130."""
    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
    return run


def read_json_from(child: Child, timeout: float) -> dict[str, Any]:
    """Read stdout until it parses as one JSON value (the seed keeps running after it)."""
    assert child.proc.stdout is not None
    fd = child.proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"{child.name} printed no JSON within {timeout:g} s\n"
                             f"{child.log_tail()}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        data = os.read(fd, 65536)
        if not data:
            child.wait(5)
            raise BenchError(f"{child.name} exited ({child.status}) before printing JSON\n"
                             f"{child.log_tail()}")
        buf += data
        try:
            return json.loads(buf)
        except ValueError:
            continue


# --------------------------------------------------------------------------- helpers


def parse_size(text: str) -> int:
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in "KMG" else t
    try:
        value = int(float(number) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 256M or 1G") from None
    if value < 1 << 20:
        raise argparse.ArgumentTypeError("size must be at least 1M")
    return value


def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise argparse.ArgumentTypeError(f"disk I/O modes are {', '.join(MODES)}")
    return modes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_payload(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(CHUNK, left))
            h.update(block)
            f.write(block)
            left -= len(block)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def make_home(path: Path, disk_io: str) -> dict[str, str]:
    path.mkdir(parents=True)
    (path / "config.toml").write_text(CONFIG.format(disk_io=disk_io), encoding="utf-8")
    return {**os.environ, "TIDEGATE_HOME": str(path)}


def tidegate_exe() -> str:
    beside = Path(sys.executable).parent / "tidegate"
    found = str(beside) if beside.exists() else shutil.which("tidegate")
    if not found:
        raise BenchError("no tidegate command: activate the project's virtualenv")
    return found


def run_quietly(name: str, argv: list[str], log: Path, timeout: float = 30.0) -> str:
    """Run a short helper command; its output, or "" if it failed or is not installed."""
    if shutil.which(argv[0]) is None:
        return ""
    child = Child(name, argv, dict(os.environ), log)
    try:
        ok = child.wait(timeout) and child.status == 0
    finally:
        child.stop()
    return log.read_text(errors="replace").strip() if ok else ""


def tidegate_source(tmp: Path) -> str:
    """Where the tidegate under test imports from, with a hash of its source.

    Another engineer may edit engine/ and cli/ while the bench runs: the hash is taken
    before and after, so a changed version is noticed.

    The source is also compiled to bytecode, as installing it does (pip writes the .pyc
    files). A checkout run with PYTHONDONTWRITEBYTECODE=1 (this machine's environment)
    would otherwise compile some 50 modules, ~40 ms, at every start of every process.
    """
    root = run_quietly("python", [sys.executable, "-c", "import os, tidegate.engine as e; print("
                                  "os.path.dirname(os.path.dirname(os.path.realpath(e.__file__))))"],
                       tmp / "source.log")
    if not root:
        return "unknown"
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(Path(root) / sub)
                    for sub in ("engine", "cli", "tui"))], check=False,
                   stdout=subprocess.DEVNULL)
    h = hashlib.sha256()
    for sub in ("engine", "cli"):
        for f in sorted((Path(root) / sub).rglob("*.py")):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    commit = run_quietly("git", ["git", "-C", root, "rev-parse", "--short", "HEAD"],
                         tmp / "git.log")
    return f"{root} (git {commit or 'n/a'}, source sha256 {h.hexdigest()[:12]})"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --------------------------------------------------------------------------- the bench


@dataclass
class Run:
    mode: str
    round: int
    side: str
    wall_s: float
    mb_s: float
    peak_rss_mib: float
    """ru_maxrss from wait4: everything resident, mapped file pages included."""
    peak_anon_mib: float
    """Largest RssAnon sampled from /proc every SAMPLE_S seconds."""
    peak_file_mib: float
    """Largest RssFile sampled the same way (mapped file pages: large with mmap)."""
    cpu_s: float
    sha_ok: bool
    inproc_s: float | None = None
    """raw only: add_torrent -> cache_flushed_alert inside the process."""


@dataclass
class SeedMemory:
    peak_rss_mib: float
    peak_anon_mib: float
    peak_file_mib: float


@dataclass
class Bench:
    tmp: Path
    size: int
    sha: str
    torrent: Path
    src_dir: Path
    rounds: int
    timeout: float
    settle: float
    tidegate: str

    def download(self, mode: str, side: str, rnd: int, port: int, env: dict[str, str],
                 logs: Path, seed: Child) -> Run:
        target = self.tmp / mode / f"dl-{side}-{rnd}"
        target.mkdir(parents=True)
        if side == "tidegate":
            argv = [self.tidegate, "download", str(self.torrent), "-d", str(target),
                    "--peer", f"127.0.0.1:{port}"]
        else:
            argv = [sys.executable, str(RAW_SCRIPT), str(self.torrent), str(target),
                    f"127.0.0.1:{port}", mode]
        log = logs / f"{side}-{rnd}.log"
        # Let the memory freed by the previous round settle (see bench/README.md: on a VM
        # with free page reporting, reusing just-freed pages is much faster than new ones).
        time.sleep(self.settle)
        child = Child(f"{side} download ({mode}, round {rnd})", argv, env, log)
        try:
            if not child.wait(self.timeout, sample=(seed,)):
                raise BenchError(f"{child.name} did not finish within {self.timeout:g} s\n"
                                 f"{child.log_tail()}")
        finally:
            child.stop()
        if child.status != 0:
            raise BenchError(f"{child.name} exited {child.status}\n{child.log_tail()}")
        inproc = None
        if side == "raw":
            line = log.read_text().strip().splitlines()[-1]
            inproc = float(json.loads(line)["added_to_flushed_s"])
        ok = sha256_of(target / PAYLOAD_NAME) == self.sha
        shutil.rmtree(target)
        os.sync()  # no writeback of this round's data may spill into the next one
        if not ok:
            raise BenchError(f"{child.name}: SHA-256 of the downloaded file differs")
        return Run(mode, rnd, side, child.wall, self.size / child.wall / 1e6,
                   child.peak_rss_mib, child.peak_mib("RssAnon"), child.peak_mib("RssFile"),
                   child.cpu_s, ok, inproc)

    def run_mode(self, mode: str) -> tuple[list[Run], SeedMemory]:
        """All rounds for one disk backend; returns the runs and the seed's memory."""
        base = self.tmp / mode
        logs = base / "logs"
        seed_env = make_home(base / "seed-home", mode)
        dl_env = make_home(base / "dl-home", mode)
        logs.mkdir(parents=True)
        port = free_port()
        seed = Child(f"seed ({mode})",
                     [self.tidegate, "seed", str(self.torrent), "-d", str(self.src_dir),
                      "--listen", f"127.0.0.1:{port}", "--json"],
                     seed_env, logs / "seed.log", stdout_pipe=True)
        runs: list[Run] = []
        try:
            info = read_json_from(seed, 60)
            if info.get("port") != port:
                print(f"note: seed reports port {info.get('port')!r}, asked for {port}",
                      file=sys.stderr)
            # Unmeasured warm-up pair: the seed checks its data before it serves, and
            # both downloaders get their files into the page cache once.
            for side in ("raw", "tidegate"):
                self.download(mode, side, 0, port, dl_env, logs, seed)
            for rnd in range(1, self.rounds + 1):
                order = ("tidegate", "raw") if rnd % 2 else ("raw", "tidegate")
                for side in order:
                    run = self.download(mode, side, rnd, port, dl_env, logs, seed)
                    runs.append(run)
                    print(f"  {mode:7} round {rnd} {side:8} {run.wall_s:7.3f} s "
                          f"{run.mb_s:7.1f} MB/s  peak RSS {run.peak_rss_mib:7.1f} MiB",
                          file=sys.stderr, flush=True)
        finally:
            seed.stop()
        rss = seed.peak_rss_mib if seed.rusage is not None else float("nan")
        memory = SeedMemory(rss, seed.peak_mib("RssAnon"), seed.peak_mib("RssFile"))
        shutil.rmtree(base, ignore_errors=True)
        return runs, memory


# --------------------------------------------------------------------------- report

SIDES = ("tidegate", "raw")


def summarize(mode: str, size: int, runs: list[Run], seed: SeedMemory) -> dict[str, Any]:
    by = {side: [r for r in runs if r.side == side] for side in SIDES}
    paired = []
    for rnd in sorted({r.round for r in runs}):
        t = [r for r in by["tidegate"] if r.round == rnd]
        w = [r for r in by["raw"] if r.round == rnd]
        if t and w:
            paired.append(w[0].wall_s / t[0].wall_s)
    out: dict[str, Any] = {"mode": mode, "seed": asdict(seed)}
    for side, rs in by.items():
        out[side] = {
            "wall_s": median([r.wall_s for r in rs]),
            "mb_s": median([r.mb_s for r in rs]),
            "peak_rss_mib": median([r.peak_rss_mib for r in rs]),
            "peak_anon_mib": median([r.peak_anon_mib for r in rs]),
            "peak_file_mib": median([r.peak_file_mib for r in rs]),
            "cpu_s": median([r.cpu_s for r in rs]),
        }
    inproc = [r.inproc_s for r in by["raw"] if r.inproc_s]
    out["raw"]["inproc_mb_s"] = median([size / s / 1e6 for s in inproc])
    out["ratio"] = out["raw"]["wall_s"] / out["tidegate"]["wall_s"]
    out["ratio_paired_median"] = median(paired)
    return out


def print_mode(mode: str, runs: list[Run], s: dict[str, Any], out: TextIO) -> None:
    print(f"\n### disk_io = {mode}\n", file=out)
    print("| round | downloader | wall s | MB/s | peak RSS MiB | anon MiB | file MiB | CPU s "
          "| sha256 |", file=out)
    print("|---|---|---:|---:|---:|---:|---:|---:|---|", file=out)
    for r in runs:
        print(f"| {r.round} | {r.side} | {r.wall_s:.3f} | {r.mb_s:.1f} | "
              f"{r.peak_rss_mib:.1f} | {r.peak_anon_mib:.1f} | {r.peak_file_mib:.1f} | "
              f"{r.cpu_s:.2f} | {'ok' if r.sha_ok else 'BAD'} |", file=out)
    for side in SIDES:
        m = s[side]
        print(f"| median | {side} | {m['wall_s']:.3f} | {m['mb_s']:.1f} | "
              f"{m['peak_rss_mib']:.1f} | {m['peak_anon_mib']:.1f} | {m['peak_file_mib']:.1f} "
              f"| {m['cpu_s']:.2f} | |", file=out)
    seed = s["seed"]
    print(f"\nthroughput ratio tidegate/raw: {s['ratio']:.3f} (ratio of medians; median of "
          f"per-round ratios {s['ratio_paired_median']:.3f}); raw in-process add->flushed "
          f"median {s['raw']['inproc_mb_s']:.1f} MB/s; seed peak RSS "
          f"{seed['peak_rss_mib']:.1f} MiB (anon {seed['peak_anon_mib']:.1f}, file "
          f"{seed['peak_file_mib']:.1f})", file=out)


def print_summary(summaries: list[dict[str, Any]], out: TextIO) -> None:
    print("\n### Medians per disk I/O mode\n", file=out)
    print("| disk_io | tidegate MB/s | raw MB/s | ratio | tidegate peak RSS MiB (anon) | "
          "raw peak RSS MiB (anon) | seed peak RSS MiB (anon) | tidegate CPU s | raw CPU s |",
          file=out)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|", file=out)
    for s in summaries:
        t, w, seed = s["tidegate"], s["raw"], s["seed"]
        print(f"| {s['mode']} | {t['mb_s']:.1f} | {w['mb_s']:.1f} | {s['ratio']:.3f} | "
              f"{t['peak_rss_mib']:.1f} ({t['peak_anon_mib']:.1f}) | "
              f"{w['peak_rss_mib']:.1f} ({w['peak_anon_mib']:.1f}) | "
              f"{seed['peak_rss_mib']:.1f} ({seed['peak_anon_mib']:.1f}) | "
              f"{t['cpu_s']:.2f} | {w['cpu_s']:.2f} |", file=out)



@bench_main
def main(argv: list[str] | None = None) -> int:
    global SAMPLE_S
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=parse_size, default=1 << 30,
                   help="payload size, e.g. 256M or 1G (default 1G)")
    p.add_argument("--rounds", type=int, default=3, help="measured pairs per mode (default 3)")
    p.add_argument("--format", choices=("hybrid", "v1", "v2"), default="hybrid",
                   help="torrent format (default hybrid)")
    p.add_argument("--disk-io", type=parse_modes, default=["pread"], metavar="MODES",
                   help="comma-separated: pread,posix,mmap,default (default pread)")
    p.add_argument("--settle", type=float, default=4.0,
                   help="seconds to wait before each download (default 4; see README)")
    p.add_argument("--sample", type=float, default=0.05, metavar="SECONDS",
                   help="how often anon/file RSS is read from /proc (default 0.05; 0: never)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds one download may take before it counts as failed")
    p.add_argument("--tmp", default=None, help="parent folder for the temporary data")
    p.add_argument("--json-out", metavar="FILE", help="also write every run as JSON here")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.settle < 0:
        p.error("--settle must be >= 0")
    if args.sample < 0:
        p.error("--sample must be >= 0")
    SAMPLE_S = args.sample

    summaries: list[dict[str, Any]] = []
    all_runs: list[Run] = []
    started = time.monotonic()
    with bench_folder("tidegate-bench-", args.tmp) as tmp:
        exe = tidegate_exe()
        source = tidegate_source(tmp)
        print(f"tidegate under test: {source}", file=sys.stderr, flush=True)
        src_dir = tmp / "src"
        src_dir.mkdir()
        print(f"writing {args.size / (1 << 20):.0f} MiB of random data in {tmp}",
              file=sys.stderr, flush=True)
        sha = write_payload(src_dir / PAYLOAD_NAME, args.size)
        torrent = tmp / "payload.torrent"
        create = Child("tidegate create",
                       [exe, "create", str(src_dir / PAYLOAD_NAME), "-o", str(torrent),
                        f"--{args.format}", "--json"],
                       make_home(tmp / "create-home", "pread"), tmp / "create.log")
        try:
            if not create.wait(300) or create.status != 0:
                raise BenchError(f"tidegate create failed\n{create.log_tail()}")
        finally:
            create.stop()
        bench = Bench(tmp, args.size, sha, torrent, src_dir, args.rounds, args.timeout,
                      args.settle, exe)
        for mode in args.disk_io:
            runs, seed = bench.run_mode(mode)
            all_runs += runs
            summaries.append(summarize(mode, args.size, runs, seed))
            print_mode(mode, runs, summaries[-1], sys.stdout)
            sys.stdout.flush()
        source_after = tidegate_source(tmp)

    print(f"\n{args.size / (1 << 20):.0f} MiB {args.format} torrent, {args.rounds} rounds per "
          f"mode, {args.settle:g} s settle; whole-process wall time (spawn to exit), "
          f"MB = 10^6 bytes; {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"bench took {time.monotonic() - started:.0f} s", file=sys.stdout)
    print(f"tidegate under test: {source}", file=sys.stdout)
    if source_after != source:
        print(f"WARNING: tidegate changed during the run; now {source_after}", file=sys.stdout)
    print_summary(summaries, sys.stdout)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"size": args.size, "format": args.format, "rounds": args.rounds,
             "settle": args.settle, "tidegate": source, "tidegate_after": source_after,
             "runs": [asdict(r) for r in all_runs],
             "summaries": summaries}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
