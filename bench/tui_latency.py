"""Benchmark the TUI's key-press latency in a real terminal, at 100 and 10,000 torrents.

Each size gets a TIDEGATE_HOME under /tmp with that many 1 KiB v1 torrents, added with
``seed_mode`` by an Engine that is then stopped, so the TUI restores them. In each mode,
``embedded`` (``tidegate tui --embedded``: engine and UI share a process and its GIL) and
``daemon`` (``tidegate daemon``, left to finish restoring, then ``tidegate tui``, which
attaches), the app runs in a 120x40 tmux pane. Once the state tabs say "All N" and the
process has used under 30% of a core for 3 s in a row (restoring done), keys go in with
``send-keys`` and ``capture-pane -p -e`` is polled (both through one tmux control-mode
client, no process per poll) until the key's effect is on screen: **down** the cursor row
moved; **sort** ``>`` the header shows the next sort column; **filter** a letter typed
after ``/`` and the status bar says "k/N"; **clear** backspace and it says "N" again.
Then **churn**: ctrl+a marks all, ``p`` pauses all, ``p`` resumes all, and up/down
alternate every ``--gap`` s until the tabs say all paused (then none) plus 2 s.
Latency = send to changed capture; the baseline is the first size, in the same run. No
effect within ``--timeout`` s is a timeout; three in a row mark the block frozen.

    python bench/tui_latency.py                  # both modes, 100 and 10,000 (10-20 min)
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

LETTERS = "ghijklmnopqrsuvwxyz"  # in no info-hash (hex) and not in ".dat"
ANSI = re.compile(r"\x1b\[[0-9;:?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
SGR = re.compile(r"\x1b\[([0-9;:]*)m")
COUNT = re.compile(r"(?:(\d+)/)?(\d+) torrents")
BG_CODES = {str(c) for c in (*range(40, 48), *range(100, 108))}
Result = dict[str, Any]


class Frozen(Exception):
    pass


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))] if s else math.nan


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_home(n: int) -> Path:
    """A TIDEGATE_HOME whose engine restores ``n`` seeding torrents."""
    from tidegate.engine import AddRequest, Engine
    from tidegate.engine.config import load, loopback_toml
    from tidegate.engine.metainfo import CreateSpec, create_torrent
    from tidegate.engine.paths import resolve_paths

    home = Path(tempfile.mkdtemp(prefix="tgb", dir="/tmp"))
    (home / "config.toml").write_text(loopback_toml())  # as tests' LOOPBACK_TOML
    (home / "payload").mkdir()
    made = []
    for i in range(n):
        f = home / "payload" / f"{chr(97 + i % 26)}{i:05d}.dat"
        f.write_bytes(os.urandom(1024))
        made.append(create_torrent(CreateSpec(path=str(f), format="v1")))
    engine = Engine(load(resolve_paths({"TIDEGATE_HOME": str(home)}))).start()
    try:
        for fut in [engine.add(AddRequest(torrent=c.data, save_path=c.save_path,
                                          seed_mode=True)) for c in made]:
            fut.result(300)
        deadline = time.monotonic() + 600  # each new torrent's resume file, written once
        while sum(1 for _ in home.rglob("*.resume")) < n and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        engine.stop(timeout=300)  # saves all again: over its default 25 s at 10,000 if busy
    return home


class Tmux:
    """A tmux server on a private socket, one 120x40 session, one control-mode client."""

    def __init__(self, name: str) -> None:
        self.base = ["tmux", "-L", name]
        subprocess.run(self.base + ["new-session", "-d", "-s", "b", "-x", "120", "-y", "40"],
                       check=True, timeout=10)
        for opt in (["-g", "window-size", "manual"], ["-t", "b", "remain-on-exit", "on"]):
            subprocess.run(self.base + ["set-option", *opt], check=True, timeout=10)
        self.ctl = subprocess.Popen(self.base + ["-C", "attach", "-t", "b"], bufsize=0,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""
        self._reply()  # to attaching
        self.cmd("refresh-client -f no-output")
        self.socket = self.cmd("display -p '#{socket_path}'").strip()

    def _reply(self) -> str:
        assert self.ctl.stdout is not None
        deadline, out, inside = time.monotonic() + 10, list[bytes](), False
        while True:
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.ctl.stdout], [], [], left)[0]:
                    raise TimeoutError("tmux did not answer")
                chunk = os.read(self.ctl.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise EOFError("the tmux control client ended")
                self.buf += chunk
            line, _, self.buf = self.buf.partition(b"\n")
            if line.startswith(b"%begin"):
                inside, out = True, []
            elif inside and line.startswith((b"%end", b"%error")):
                text = b"\n".join(out).decode(errors="replace")
                if line.startswith(b"%error"):
                    raise RuntimeError(text)
                return text
            elif inside:
                out.append(line)

    def cmd(self, command: str) -> str:
        assert self.ctl.stdin is not None
        self.ctl.stdin.write(command.encode() + b"\n")
        return self._reply()

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
        Path(self.socket).unlink(missing_ok=True)


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
                elif ps[i] in BG_CODES:
                    bg = ps[i]
                i += 1
            seen.add(bg)
        out.append(seen)
    return out[3:-2]


def lone_bgs(cap: str) -> set[str | None]:
    """Backgrounds used on one table row only: the cursor's."""
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


