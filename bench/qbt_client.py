"""qbittorrent-nox for the download benchmark: as a downloader and as a seed.

One qbittorrent-nox per use with its own profile folder, WebUI port and peer port, on
127.0.0.1 only, driven through its WebUI API (v2) with urllib. The process is a bench
``Child`` (reaped with wait4, stopped by pid on exit or Ctrl-C like every other child).
Adapted from tests/interop/qbittorrent.py (bench scripts do not import tests/).

The profile's qBittorrent.conf (CONF) accepts the legal notice, lets 127.0.0.1 in without a
login and turns off DHT, LSD, PeX, UPnP, uTP (TCP only, as for every client here) and
queueing. Everything else is qBittorrent's default, as a user gets it: no speed limits,
its own libtorrent send buffers and disk I/O type; ``settings()`` reads back the ones that
matter for throughput so the bench can print them.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from download_vs_raw import BenchError, Child, free_port

CONF = """[LegalNotice]
Accepted=true

[BitTorrent]
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\InterfaceAddress=127.0.0.1
Session\\BTProtocol=TCP
Session\\QueueingSystemEnabled=false
Session\\MultiConnectionsPerIp=true
Session\\DefaultSavePath={downloads}

[Preferences]
WebUI\\Address=127.0.0.1
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
Connection\\UPnP=false
"""

# torrents/info states of a torrent whose every wanted byte is there and checked
SEEDING = frozenset({"uploading", "stalledUP", "forcedUP", "queuedUP"})
FAILED = frozenset({"error", "missingFiles"})
# app/preferences keys printed with the results (speed limits, slots, buffers, disk I/O)
SHOWN = ("up_limit", "dl_limit", "max_connec", "max_connec_per_torrent", "max_uploads",
         "max_uploads_per_torrent", "disk_io_type", "send_buffer_watermark",
         "send_buffer_low_watermark", "send_buffer_watermark_factor", "async_io_threads",
         "enable_piece_extent_affinity", "upload_choking_algorithm", "encryption")
POLL_S = 0.02  # how often completion is polled: the time is at most this late


class Qbt:
    """One running qbittorrent-nox: ``start()``, ``add()``, ``wait_seeding()``, ``stop()``."""

    def __init__(self, name: str, folder: Path):
        self.name = name
        self.folder = folder
        self.web_port = free_port()
        self.port = free_port()  # peer (torrenting) port
        self.child: Child | None = None

    def start(self, timeout: float = 30.0) -> Qbt:
        """Spawn it and wait until its WebUI answers; ``self.child.t_start`` is the spawn."""
        conf = self.folder / "qBittorrent" / "config"
        conf.mkdir(parents=True)
        (conf / "qBittorrent.conf").write_text(CONF.format(downloads=self.folder / "dl"))
        env = {**os.environ, "HOME": str(self.folder)}
        self.child = Child(self.name, ["qbittorrent-nox", f"--profile={self.folder}",
                                       f"--webui-port={self.web_port}",
                                       f"--torrenting-port={self.port}"],
                           env, self.folder.with_suffix(".log"))
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("app/version", timeout=1)
                return self
            except (OSError, urllib.error.URLError):
                pass
            if self.child.wait(POLL_S):
                raise BenchError(f"{self.name} exited ({self.child.status}) before its "
                                 f"WebUI answered\n{self.child.log_tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: no WebUI on {self.web_port} in {timeout:g} s")

    def stop(self, grace: float = 10.0) -> None:
        if self.child is not None:
            self.child.stop(grace)

    def _call(self, path: str, data: bytes | None = None,
              headers: dict[str, str] | None = None, timeout: float = 10) -> bytes:
        req = urllib.request.Request(f"http://127.0.0.1:{self.web_port}/api/v2/{path}",
                                     data=data, headers=headers or {})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return bytes(r.read(1 << 20))

    def version(self) -> str:
        return self._call("app/version").decode(errors="replace")

    def settings(self) -> dict[str, Any]:
        prefs = json.loads(self._call("app/preferences"))
        return {k: prefs.get(k) for k in SHOWN}

    def add(self, torrent: bytes, save_path: Path) -> None:
        """``torrents/add`` of a .torrent file (multipart), saved under ``save_path``."""
        boundary = "bench" + os.urandom(8).hex()
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"savepath\"\r\n\r\n"
                f"{save_path}\r\n--{boundary}\r\nContent-Disposition: form-data; "
                f"name=\"torrents\"; filename=\"t.torrent\"\r\n"
                f"Content-Type: application/x-bittorrent\r\n\r\n").encode()
        body += torrent + f"\r\n--{boundary}--\r\n".encode()
        reply = self._call("torrents/add", body,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if reply.strip() != b"Ok.":
            raise BenchError(f"{self.name} refused the torrent: {reply[:200]!r}")

    def torrent(self) -> dict[str, Any] | None:
        """The ``torrents/info`` entry of the one torrent this profile holds, if listed."""
        found = json.loads(self._call("torrents/info"))
        return dict(found[0]) if found else None

    def wait_listed(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.torrent() is None:
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not list its torrent in {timeout:g} s")
            time.sleep(POLL_S)

    def wait_seeding(self, timeout: float) -> float:
        """Poll every POLL_S until the torrent is complete and seeding; the monotonic time
        of the poll that saw it. Samples the process's memory (VmHWM) on the way."""
        assert self.child is not None
        deadline = time.monotonic() + timeout
        while True:
            t = self.torrent()
            now = time.monotonic()
            if t is not None:
                if t.get("state") in FAILED:
                    raise BenchError(f"{self.name}: torrent state {t.get('state')}")
                if t.get("progress") == 1 and t.get("state") in SEEDING:
                    return now
            if self.child.wait(POLL_S):
                raise BenchError(f"{self.name} exited ({self.child.status})\n"
                                 f"{self.child.log_tail()}")
            if now > deadline:
                raise BenchError(f"{self.name} did not complete within {timeout:g} s "
                                 f"(last: {t and t.get('state')}, {t and t.get('progress')})")


