"""Which libtorrent settings matter on loopback: alternating downloads per settings arm.

Each arm is a pair of settings overrides, one for the seed and one for the downloader, on
top of tidegate's own settings (bench/raw_libtorrent.py's SETTINGS, a copy of
engine/torrents/session.py with the loopback config). Both sides are
bench/raw_libtorrent.py (``--seed`` for the seed), so any settings_pack name can be tried
without touching tidegate's config. One seed per distinct seed override is started first
(each checks its data once) and idles while another serves; then every round downloads
the payload once per arm, in an order that rotates every round, into a fresh folder that
is checked against the source and deleted. Time is whole-process (spawn to exit).

    python bench/settings_study.py --payload big --rounds 3
    python bench/settings_study.py --payload big --size 256M --arms tcp,utp,utp-4m
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import libtorrent as lt
from download_vs_raw import (
    RAW_SCRIPT,
    BenchError,
    Child,
    bench_folder,
    bench_main,
    parse_size,
    read_json_from,
    write_payload,
)
from payload_files import make_small_payload, tree_digest, tree_digest_file

MIB = 1 << 20
# name: (seed overrides, downloader overrides, uTP instead of TCP)
ARMS: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
    "baseline": ({}, {}, False),
    "seed-sendbuf-default": ({"send_buffer_watermark": 500 * 1024,
                              "send_buffer_low_watermark": 10 * 1024,
                              "send_buffer_watermark_factor": 50}, {}, False),
    "dl-hashing-1": ({}, {"hashing_threads": 1}, False),
    "aio-4": ({"aio_threads": 4}, {"aio_threads": 4}, False),
    "dl-queued-disk-16m": ({}, {"max_queued_disk_bytes": 16 * MIB}, False),
    "dl-queued-disk-32m": ({}, {"max_queued_disk_bytes": 32 * MIB}, False),
    "dl-queued-disk-8m": ({}, {"max_queued_disk_bytes": 8 * MIB}, False),
    "dl-extent-affinity": ({}, {"piece_extent_affinity": True}, False),
    "sockbuf-4m": ({"send_socket_buffer_size": 4 * MIB, "recv_socket_buffer_size": 4 * MIB},
                   {"send_socket_buffer_size": 4 * MIB, "recv_socket_buffer_size": 4 * MIB},
                   False),
    "dl-request-queue-x3": ({}, {"max_out_request_queue": 1500, "request_queue_time": 9},
                            False),
    "file-pool-500": ({"file_pool_size": 500}, {"file_pool_size": 500}, False),
    "tcp": ({}, {}, False),
    "utp": ({}, {}, True),
    "utp-4m": ({"send_socket_buffer_size": 4 * MIB, "recv_socket_buffer_size": 4 * MIB},
               {"send_socket_buffer_size": 4 * MIB, "recv_socket_buffer_size": 4 * MIB}, True),
}
DEFAULT_ARMS = ("baseline,seed-sendbuf-default,dl-hashing-1,aio-4,dl-queued-disk-16m,"
                "dl-extent-affinity,sockbuf-4m,dl-request-queue-x3,file-pool-500")


def env_for(overrides: dict[str, Any], utp: bool) -> dict[str, str]:
    env = {**os.environ, "RAW_LT_SETTINGS": json.dumps(overrides)}
    if utp:
        env["RAW_LT_UTP"] = "1"
    return env


def make_torrent(path: Path, out: Path) -> None:
    ct = lt.create_torrent(lt.list_files(str(path)), 0, lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, str(path.parent))
    out.write_bytes(lt.bencode(ct.generate()))



@bench_main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--payload", choices=("big", "small"), default="big")
    p.add_argument("--size", type=parse_size, default=1 << 30, help="big payload (1G)")
    p.add_argument("--files", type=int, default=2000, help="small files (2000 x 64 KiB)")
    p.add_argument("--arms", default=DEFAULT_ARMS, help=f"comma-separated from {','.join(ARMS)}")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--settle", type=float, default=4.0)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--tmp", default=None)
    p.add_argument("--json-out", metavar="FILE")
    args = p.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if not arms or any(a not in ARMS for a in arms):
        p.error(f"--arms takes names from {','.join(ARMS)}")

    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with bench_folder("tidegate-study-", args.tmp) as tmp:
        src = tmp / "src"
        src.mkdir()
        if args.payload == "big":
            name, size = "payload.bin", args.size
            write_payload(src / name, size)
            digest = tree_digest_file(src / name)
        else:
            name, size = "many", args.files * 65536
            make_small_payload(src / name, args.files, 65536)
            digest = tree_digest(src / name)
        torrent = tmp / "p.torrent"
        make_torrent(src / name, torrent)
        seeds: dict[str, tuple[Child, int]] = {}
        for arm in arms:
            seed_over, _, utp = ARMS[arm]
            key = json.dumps([seed_over, utp], sort_keys=True)
            if key not in seeds:
                child = Child(f"seed {arm}", [sys.executable, str(RAW_SCRIPT), "--seed",
                                              str(torrent), str(src)],
                              env_for(seed_over, utp), tmp / f"seed-{len(seeds)}.log",
                              stdout_pipe=True)
                seeds[key] = (child, int(read_json_from(child, 300)["port"]))

        def download(arm: str, rnd: int) -> None:
            seed_over, dl_over, utp = ARMS[arm]
            _, port = seeds[json.dumps([seed_over, utp], sort_keys=True)]
            target = tmp / f"dl-{arm}-{rnd}"
            target.mkdir()
            time.sleep(args.settle)
            child = Child(f"{arm} round {rnd}", [sys.executable, str(RAW_SCRIPT), str(torrent),
                                                 str(target), f"127.0.0.1:{port}", "pread"],
                          env_for(dl_over, utp), tmp / f"{arm}-{rnd}.log")
            child.peak_kib["VmHWM"] = 0
            try:
                if not child.wait(args.timeout):
                    raise BenchError(f"{child.name} timed out\n{child.log_tail()}")
            finally:
                child.stop()
            if child.status != 0:
                raise BenchError(f"{child.name} exited {child.status}\n{child.log_tail()}")
            got = target / name
            ok = (tree_digest(got) if got.is_dir() else tree_digest_file(got)) == digest
            shutil.rmtree(target)
            os.sync()
            if not ok:
                raise BenchError(f"{child.name}: data differs")
            if rnd:
                runs.append({"arm": arm, "round": rnd, "wall_s": child.wall,
                             "mb_s": size / child.wall / 1e6, "cpu_s": child.cpu_s,
                             "peak_rss_mib": child.peak_mib("VmHWM")})
                print(f"  round {rnd} {arm:22} {child.wall:7.3f} s "
                      f"{size / child.wall / 1e6:7.1f} MB/s CPU {child.cpu_s:5.2f} s "
                      f"RSS {child.peak_mib('VmHWM'):6.1f} MiB", file=sys.stderr, flush=True)

        for arm in arms:  # warm-up, unmeasured: every seed reads its data once
            download(arm, 0)
        for rnd in range(1, args.rounds + 1):
            k = (rnd - 1) % len(arms)
            for arm in arms[k:] + arms[:k]:
                download(arm, rnd)

    base = arms[0]
    base_by_round = {r["round"]: r["wall_s"] for r in runs if r["arm"] == base}
    what = (f"{size / MIB:.0f} MiB in one file" if args.payload == "big"
            else f"{args.files} files of 64 KiB")
    print(f"### Settings study: {what}, {args.rounds} rounds, ratio = {base}'s time / the "
          "arm's (> 1 is faster)\n")
    print("| arm | seed overrides | downloader overrides | MB/s median (min-max) | ratio | "
          "per-round ratios | CPU s | peak RSS MiB |")
    print("|---|---|---|---:|---:|---|---:|---:|")
    for arm in arms:
        rs = [r for r in runs if r["arm"] == arm]
        per = [base_by_round[r["round"]] / r["wall_s"] for r in rs]
        mbs = [r["mb_s"] for r in rs]
        seed_over, dl_over, utp = ARMS[arm]
        label = (" (uTP only)" if utp else "")
        print(f"| {arm}{label} | `{json.dumps(seed_over)}` | `{json.dumps(dl_over)}` | "
              f"{statistics.median(mbs):.1f} ({min(mbs):.1f}-{max(mbs):.1f}) | "
              f"{statistics.median(per):.3f} | {', '.join(f'{x:.2f}' for x in per)} | "
              f"{statistics.median(r['cpu_s'] for r in rs):.2f} | "
              f"{statistics.median(r['peak_rss_mib'] for r in rs):.1f} |")
    print(f"\nraw libtorrent {lt.__version__} on both sides, pread, {args.settle:g} s settle, "
          f"whole-process time; {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"bench took {time.monotonic() - started:.0f} s")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"args": vars(args), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
