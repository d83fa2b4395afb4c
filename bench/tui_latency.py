"""Benchmark the TUI's key-press latency in a real terminal, at 100 and 10,000 torrents.

Each size gets its own TIDEGATE_HOME under /tmp, filled with tiny seeding torrents (1 KiB,
v1, ``seed_mode``) by an Engine that is then stopped, so the TUI restores them. For each
mode -- ``embedded`` (``tidegate tui --embedded``: engine and UI share one process and
its GIL) and ``daemon`` (``tidegate daemon`` in the background, left to finish restoring,
then ``tidegate tui``, which attaches) -- and size, the app runs in a 120x40 tmux pane.
Once the status bar says "N torrents", keys go in with ``send-keys`` and the pane is read
with ``capture-pane -p -e`` in a loop (both through one tmux control-mode client, no
process per poll) until the key's effect is on screen:

* down:   the cursor row moved (or the list scrolled);
* sort:   ``>``, the header shows the next sort column (the rows are re-sorted with it);
* filter: one letter typed into the filter box (after ``/``), the status bar says "k/N";
* clear:  backspace, the status bar says "N torrents" again.

Then churn: ctrl+a marks every torrent and ``p`` pauses them all, ``p`` again resumes them
all, while up/down alternate every ``--gap`` s; the latency of each, until the state tabs
say all paused (then none) plus 2 s. Latency is send to changed capture; the baseline is
the same measurement at 100 torrents in the same run. A key that shows no effect within
``--timeout`` s counts as a timeout; three in a row mark the app frozen and end that block.

    python bench/tui_latency.py                       # both modes, 100 and 10,000
    python bench/tui_latency.py --sizes 100,1000 --modes daemon --samples 20
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The same as LOOPBACK_TOML in tests/conftest.py: loopback only, DHT and friends off.
LOOPBACK_TOML = """
[network]
listen_interfaces = "127.0.0.1:0"
enable_dht = false
enable_lsd = false
enable_upnp = false
enable_natpmp = false
enable_utp = false
allow_multiple_connections_per_ip = true
"""
LETTERS = "ghijklmnopqrsuvwxyz"  # in no info-hash (hex) and not in ".dat"
ANSI = re.compile(r"\x1b\[[0-9;:?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
SGR = re.compile(r"\x1b\[([0-9;:]*)m")
COUNT = re.compile(r"(?:(\d+)/)?(\d+) torrents")
BG_CODES = set(range(40, 48)) | set(range(100, 108))
Result = dict[str, Any]


class Frozen(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))] if s else math.nan


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_home(n: int) -> Path:
    """A TIDEGATE_HOME whose engine restores ``n`` seeding torrents."""
    from engine import AddRequest, Engine
    from engine.config import load
    from engine.metainfo import CreateSpec, create_torrent
    from engine.paths import resolve_paths

    home = Path(tempfile.mkdtemp(prefix="tgb", dir="/tmp"))
    (home / "config.toml").write_text(LOOPBACK_TOML)
    (home / "payload").mkdir()
    made = []
    for i in range(n):
        f = home / "payload" / f"{chr(97 + i % 26)}{i:05d}.dat"
        f.write_bytes(os.urandom(1024))
        made.append(create_torrent(CreateSpec(path=str(f), format="v1")))
    engine = Engine(load(resolve_paths({"TIDEGATE_HOME": str(home)}))).start()
    try:
        futs = [engine.add(AddRequest(torrent=c.data, save_path=c.save_path, seed_mode=True))
                for c in made]
        for fut in futs:
            fut.result(300)
        deadline = time.monotonic() + 600  # each new torrent's resume file, written once
        while sum(1 for _ in home.rglob("*.resume")) < n and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        engine.stop(timeout=300)  # saves all again: over the default 25 s at 10,000 on a busy box
    return home


class Tmux:
    """One tmux server on a private socket, one 120x40 session, a control-mode client."""

    def __init__(self, name: str) -> None:
        self.base = ["tmux", "-L", name]
        subprocess.run(self.base + ["new-session", "-d", "-s", "b", "-x", "120", "-y", "40"],
                       check=True, timeout=10)
        for opt in (["-g", "window-size", "manual"], ["-t", "b", "remain-on-exit", "on"]):
            subprocess.run(self.base + ["set-option", *opt], check=True, timeout=10)
        self.ctl = subprocess.Popen(self.base + ["-C", "attach", "-t", "b"], bufsize=0,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""
        self._block()  # the reply to attaching
        self.cmd("refresh-client -f no-output")

    def _line(self, deadline: float) -> bytes:
        assert self.ctl.stdout is not None
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.ctl.stdout], [], [], left)[0]:
                raise TimeoutError("tmux did not answer")
            chunk = os.read(self.ctl.stdout.fileno(), 1 << 16)
            if not chunk:
                raise EOFError("tmux control client ended")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def _block(self) -> str:
        deadline, out, inside = time.monotonic() + 10, list[bytes](), False
        while True:
            line = self._line(deadline)
            if line.startswith(b"%begin"):
                inside, out = True, []
            elif inside and line.startswith((b"%end", b"%error")):
                if line.startswith(b"%error"):
                    raise RuntimeError(b"\n".join(out).decode(errors="replace"))
                return b"\n".join(out).decode(errors="replace")
            elif inside:
                out.append(line)

    def cmd(self, command: str) -> str:
        assert self.ctl.stdin is not None
        self.ctl.stdin.write(command.encode() + b"\n")
        return self._block()

    def send(self, key: str, literal: bool = False) -> None:
        self.cmd(f"send-keys -t b {'-l ' if literal else ''}'{key}'")

    def capture(self) -> str:
        return self.cmd("capture-pane -p -e -t b")

    def pane(self, fmt: str) -> str:
        return self.cmd(f"display -p -t b '#{{{fmt}}}'").strip()

    def close(self) -> None:
        if self.ctl.poll() is None:
            self.ctl.terminate()
            self.ctl.wait(5)
        subprocess.run(self.base + ["kill-server"], capture_output=True, timeout=10)


def plain(cap: str) -> list[str]:
    return ANSI.sub("", cap).split("\n")


def row_bgs(cap: str) -> list[set[str | None]]:
    """The background colours used on each table row (pane lines 3..37)."""
    bg: str | None = None
    out: list[set[str | None]] = []
    for line in cap.split("\n"):
        seen = {bg}
        for m in SGR.finditer(line):
            ps, i = (m.group(1) or "0").replace(":", ";").split(";"), 0
            while i < len(ps):
                if ps[i] in ("38", "48", "58"):
                    width = 3 if ps[i + 1:i + 2] == ["5"] else 5
                    bg = ";".join(ps[i:i + width]) if ps[i] == "48" else bg
                    i += width - 1
                elif ps[i] in ("", "0", "49"):
                    bg = None
                elif ps[i].isdigit() and int(ps[i]) in BG_CODES:
                    bg = ps[i]
                i += 1
            seen.add(bg)
        out.append(seen)
    return out[3:-2]


def lone_bgs(cap: str) -> set[str | None]:
    """Backgrounds used on one table row only: the cursor's (focused or not)."""
    rows = row_bgs(cap)
    return {bg for bg in set().union(*rows) if sum(bg in r for r in rows) == 1}