def cpu_of(pid: int) -> float:
    """utime + stime of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed_with_qbt(folder: Path, torrent: bytes, data_dir: Path, timeout: float) -> Qbt:
    """A qbittorrent-nox seeding ``torrent`` from ``data_dir``: it checks the data first,
    as the tidegate seed does, and is returned once it seeds."""
    qbt = Qbt("qbittorrent seed", folder).start()
    try:
        qbt.add(torrent, data_dir)
        qbt.wait_listed(30)
        qbt.wait_seeding(timeout)
    except BaseException:
        qbt.stop()
        raise
    return qbt


def download_with_qbt(folder: Path, torrent: bytes, target: Path, dial: Any,
                      timeout: float) -> tuple[float, float, float, float]:
    """One qbittorrent-nox download: spawn, add the torrent, let the seed dial it
    (``dial(peer_port)``), wait until complete. Returns (seconds from spawn to the poll that
    saw it complete, CPU seconds of qbittorrent at that moment, peak RSS MiB (VmHWM), and
    seconds from the API add to that poll: the transfer without start-up).

    qbittorrent-nox never exits by itself, so its time stops at completion, not at exit;
    the process is then stopped and its exit is not counted (the others' times include
    their exit, which for tidegate and raw includes flushing the data to disk)."""
    qbt = Qbt("qbittorrent downloader", folder)
    try:
        qbt.start()
        assert qbt.child is not None
        qbt.child.peak_kib["VmHWM"] = 0
        added = time.monotonic()
        qbt.add(torrent, target)
        qbt.wait_listed(30)
        dial(qbt.port)
        done = qbt.wait_seeding(timeout)
        qbt.child.sample()
        cpu = cpu_of(qbt.child.pid)
        return done - qbt.child.t_start, cpu, qbt.child.peak_mib("VmHWM"), done - added
    finally:
        qbt.stop()


def compare_seeds(download: Callable[..., Any], p: Any, tidegate_seed: Any, src: Path,
                  tmp: Path, rounds: int) -> None:
    """Start a qbittorrent-nox seed of ``p`` (data in ``src``) and time ``tidegate download``
    from each seed: one unmeasured warm-up each (qBittorrent's data into the page cache),
    then ``rounds`` pairs, order swapped every round, into ``p.seed_runs``; the runs' client
    is ``tidegate<-tidegate-seed`` or ``tidegate<-qbittorrent-seed``."""
    qbt = seed_with_qbt(tmp / f"qbt-seed-{p.kind}", p.torrent.read_bytes(), src, 600)
    try:
        p.qbt_settings = qbt.settings()
        p.seed_runs = _seed_rounds(download, p, tidegate_seed, qbt, rounds)
    finally:
        qbt.stop()


def _seed_rounds(download: Callable[..., Any], p: Any, tidegate_seed: Any, qbt: Qbt,
                 rounds: int) -> list[Any]:
    seeds = [("tidegate-seed", tidegate_seed), ("qbittorrent-seed", qbt)]
    for tag, seed in seeds:
        download("tidegate", p, 0, seed, f"<-{tag}")
    runs = []
    for rnd in range(1, rounds + 1):
        for tag, seed in (seeds if rnd % 2 else seeds[::-1]):
            run = download("tidegate", p, rnd, seed, f"<-{tag}")
            runs.append(run)
            print(f"  {p.kind:5} round {rnd} {run.client:28} {run.wall_s:8.3f} s "
                  f"{run.mb_s:7.1f} MB/s  downloader CPU {run.cpu_s:5.2f} s  "
                  f"seed CPU {run.seed_cpu_s:5.2f} s", file=sys.stderr, flush=True)
    return runs


def report_seeds(p: Any) -> dict[str, Any]:
    """Print the seed comparison's table and ratio; return its medians."""
    print(f"\n#### {p.kind}: `tidegate download` from the tidegate seed vs from a "
          "qbittorrent-nox seed\n")
    print("| round | seed | wall s | MB/s | downloader CPU s | seed CPU s |")
    print("|---|---|---:|---:|---:|---:|")
    for r in p.seed_runs:
        print(f"| {r.round} | {r.client.split('<-')[1]} | {r.wall_s:.3f} | {r.mb_s:.1f} | "
              f"{r.cpu_s:.2f} | {r.seed_cpu_s:.2f} |")
    by = {tag: {r.round: r for r in p.seed_runs if r.client.endswith(tag)}
          for tag in ("tidegate-seed", "qbittorrent-seed")}
    tg, qb = by["tidegate-seed"], by["qbittorrent-seed"]
    per = [tg[n].wall_s / qb[n].wall_s for n in sorted(tg) if n in qb]
    out: dict[str, Any] = {"per_round": per,
                           "ratio": statistics.median(per) if per else float("nan")}
    for tag, runs in by.items():
        out[tag] = {k: statistics.median(getattr(r, k) for r in runs.values())
                    for k in ("wall_s", "mb_s", "cpu_s", "seed_cpu_s")}
    print(f"\nmedian MB/s: from the tidegate seed {out['tidegate-seed']['mb_s']:.1f}, from "
          f"qbittorrent-nox {out['qbittorrent-seed']['mb_s']:.1f}; seed CPU s "
          f"{out['tidegate-seed']['seed_cpu_s']:.2f} vs "
          f"{out['qbittorrent-seed']['seed_cpu_s']:.2f}")
    print(f"ratio tidegate-seed time / qbittorrent-seed time: median {out['ratio']:.3f} "
          f"({', '.join(f'{x:.3f}' for x in per)}; < 1 means the tidegate seed is faster)")
    print(f"qbittorrent-nox seed settings: {json.dumps(p.qbt_settings)}")
    sys.stdout.flush()
    return out
