"""The fixed cost of one ``tidegate download`` process against bare libtorrent's.

A 64 KiB payload (one piece) takes libtorrent ~0.1 s to fetch on loopback, so what is left
of a whole-process time is start-up (interpreter, imports, session), the add, and the way
out (stop, resume data, interpreter exit). ``--rounds`` alternating pairs of
``tidegate download`` and ``bench/raw_libtorrent.py`` fetch it from one bare-libtorrent
seed (``raw_libtorrent.py --seed``), each into a fresh folder. Prints the median
whole-process time of each, the difference (tidegate's fixed cost over raw's) and the
ratio raw/tidegate. For a payload whose transfer takes T seconds, the ratio of a download
is about T / (T + difference): this is the part of the small-payload ratio in
download_vs_clients.py that does not come from the transfer.

    python bench/oneshot_overhead.py --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from download_vs_raw import (  # noqa: E402
    CONFIG,
    RAW_SCRIPT,
    BenchError,
    Child,
    bench_folder,
    bench_main,
    tidegate_exe,
    tidegate_source,
)


@bench_main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--size", type=int, default=65536, help="payload bytes (default 65536)")
    ap.add_argument("--tmp", default=None, help="parent folder for the temporary data")
    args = ap.parse_args()
    with bench_folder("tidegate-oneshot-", args.tmp) as tmp:
        exe = tidegate_exe()
        source = tidegate_source(tmp)  # also compiles it to bytecode, as an install does
        data = tmp / "data"
        (data / "p").mkdir(parents=True)
        (data / "p" / "f.bin").write_bytes(os.urandom(args.size))
        torrent = tmp / "p.torrent"
        made = Child("create", [exe, "create", str(data / "p"), "-o", str(torrent), "--v1"],
                     dict(os.environ), tmp / "create.log")
        if not made.wait(60) or made.status != 0:
            raise BenchError(f"tidegate create failed:\n{made.log_tail()}")
        seed = Child("seed", [sys.executable, str(RAW_SCRIPT), "--seed", str(torrent),
                              str(data), "pread"], dict(os.environ), tmp / "seed.log",
                     stdout_pipe=True)
        assert seed.proc.stdout is not None
        port = json.loads(seed.proc.stdout.readline())["port"]
        home = tmp / "home"
        home.mkdir()
        (home / "config.toml").write_text(CONFIG.format(disk_io="pread"))
        env = {**os.environ, "TIDEGATE_HOME": str(home)}
        times: dict[str, list[float]] = {"tidegate": [], "raw": []}
        peer = f"127.0.0.1:{port}"
        for i in range(args.rounds + 1):  # round 0 is a warm-up, not counted
            order = ("tidegate", "raw") if i % 2 == 0 else ("raw", "tidegate")
            for client in order:
                target = tmp / f"{client}{i}"
                argv = ([exe, "download", str(torrent), "-d", str(target), "--peer", peer]
                        if client == "tidegate" else
                        [sys.executable, str(RAW_SCRIPT), str(torrent), str(target), peer,
                         "pread"])
                child = Child(client, argv, env, tmp / f"{client}{i}.log")
                if not child.wait(60) or child.status != 0:
                    raise BenchError(f"{client} failed (round {i}):\n{child.log_tail()}")
                if (target / "p" / "f.bin").read_bytes() != (data / "p" / "f.bin").read_bytes():
                    raise BenchError(f"{client} wrote different bytes (round {i})")
                shutil.rmtree(target)
                if i:
                    times[client].append(child.wall)
        med = {c: statistics.median(t) for c, t in times.items()}
        print("| downloader | median ms | min ms | max ms |")
        print("|---|---:|---:|---:|")
        for c, t in times.items():
            print(f"| {c} | {med[c] * 1000:.0f} | {min(t) * 1000:.0f} | {max(t) * 1000:.0f} |")
        extra_ms = (med["tidegate"] - med["raw"]) * 1000
        print(f"\ntidegate's fixed cost over raw libtorrent: {extra_ms:.0f} ms per process; "
              f"ratio raw/tidegate {med['raw'] / med['tidegate']:.3f}")
        print(f"{args.rounds} alternating pairs of {args.size} bytes; tidegate under test: "
              f"{source}", file=sys.stderr)
        if tidegate_source(tmp) != source:
            raise BenchError("the tidegate source changed while the bench ran")
        return 0


if __name__ == "__main__":
    sys.exit(main())