def cursor(cap: str, cursor_bgs: set[str | None]) -> tuple[int, str]:
    """(the cursor's row on screen, the first row's text)."""
    row = next((i for i, s in enumerate(row_bgs(cap)) if s & cursor_bgs), -1)
    return row, plain(cap)[3]


def counts(cap: str) -> tuple[int, int] | None:
    """(shown, total) from the status bar."""
    m = COUNT.search(next((t for t in plain(cap) if " torrents" in t), ""))
    return (int(m.group(1) or m.group(2)), int(m.group(2))) if m else None


def probe(tm: Tmux, key: str, done: Callable[[str, str], bool], timeout: float) -> float | None:
    before = tm.capture()
    t0 = time.perf_counter()
    tm.send(key)
    while time.perf_counter() - t0 < timeout:
        if done(before, tm.capture()):
            return time.perf_counter() - t0
        time.sleep(0.002)
    return None


def wait(tm: Tmux, test: Callable[[str], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test(tm.capture()):
            return True
        time.sleep(0.02)
    return False


def measure(tm: Tmux, n: int, args: argparse.Namespace, res: Result) -> None:
    lat: dict[str, list[float]] = res["lat"]
    misses = [0]

    def take(kind: str, key: str, done: Callable[[str, str], bool]) -> None:
        t = probe(tm, key, done, args.timeout)
        lat.setdefault(kind, [])
        if t is None:
            res["timeouts"][kind] = res["timeouts"].get(kind, 0) + 1
            misses[0] += 1
            if misses[0] >= 3:
                raise Frozen(f"no reaction to 3 keys in a row ({kind})")
        else:
            misses[0] = 0
            lat[kind].append(t)
        time.sleep(args.gap)

    found = lone_bgs(tm.capture())  # the cursor: blurred and focused
    for key in ("Down", "Up"):
        before = tm.capture()
        tm.send(key)
        wait(tm, before.__ne__, 2)
        found |= lone_bgs(tm.capture())
    if not found:
        raise Frozen("the cursor row is not recognisable")

    def moved(a: str, b: str) -> bool:
        return cursor(a, found) != cursor(b, found)

    for chunk in range(0, args.samples, 10):
        for _ in range(10):
            take("down", "Down", moved)
        for _ in range(10):
            take("sort", ">", lambda a, b: plain(a)[2] != plain(b)[2])
        tm.send("/")
        wait(tm, lambda c: "/ filter" not in c, 2)
        for i in range(10):
            take("filter", LETTERS[(chunk + i) % len(LETTERS)],
                 lambda a, b: (c := counts(b)) is not None and c[0] < n)
            take("clear", "BSpace", lambda a, b: counts(b) == (n, n))
        before = tm.capture()
        tm.send("Enter")
        wait(tm, before.__ne__, 2)

    tm.send("C-a")
    if not wait(tm, lambda c: f"{n} torrents ({n} marked)" in "".join(plain(c)), 30):
        raise Frozen("ctrl+a did not mark every torrent")
    for kind, target in (("churn pause", n), ("churn resume", 0)):
        tm.send("p")
        t0 = time.monotonic()
        end = t0 + args.churn_timeout
        settled: float | None = None
        keys = 0
        while time.monotonic() < end and (settled is None or time.monotonic() < settled + 2):
            take(kind, "Down" if keys % 2 == 0 else "Up", moved)
            keys += 1
            tabs = plain(tm.capture())[0]
            m = re.search(r"Paused (\d+)", tabs)
            if settled is None and m and int(m.group(1)) == target:
                settled = time.monotonic()
                res[f"{kind} s"] = settled - t0
    tm.send("Escape")
    time.sleep(0.5)  # a key right after escape would be read as alt+key
    wait(tm, lambda c: "marked)" not in "".join(plain(c)), 30)


def block(mode: str, n: int, home: Path, args: argparse.Namespace, res: Result) -> None:
    env = dict(os.environ, TIDEGATE_HOME=str(home))
    daemon: subprocess.Popen[str] | None = None
    tm: Tmux | None = None
    tui = 0
    try:
        if mode == "daemon":
            with open(home / "daemon.log", "a") as err:
                daemon = subprocess.Popen([args.tidegate, "daemon", "--json"], env=env,
                                          stdout=subprocess.PIPE, stderr=err, text=True)
            assert daemon.stdout is not None
            if not select.select([daemon.stdout], [], [], 120)[0] or not daemon.stdout.readline():
                raise Frozen("the daemon did not start")
            deadline, idle = time.monotonic() + 300, 0  # let it finish restoring first
            while time.monotonic() < deadline and idle < 3:
                c0 = cpu_s(daemon.pid)
                time.sleep(1)
                idle = idle + 1 if cpu_s(daemon.pid) - c0 < 0.1 else 0
        tm = Tmux(f"tgb{os.getpid()}{mode}{n}")
        tm.send(f"exec env TIDEGATE_HOME={home} {args.tidegate} tui"
                + (" --embedded" if mode == "embedded" else ""), literal=True)
        t0 = time.monotonic()
        tm.send("Enter")
        tui = int(tm.pane("pane_pid"))
        if not wait(tm, lambda c: f" All {n} " in plain(c)[0], args.startup_timeout):
            raise Frozen(f"the list did not show {n} torrents in {args.startup_timeout:g} s")
        res["startup s"] = time.monotonic() - t0
        last, still = tm.capture(), time.monotonic()
        while time.monotonic() - still < 1 and time.monotonic() - t0 < args.startup_timeout:
            time.sleep(0.05)
            if (cap := tm.capture()) != last:
                last, still = cap, time.monotonic()
        c0 = cpu_s(tui)
        time.sleep(2)
        res["idle cpu %"] = (cpu_s(tui) - c0) / 2 * 100
        measure(tm, n, args, res)
        q0 = time.monotonic()
        while time.monotonic() - q0 < 120 and tm.pane("pane_dead") != "1":
            tm.send("q")  # again every 5 s while it has not quit
            wait(tm, lambda c: tm.pane("pane_dead") == "1", 5)
        res["quit s"] = time.monotonic() - q0
    except Frozen as exc:
        res["frozen"] = str(exc)
        log(f"  {mode} {n}: FROZEN: {exc}")
    finally:
        for pid, grace in ((tui, 10), (daemon.pid if daemon else 0, 60)):
            stop_pid(pid, grace)
        if daemon is not None:
            daemon.wait(5)
        if tm is not None:
            tm.close()


def stop_pid(pid: int, grace: float) -> None:
    if pid <= 0 or not Path(f"/proc/{pid}").exists():
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return
        time.sleep(0.1)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


def report(results: list[Result], base: int) -> None:
    p50s = {(r["mode"], r["n"], k): pct(v, 50) for r in results for k, v in r["lat"].items()}
    print("| mode | torrents | key | n | p50 ms | p95 ms | max ms | timeouts | p50 / "
          f"{base} |\n|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for kind, v in r["lat"].items():
            ratio = p50s[(r["mode"], r["n"], kind)] / p50s.get((r["mode"], base, kind), math.nan)
            print(f"| {r['mode']} | {r['n']:,} | {kind} | {len(v)} | {pct(v, 50) * 1e3:.1f} | "
                  f"{pct(v, 95) * 1e3:.1f} | {max(v, default=math.nan) * 1e3:.1f} | "
                  f"{r['timeouts'].get(kind, 0)} | {ratio:.2f} |")
    print()
    for r in results:
        extra = {k: v for k, v in r.items() if k not in ("mode", "n", "lat", "timeouts")}
        print(f"{r['mode']} {r['n']:,}: " + ", ".join(
            f"{k} {v:.1f}" if isinstance(v, float) else f"{k}: {v}" for k, v in extra.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,10000", help="the first is the baseline")
    ap.add_argument("--modes", default="embedded,daemon")
    ap.add_argument("--samples", type=int, default=40, help="per key kind (multiple of 10)")
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between keys")
    ap.add_argument("--timeout", type=float, default=5.0, help="per key, seconds")
    ap.add_argument("--startup-timeout", type=float, default=300.0)
    ap.add_argument("--churn-timeout", type=float, default=180.0)
    ap.add_argument("--tidegate", default=str(Path(sys.executable).parent / "tidegate"))
    ap.add_argument("--json-out", metavar="FILE")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    homes: dict[int, Path] = {}
    results: list[Result] = []
    try:
        for n in sizes:
            t0 = time.monotonic()
            homes[n] = make_home(n)
            log(f"{n:,} torrents ready in {time.monotonic() - t0:.1f} s ({homes[n]})")
        for i, mode in enumerate(args.modes.split(",")):
            for n in sizes if i % 2 == 0 else sizes[::-1]:
                log(f"{mode}, {n:,} torrents…")
                res: Result = {"mode": mode, "n": n, "lat": {}, "timeouts": {}}
                results.append(res)
                block(mode, n, homes[n], args, res)
    finally:
        for home in homes.values():
            shutil.rmtree(home, ignore_errors=True)
    report(sorted(results, key=lambda r: (r["mode"], r["n"])), sizes[0])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