def wait(tm: Tmux, test: Callable[[str], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test(tm.capture()):
            return True
        time.sleep(0.02)
    return False


def cursor_colours(tm: Tmux) -> set[str | None]:
    """The cursor row's backgrounds, focused and blurred: the lone ones after a key each
    way. Never the default background: a capture in which only one row had it (a few rows
    listed) made every row "the cursor", and a moved cursor went unseen (the 3 "no effect"
    keys of the 50,000-torrent load were that: the cursor had moved, screens kept by
    ``--dump``)."""
    found = lone_bgs(tm.capture())
    for key in ("Down", "Up"):
        before = tm.capture()
        tm.send(key)
        wait(tm, before.__ne__, 2)
        found |= lone_bgs(tm.capture())
    found.discard(None)
    if not found:
        raise Frozen("no cursor row on screen")
    return found


def measure(tm: Tmux, n: int, args: argparse.Namespace, res: Result) -> None:
    misses = [0]

    def take(kind: str, key: str, done: Callable[[str, str], bool]) -> None:
        before = tm.capture()
        t0 = time.perf_counter()
        tm.send(key)
        while not (ok := done(before, tm.capture())) and time.perf_counter() - t0 < args.timeout:
            time.sleep(0.002)
        t = time.perf_counter() - t0
        if not ok:
            res["timeouts"][kind] = res["timeouts"].get(kind, 0) + 1
            misses[0] += 1
            if misses[0] >= 3:
                raise Frozen(f"no reaction to 3 keys in a row ({kind})")
        else:
            misses[0] = 0
            res["lat"].setdefault(kind, []).append(t)
        time.sleep(args.gap)

    found = cursor_colours(tm)

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

    if args.no_churn:
        return
    tm.send("C-a")
    if not wait(tm, lambda c: f"{n} torrents ({n} marked)" in "".join(plain(c)), 30):
        raise Frozen("ctrl+a did not mark every torrent")
    for kind, target in (("churn pause", n), ("churn resume", 0)):
        tm.send("p")
        t0, done_at, i, toasts = time.monotonic(), 0.0, 0, dict[str, None]()
        while time.monotonic() < t0 + args.churn_timeout and (
                not done_at or time.monotonic() < done_at + 2):
            take(kind, ("Down", "Up")[i % 2], moved)
            i += 1
            screen = plain(tm.capture())
            toasts.update((t.split("▌")[-1].strip(), None) for t in screen if "▌" in t)
            m = re.search(r"Paused (\d+)", screen[0])
            if not done_at and m and int(m.group(1)) == target:
                done_at = time.monotonic()
                res[f"{kind} s"] = done_at - t0
        res[f"{kind} toasts"] = " / ".join(t for t in list(toasts)[:12] if t)
        if not done_at:
            res[f"{kind} s"] = f"not done in {args.churn_timeout:g} s ({screen[0].strip()})"
            break
    tm.send("Escape")
    time.sleep(0.5)  # a key right after escape would be read as alt+key
    wait(tm, lambda c: "marked)" not in "".join(plain(c)), 30)


def measure_loading(tm: Tmux, n: int, args: argparse.Namespace, res: Result,
                    t0: float) -> None:
    """Keys while the torrents load (``--during-load``): from the first rows on screen
    until the list has all ``n``, down (the cursor moves) and sort (``>``: the header
    changes), each timed as in :func:`measure`."""
    if not wait(tm, lambda c: (k := counts(c)) is not None and k[1] > 40 and
                bool(lone_bgs(c)), args.startup_timeout):
        raise Frozen("no rows on screen while loading")
    res["first rows s"] = time.monotonic() - t0
    found = cursor_colours(tm)
    misses = 0
    while f" All {n} " not in plain(tm.capture())[0]:
        for kind, key in (("loading: down", "Down"), ("loading: sort", ">")):
            before = tm.capture()
            k0 = time.perf_counter()
            tm.send(key)

            def done(c: str, kind: str = kind, before: str = before) -> bool:
                if kind == "loading: down":
                    return cursor(c, found) != cursor(before, found)
                return plain(c)[2] != plain(before)[2]

            ok = wait(tm, done, args.timeout)
            if ok:
                misses = 0
                res["lat"].setdefault(kind, []).append(time.perf_counter() - k0)
            else:
                if args.dump:  # what the screen showed before the key and after the wait
                    stem = Path(args.dump) / f"timeout-{len(list(Path(args.dump).iterdir()))}"
                    stem.with_suffix(".before").write_text(before)
                    stem.with_suffix(".after").write_text(tm.capture())
                    stem.with_suffix(".cursor").write_text(repr(sorted(map(str, found))))
                res["timeouts"][kind] = res["timeouts"].get(kind, 0) + 1
                misses += 1
                if misses >= 3:
                    raise Frozen(f"no reaction to 3 keys in a row ({kind})")
            time.sleep(args.gap)
    res["all listed s"] = time.monotonic() - t0


def settle(pid: int, cores: float, timeout: float) -> tuple[float, float]:
    """Wait until ``pid`` uses under ``cores`` CPU for 3 s in a row: (seconds, its CPU %)."""
    t0, quiet, use = time.monotonic(), 0, math.nan
    while quiet < 3 and time.monotonic() - t0 < timeout:
        c0 = cpu_s(pid)
        time.sleep(1)
        use = cpu_s(pid) - c0
        quiet = quiet + 1 if use < cores else 0
    return time.monotonic() - t0, use * 100


def block(mode: str, n: int, home: Path, args: argparse.Namespace, res: Result) -> None:
    daemon: subprocess.Popen[str] | None = None
    tm: Tmux | None = None
    tui = 0
    try:
        if mode == "daemon":
            with open(home / "daemon.log", "a") as err:
                daemon = subprocess.Popen([args.tidegate, "daemon", "--json"],
                                          env=dict(os.environ, TIDEGATE_HOME=str(home)),
                                          stdout=subprocess.PIPE, stderr=err, text=True)
            assert daemon.stdout is not None
            if not select.select([daemon.stdout], [], [], 120)[0] or not daemon.stdout.readline():
                raise Frozen("the daemon did not start")
            if not args.during_load:
                res["daemon settled s"], _ = settle(daemon.pid, 0.1, 300)  # restored
        tm = Tmux(f"tgb{os.getpid()}{mode}{n}")
        tm.send(f"exec env TIDEGATE_HOME={home} {args.tidegate} tui"
                + (" --embedded" if mode == "embedded" else ""), literal=True)
        t0 = time.monotonic()
        tm.send("Enter")
        tui = int(tm.pane("pane_pid"))
        if args.during_load:
            measure_loading(tm, n, args, res, t0)
        if not wait(tm, lambda c: f" All {n} " in plain(c)[0], args.startup_timeout):
            raise Frozen(f"the list did not show {n} torrents in {args.startup_timeout:g} s")
        res["startup s"] = time.monotonic() - t0
        res["settled s"], res["idle cpu %"] = settle(tui, 0.3, 120)
        measure(tm, n, args, res)
        q0 = time.monotonic()
        while time.monotonic() - q0 < 120 and tm.pane("pane_dead") != "1":
            tm.send("q")  # again every 5 s until it has quit
            wait(tm, lambda c: tm.pane("pane_dead") == "1", 5)
        res["quit s"] = time.monotonic() - q0
    except Frozen as exc:
        res["frozen"] = str(exc)
        print(f"  {mode} {n}: FROZEN: {exc}", file=sys.stderr, flush=True)
    finally:
        stop_pid(tui, 10)
        if daemon is not None:
            stop_pid(daemon.pid, 120)
            daemon.wait(5)
        if tm is not None:
            tm.close()


def stop_pid(pid: int, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` s (a zombie counts as gone)."""
    def alive() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
        except OSError:
            return False

    if pid > 0 and alive():
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive():
            os.kill(pid, signal.SIGKILL)


def report(results: list[Result], base: int) -> None:
    p50 = {(r["mode"], r["n"], k): pct(v, 50) for r in results for k, v in r["lat"].items()}
    print(f"| mode | torrents | key | n | p50 ms | p95 ms | max ms | timeouts | p50 / {base} |\n"
          "|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for kind, v in r["lat"].items():
            ratio = p50[(r["mode"], r["n"], kind)] / p50.get((r["mode"], base, kind), math.nan)
            print(f"| {r['mode']} | {r['n']:,} | {kind} | {len(v)} | {pct(v, 50) * 1e3:.1f} | "
                  f"{pct(v, 95) * 1e3:.1f} | {max(v, default=math.nan) * 1e3:.1f} | "
                  f"{r['timeouts'].get(kind, 0)} | {ratio:.2f} |")
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
    ap.add_argument("--json-out", metavar="FILE", help="keep every sample")
    ap.add_argument("--no-churn", action="store_true", help="skip pause all / resume all")
    ap.add_argument("--during-load", action="store_true",
                    help="also time keys while the torrents load (daemon mode: the TUI "
                         "attaches as soon as the daemon answers)")
    ap.add_argument("--dump", metavar="DIR", default="",
                    help="write the screens of every key that timed out while loading here")
    ap.add_argument("--home", action="append", default=[], metavar="N=PATH",
                    help="reuse a home made before for size N (kept)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    homes: dict[int, Path] = {}
    results: list[Result] = []
    try:
        given = {int(k): Path(v) for k, v in (h.split("=", 1) for h in args.home)}
        for n in sizes:
            if n in given:
                continue
            t0 = time.monotonic()
            homes[n] = make_home(n)
            print(f"{n:,} torrents made in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        for i, mode in enumerate(args.modes.split(",")):
            for n in sizes if i % 2 == 0 else sizes[::-1]:
                print(f"{mode}, {n:,} torrents…", file=sys.stderr, flush=True)
                results.append({"mode": mode, "n": n, "lat": {}, "timeouts": {}})
                block(mode, n, given.get(n) or homes[n], args, results[-1])
    finally:
        for home in homes.values():
            shutil.rmtree(home, ignore_errors=True)
    report(sorted(results, key=lambda r: (r["mode"], r["n"])), sizes[0])
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
