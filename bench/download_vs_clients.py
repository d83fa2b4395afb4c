"""Benchmark ``tidegate download`` against raw libtorrent, transmission, aria2, qBittorrent.

One tidegate seed (a ``tidegate daemon`` holding the torrent, so the bench can ask it to
dial peers through the API) serves one payload on 127.0.0.1; five downloaders fetch it in
turn (tidegate and raw side by side, their order swapped every round; see round_order),
each into a fresh folder that is checked against the source's SHA-256 and deleted:

- ``tidegate download TORRENT -d DIR --peer 127.0.0.1:SEED_PORT``
- ``bench/raw_libtorrent.py`` (the same libtorrent settings, no tidegate code), dialling
  the seed the same way; ``raw-defaults`` (not in the default ``--clients``) is the same
  script with libtorrent's own defaults (``RAW_LT_DEFAULTS=1``) and its default disk I/O
- ``transmission-cli`` with a fresh config folder and port per round (its settings.json is
  written by this script, see TRANSMISSION_SETTINGS); transmission 3.00 ignores peers on
  127.0.0.0/8 that a tracker hands out and has no command to add a peer, so the seed dials
  it (``add_peers``) once its port listens
- ``aria2c`` (options in ARIA2_OPTIONS), dialled by the seed the same way
- ``qbittorrent-nox``: see bench/qbt_client.py (it never exits: timed spawn to complete)

``--seeds both`` (default): then `tidegate download` from the tidegate seed vs a qBittorrent one.

Two payloads: one big file (``--size``, default 1 GiB) and many small files (``--files``
x ``--file-size``, default 2,000 x 64 KiB), both as v1 torrents by default (aria2 1.36 and
transmission 3.00 know neither v2 nor BEP 47 pad files). Times are whole-process wall times
from spawn to exit; MB/s = payload bytes / 10^6 / that time; the ratio is raw libtorrent's
time over the client's (so > 1 is faster than raw). Each download waits ``--settle``
seconds first (bench/README.md says why). Usage: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from download_vs_raw import (
    CONFIG,
    RAW_SCRIPT,
    BenchError,
    Child,
    bench_folder,
    bench_main,
    free_port,
    median,
    parse_size,
    read_json_from,
    run_quietly,
    tidegate_exe,
    tidegate_source,
    write_payload,
)
from payload_files import make_small_payload, tree_digest, tree_digest_file
from qbt_client import compare_seeds, cpu_of, download_with_qbt, report_seeds

CLIENTS = ("tidegate", "raw", "raw-defaults", "transmission", "aria2", "qbittorrent")
DEFAULT_CLIENTS = ("tidegate", "raw", "transmission", "aria2", "qbittorrent")
RAW_CLIENTS = ("raw", "raw-defaults")

# transmission 3.00 settings.json for the downloader: loopback only, TCP only (uTP is off
# for every client here), no DHT/LPD/PEX/port mapping/blocklist, no speed limits, and a
# seed ratio of 0 so that transmission-cli stops the torrent and exits once it is complete.
TRANSMISSION_SETTINGS: dict[str, Any] = {
    "bind-address-ipv4": "127.0.0.1",
    "bind-address-ipv6": "::1",
    "dht-enabled": False,
    "lpd-enabled": False,
    "pex-enabled": False,
    "utp-enabled": False,
    "port-forwarding-enabled": False,
    "blocklist-enabled": False,
    "speed-limit-down-enabled": False,
    "speed-limit-up-enabled": False,
    "alt-speed-enabled": False,
    "ratio-limit-enabled": True,
    "ratio-limit": 0,
    "idle-seeding-limit-enabled": False,
    "encryption": 1,  # preferred, like libtorrent's "enabled"
    "peer-port-random-on-start": False,
    "rename-partial-files": False,
    "start-added-torrents": True,
    "message-level": 1,
}

# aria2c: no config file, no DHT/LPD/PEX, leave as soon as the download is complete
# (--seed-time=0), listen on 127.0.0.1 only, no upload limit, no preallocation (libtorrent
# writes sparse files too), quiet console.
ARIA2_OPTIONS = [
    "--no-conf", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
    "--enable-peer-exchange=false", "--seed-time=0", "--interface=127.0.0.1",
    "--disable-ipv6=true", "--file-allocation=none", "--max-overall-upload-limit=0",
    "--max-overall-download-limit=0", "--summary-interval=0", "--console-log-level=warn",
    "--bt-save-metadata=false", "--auto-file-renaming=false",
]

SEED_EXTRA = """\
[web]
enabled = false
[sites]
enabled = false
"""


def listening(port: int) -> bool:
    """True once something listens on TCP ``port`` (read from /proc, no connection made)."""
    want = f":{port:04X} "
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A" and (parts[1] + " ").endswith(want):
                return True
    return False


def version_of(argv: list[str], log: Path) -> str:
    text = run_quietly(argv[0], argv, log)
    return text.splitlines()[0] if text else "unknown"


@dataclass
class Run:
    payload: str
    round: int
    client: str
    wall_s: float
    mb_s: float
    peak_rss_mib: float
    cpu_s: float
    seed_cpu_s: float
    sha_ok: bool
    inproc_s: float | None = None


@dataclass
class Payload:
    kind: str  # "big" or "small"
    name: str  # the torrent's name: a file or a folder in src
    size: int
    digest: str
    torrent: Path
    tid: str = ""
    files: int = 1
    runs: list[Run] = field(default_factory=list)
    seed_runs: list[Run] = field(default_factory=list)
    qbt_settings: dict[str, Any] = field(default_factory=dict)


class Seed:
    """A tidegate daemon seeding one payload, driven through its API."""

    def __init__(self, tmp: Path, tidegate: str, payload: Payload, src: Path):
        home = tmp / f"seed-home-{payload.kind}"
        home.mkdir(parents=True)
        (home / "config.toml").write_text(CONFIG.format(disk_io="pread") + SEED_EXTRA)
        env = {**os.environ, "TIDEGATE_HOME": str(home)}
        self.child = Child(f"seed ({payload.kind})", [tidegate, "daemon", "--json"], env,
                           tmp / f"seed-{payload.kind}.log", stdout_pipe=True)
        info = read_json_from(self.child, 60)
        from tidegate.engine import commands as cmds  # the tree under test (PYTHONPATH)
        from tidegate.engine.api import RemoteEngine
        from tidegate.engine.requests import AddRequest

        self.api = RemoteEngine(info["endpoint"]).start(10)
        payload.tid = self.api.run(cmds.Add(AddRequest(torrent=payload.torrent.read_bytes(),
                                                       save_path=str(src)))).result(30)
        snap = self.api.wait_for(lambda s: payload.tid in s.torrents and
                                 s.torrents[payload.tid].phase == "seeding", 600)
        self.port = snap.stats.listen_port
        self.tid = payload.tid

    def dial(self, port: int) -> None:
        from tidegate.engine import commands as cmds

        self.api.run(cmds.AddPeers(self.tid, [f"127.0.0.1:{port}"])).result(10)

    def stop(self) -> None:
        try:
            self.api.stop()
        finally:
            self.child.stop()


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path, tidegate: str):
        self.args = args
        self.tmp = tmp
        self.tidegate = tidegate
        self.dl_env = {**os.environ, "TIDEGATE_HOME": str(tmp / "dl-home")}
        (tmp / "dl-home").mkdir()
        (tmp / "dl-home" / "config.toml").write_text(CONFIG.format(disk_io="pread"))

    def argv(self, client: str, p: Payload, target: Path, seed_port: int,
             own_port: int) -> list[str]:
        if client == "tidegate":
            return [self.tidegate, "download", str(p.torrent), "-d", str(target),
                    "--peer", f"127.0.0.1:{seed_port}", "--json"]
        if client in RAW_CLIENTS:
            return [sys.executable, str(RAW_SCRIPT), str(p.torrent), str(target),
                    f"127.0.0.1:{seed_port}", "pread" if client == "raw" else "default"]
        if client == "transmission":
            cfg = target.parent / f"{target.name}-trcfg"
            cfg.mkdir()
            (cfg / "settings.json").write_text(json.dumps(
                {**TRANSMISSION_SETTINGS, "peer-port": own_port, "download-dir": str(target)},
                indent=1))
            return ["transmission-cli", "-g", str(cfg), "-w", str(target), "-p",
                    str(own_port), str(p.torrent)]
        return ["aria2c", *ARIA2_OPTIONS, f"--listen-port={own_port}", "-d", str(target),
                str(p.torrent)]

    def download(self, client: str, p: Payload, rnd: int, seed: Any, tag: str = "") -> Run:
        """``client`` fetches from ``seed`` (a Seed or a qbt_client.Qbt); ``tag``: see there"""
        name = f"{p.kind}-{client}{tag}-{rnd}"
        target = self.tmp / f"dl-{name}"
        target.mkdir()
        time.sleep(self.args.settle)  # memory freed by the last round settles (README)
        seed_cpu0 = cpu_of(seed.child.pid)
        qbt = self.tmp / f"qbt-{name}"
        wall, cpu, rss, inproc = (
            download_with_qbt(qbt, p.torrent.read_bytes(), target, seed.dial, self.args.timeout)
            if client == "qbittorrent" else self.download_child(client, p, target, seed, name))
        seed_cpu = cpu_of(seed.child.pid) - seed_cpu0
        got = target / p.name
        ok = got.exists() and (tree_digest if got.is_dir() else tree_digest_file)(got) == p.digest
        shutil.rmtree(target)
        shutil.rmtree(target.parent / f"{target.name}-trcfg", ignore_errors=True)
        shutil.rmtree(qbt, ignore_errors=True)
        os.sync()
        if not ok:
            raise BenchError(f"{client} ({name}): the downloaded data differs from the source")
        return Run(p.kind, rnd, client + tag, wall, p.size / wall / 1e6, rss, cpu, seed_cpu,
                   ok, inproc)

    def download_child(self, client: str, p: Payload, target: Path, seed: Any,
                       name: str) -> tuple[float, float, float, float | None]:
        """Spawn to exit: (wall s, CPU s, peak RSS MiB, its own add->complete s or None)"""
        own_port = free_port()
        argv = self.argv(client, p, target, seed.port, own_port)
        log = self.tmp / f"{name}.log"
        env = ({**self.dl_env, "RAW_LT_DEFAULTS": "1"} if client == "raw-defaults"
               else self.dl_env)
        child = Child(f"{client} ({name})", argv, env, log)
        # ru_maxrss from wait4 would include the RSS of this (forking) bench process,
        # which Linux carries over exec; VmHWM is the exec'd program's own peak.
        child.peak_kib["VmHWM"] = 0
        try:
            if client in ("transmission", "aria2"):
                # These cannot dial a loopback seed themselves: the seed dials them.
                deadline = time.monotonic() + 10
                while not listening(own_port):
                    if child.wait(0.005):
                        raise BenchError(f"{child.name} exited ({child.status}) before "
                                         f"listening\n{child.log_tail()}")
                    if time.monotonic() > deadline:
                        raise BenchError(f"{child.name} is not listening on {own_port}")
                seed.dial(own_port)
            if not child.wait(self.args.timeout):
                raise BenchError(f"{child.name} did not finish within "
                                 f"{self.args.timeout:g} s\n{child.log_tail()}")
        finally:
            child.stop()
        if child.status != 0:
            raise BenchError(f"{child.name} exited {child.status}\n{child.log_tail()}")
        inproc = None
        if client in RAW_CLIENTS:
            line = log.read_text().strip().splitlines()[-1]
            inproc = float(json.loads(line)["added_to_flushed_s"])
        elif client == "tidegate":  # --json: an indented object, the log's last lines
            text = log.read_text()
            inproc = float(json.loads(text[text.rfind("\n{") + 1:])["seconds"])
        return child.wall, child.cpu_s, child.peak_mib("VmHWM"), inproc

    def run_payload(self, p: Payload, src: Path) -> None:
        clients = self.args.clients
        seed = Seed(self.tmp, self.tidegate, p, src)
        try:
            # Unmeasured warm-up: the seed's data gets into the page cache, every client's
            # binary and libraries too.
            for client in clients:
                self.download(client, p, 0, seed)
            for rnd in range(1, self.args.rounds + 1):
                for client in round_order(clients, rnd):
                    run = self.download(client, p, rnd, seed)
                    p.runs.append(run)
                    print(f"  {p.kind:5} round {rnd} {client:12} {run.wall_s:8.3f} s "
                          f"{run.mb_s:7.1f} MB/s  peak RSS {run.peak_rss_mib:7.1f} MiB  "
                          f"CPU {run.cpu_s:5.2f} s  seed CPU {run.seed_cpu_s:5.2f} s",
                          file=sys.stderr, flush=True)
            if self.args.seeds == "both":
                compare_seeds(self.download, p, seed, src, self.tmp, self.args.rounds)
        finally:
            seed.stop()


def round_order(clients: list[str], rnd: int) -> list[str]:
    """tidegate and raw first, next to each other, their order swapped every round; then
    the other clients, also swapped. So each of the pair follows another client in one
    round and its partner in the next (a plain rotation made tidegate follow aria2 in
    every round, and the first download after another client was the slow one)."""
    pair = [c for c in clients if c in ("tidegate", "raw")]
    rest = [c for c in clients if c not in pair]
    if rnd % 2 == 0:
        pair.reverse()
        rest.reverse()
    return pair + rest


def report(p: Payload, clients: list[str], rounds: int) -> dict[str, Any]:
    print(f"\n### {p.kind}: {p.files} file(s), {p.size / (1 << 20):.0f} MiB\n")
    print("| round | client | wall s | MB/s | peak RSS MiB | CPU s | seed CPU s | data |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in p.runs:
        print(f"| {r.round} | {r.client} | {r.wall_s:.3f} | {r.mb_s:.1f} | "
              f"{r.peak_rss_mib:.1f} | {r.cpu_s:.2f} | {r.seed_cpu_s:.2f} | "
              f"{'ok' if r.sha_ok else 'BAD'} |")
    out: dict[str, Any] = {}
    raw_by_round = {r.round: r.wall_s for r in p.runs if r.client == "raw"}
    print("\nMedians (ratio = raw libtorrent's time / the client's; per-round ratios are "
          "within one rotation)\n")
    print("| client | MB/s (min-max) | ratio to raw | per-round ratios | peak RSS MiB | "
          "CPU s | seed CPU s |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for c in clients:
        rs = [r for r in p.runs if r.client == c]
        if not rs:
            continue
        per = [raw_by_round[r.round] / r.wall_s for r in rs if r.round in raw_by_round]
        m = {"wall_s": median([r.wall_s for r in rs]),
             "mb_s": median([r.mb_s for r in rs]),
             "mb_s_min": min(r.mb_s for r in rs), "mb_s_max": max(r.mb_s for r in rs),
             "peak_rss_mib": median([r.peak_rss_mib for r in rs]),
             "cpu_s": median([r.cpu_s for r in rs]),
             "seed_cpu_s": median([r.seed_cpu_s for r in rs]),
             "ratio_to_raw": median(per) if per else float("nan"),
             "per_round": per}
        out[c] = m
        print(f"| {c} | {m['mb_s']:.1f} ({m['mb_s_min']:.1f}-{m['mb_s_max']:.1f}) | "
              f"{m['ratio_to_raw']:.3f} | {', '.join(f'{x:.3f}' for x in per)} | "
              f"{m['peak_rss_mib']:.1f} | {m['cpu_s']:.2f} | {m['seed_cpu_s']:.2f} |")
    inproc = {c: {r.round: r.inproc_s for r in p.runs if r.client == c and r.inproc_s}
              for c in ("tidegate", "raw", "qbittorrent")}
    print()
    for c, what in (("raw", "raw libtorrent in-process add->flushed"),
                    ("qbittorrent", "qbittorrent API add->complete (polled)")):
        if inproc[c]:
            print(f"{what}: median "
                  f"{median([p.size / s / 1e6 for s in inproc[c].values()]):.1f} MB/s")
    if inproc["tidegate"]:
        # the transfer alone, without either process's start-up and exit: tidegate's
        # clock starts before the add is parsed (raw's after) and stops when the CLI sees
        # the torrent complete on disk
        raw_at = inproc["raw"]
        per = [raw_at[n] / s for n, s in inproc["tidegate"].items() if n in raw_at]
        print(f"tidegate in-process add->complete on disk: median "
              f"{median([p.size / s / 1e6 for s in inproc['tidegate'].values()]):.1f} MB/s; "
              f"ratio to raw's add->flushed {median(per):.3f} "
              f"({', '.join(f'{x:.3f}' for x in per)})")
        if "tidegate" in out:
            out["tidegate"]["inproc_ratio_to_raw"] = median(per)
    sys.stdout.flush()
    return out


def make_payload(kind: str, tmp: Path, exe: str, args: argparse.Namespace
                 ) -> tuple[Payload, Path]:
    """Write the ``kind`` payload ("big": one file of ``args.size``; "small": ``args.files``
    files of ``args.file_size``) into a fresh ``tmp/src-KIND`` and make its torrent with
    ``tidegate create --FORMAT``. Returns the payload and that folder."""
    src = tmp / f"src-{kind}"
    src.mkdir()
    if kind == "big":
        name, size, files = "payload.bin", args.size, 1
        print(f"writing {size / (1 << 20):.0f} MiB", file=sys.stderr, flush=True)
        write_payload(src / name, size)
        digest = tree_digest_file(src / name)
    else:
        name, size, files = "many", args.files * args.file_size, args.files
        print(f"writing {files} files of {args.file_size} bytes", file=sys.stderr, flush=True)
        make_small_payload(src / name, files, args.file_size)
        digest = tree_digest(src / name)
    torrent = tmp / f"{kind}.torrent"
    create = Child("tidegate create", [exe, "create", str(src / name), "-o", str(torrent),
                                       f"--{args.format}", "--json"],
                   {**os.environ, "TIDEGATE_HOME": str(tmp / "create-home")},
                   tmp / f"create-{kind}.log")
    try:
        if not create.wait(600) or create.status != 0:
            raise BenchError(f"tidegate create failed\n{create.log_tail()}")
    finally:
        create.stop()
    return Payload(kind, name, size, digest, torrent, files=files), src


@bench_main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--payload", choices=("big", "small", "both"), default="both")
    p.add_argument("--size", type=parse_size, default=1 << 30,
                   help="size of the big payload, e.g. 256M or 1G (default 1G)")
    p.add_argument("--files", type=int, default=2000, help="small files (default 2000)")
    p.add_argument("--file-size", type=parse_size, default=64 << 10,
                   help="size of each small file (default 64K)")
    p.add_argument("--format", choices=("v1", "hybrid"), default="v1",
                   help="torrent format (default v1: the other clients know no v2)")
    p.add_argument("--clients", default=",".join(DEFAULT_CLIENTS),
                   help=f"comma-separated subset of {','.join(CLIENTS)}")
    p.add_argument("--seeds", choices=("both", "tidegate"), default="both",
                   help="both (default): also `tidegate download` from a qbittorrent seed")
    p.add_argument("--rounds", type=int, default=4, help="measured rounds (default 4)")
    p.add_argument("--settle", type=float, default=4.0,
                   help="seconds to wait before each download (default 4; see README)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds one download may take before it counts as failed")
    p.add_argument("--tmp", default=None, help="parent folder for the temporary data")
    p.add_argument("--json-out", metavar="FILE", help="also write every run as JSON here")
    args = p.parse_args(argv)
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if not args.clients or any(c not in CLIENTS for c in args.clients):
        p.error(f"--clients takes names from {','.join(CLIENTS)}")
    if args.rounds < 1 or args.settle < 0 or args.files < 1:
        p.error("--rounds and --files must be at least 1, --settle >= 0")

    started = time.monotonic()
    results: dict[str, Any] = {}
    payloads: list[Payload] = []
    with bench_folder("tidegate-clients-", args.tmp) as tmp:
        exe = tidegate_exe()
        source = tidegate_source(tmp)
        versions = {
            "transmission-cli": version_of(["transmission-cli", "--version"], tmp / "v1.log"),
            "aria2c": version_of(["aria2c", "--version"], tmp / "v2.log"),
            "qbittorrent-nox": version_of(["qbittorrent-nox", "--version"], tmp / "v4.log"),
            "libtorrent": version_of([sys.executable, "-c", "import libtorrent as lt; "
                                      "print(lt.__version__)"], tmp / "v3.log"),
        }
        print(f"tidegate under test: {source}", file=sys.stderr, flush=True)
        kinds = ["big", "small"] if args.payload == "both" else [args.payload]
        bench = Bench(args, tmp, exe)
        for kind in kinds:
            pl, src = make_payload(kind, tmp, exe, args)
            payloads.append(pl)
            bench.run_payload(pl, src)
            results[kind] = report(pl, args.clients, args.rounds)
            if pl.seed_runs:
                results[kind]["seeds"] = report_seeds(pl)
            shutil.rmtree(src)
        source_after = tidegate_source(tmp)

    print(f"\n{args.format} torrents, {args.rounds} rounds, {args.settle:g} s settle; "
          f"whole-process wall time (spawn to exit), MB = 10^6 bytes; {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}; bench took {time.monotonic() - started:.0f} s")
    print(f"tidegate under test: {source}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if source_after != source:
        print(f"WARNING: tidegate changed during the run; now {source_after}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"args": {k: v for k, v in vars(args).items()}, "tidegate": source,
             "versions": versions, "results": results,
             "runs": [asdict(r) for pl in payloads for r in pl.runs + pl.seed_runs]},
            indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
