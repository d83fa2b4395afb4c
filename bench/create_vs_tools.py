"""Benchmark the time to create a torrent: tidegate against mktorrent and transmission-create.

Writes one file of random bytes (``--size``, default 1 GiB), then runs in a rotating order
each round:

- ``tidegate create FILE --v1``, ``--v2`` and ``--hybrid``
- libtorrent's own ``set_piece_hashes`` making the hybrid (one hashing thread: what
  tidegate did before ``engine/torrents/create_v2.py``)
- ``mktorrent -l LOG2 -t THREADS`` (v1; the piece size tidegate chose, ``--mk-threads``
  threads, default 2 = the machine's cores)
- ``transmission-create -s KIB`` (v1, the same piece size)

and measures the physical limit over the same bytes in this process: SHA-1 and SHA-256 of
every piece with hashlib, on 1 and on 2 threads (hashlib lets go of the GIL), once from
memory (the file read into a buffer first) and once reading the file (from the page cache:
the file was just written and is read before every round, so every tool reads it warm).

Times are whole-process wall times from spawn to exit. Every v1 ``pieces`` string (and the
hybrids') must be identical, and so must the v2 ``piece layers`` of tidegate's v2 and
hybrid and libtorrent's hybrid, or the bench fails. The ratio is the tool's time over
tidegate v1's time (> 1: tidegate is faster).

    python bench/create_vs_tools.py --size 1G --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import libtorrent as lt
from download_vs_raw import (
    BenchError,
    Child,
    bench_folder,
    bench_main,
    parse_size,
    run_quietly,
    tidegate_exe,
    tidegate_source,
    write_payload,
)

PAYLOAD = "payload.bin"


def warm(path: Path) -> None:
    """Read the file once so it is in the page cache for the next tool."""
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass


def run_tool(name: str, argv: list[str], tmp: Path, env: dict[str, str]) -> tuple[float,
                                                                                      float]:
    """(wall seconds, CPU seconds) of one tool run."""
    child = Child(name, argv, env, tmp / f"{name}.log")
    try:
        if not child.wait(600) or child.status != 0:
            raise BenchError(f"{name} failed ({child.status})\n{child.log_tail()}")
    finally:
        child.stop()
    return child.wall, child.cpu_s


def pieces_of(torrent: Path) -> tuple[bytes, int]:
    info = lt.bdecode(torrent.read_bytes())[b"info"]
    return info[b"pieces"], info[b"piece length"]


def layers_of(torrent: Path) -> dict[bytes, bytes]:
    layers: dict[bytes, bytes] = lt.bdecode(torrent.read_bytes())[b"piece layers"]
    return layers


LT_HYBRID = """import sys, libtorrent as lt
data, out, piece = sys.argv[1], sys.argv[2], int(sys.argv[3])
ct = lt.create_torrent(lt.list_files(data), piece, 0)
lt.set_piece_hashes(ct, __import__("os").path.dirname(data))
open(out, "wb").write(lt.bencode(ct.generate()))
"""


def hash_pieces(view: memoryview | None, path: Path, size: int, piece: int, algo: str,
                threads: int) -> float:
    """Seconds to hash every piece of the file with ``threads`` threads.

    ``view`` set: from memory. Else each thread reads its half of the file itself.
    """
    n = (size + piece - 1) // piece
    bounds = [(n * i // threads, n * (i + 1) // threads) for i in range(threads)]

    def from_memory(lo: int, hi: int) -> list[bytes]:
        assert view is not None
        return [hashlib.new(algo, view[i * piece:(i + 1) * piece]).digest()
                for i in range(lo, hi)]

    def from_file(lo: int, hi: int) -> list[bytes]:
        buf = bytearray(piece)
        mv = memoryview(buf)
        out = []
        with open(path, "rb", buffering=0) as f:
            for i in range(lo, hi):
                got = os.preadv(f.fileno(), [mv], i * piece)
                out.append(hashlib.new(algo, mv[:got]).digest())
        return out

    work: Callable[[int, int], list[bytes]] = from_memory if view is not None else from_file
    t0 = time.monotonic()
    if threads == 1:
        work(*bounds[0])
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda b: work(*b), bounds))
    return time.monotonic() - t0



@bench_main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=parse_size, default=1 << 30,
                   help="payload size, e.g. 256M or 1G (default 1G)")
    p.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--mk-threads", type=int, default=2, help="mktorrent -t (default 2)")
    p.add_argument("--tmp", default=None, help="parent folder for the temporary data")
    p.add_argument("--json-out", metavar="FILE", help="also write every run as JSON here")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")

    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    with bench_folder("tidegate-create-", args.tmp) as tmp:
        exe = tidegate_exe()
        source = tidegate_source(tmp)
        print(f"tidegate under test: {source}", file=sys.stderr, flush=True)
        env = {**os.environ, "TIDEGATE_HOME": str(tmp / "home")}
        data = tmp / PAYLOAD
        write_payload(data, args.size)
        # tidegate picks the piece size (libtorrent's rule); the others get the same one.
        first = tmp / "first.torrent"
        run_tool("tidegate-probe", [exe, "create", str(data), "-o", str(first), "--v1"],
                 tmp, env)
        ref_pieces, piece = pieces_of(first)
        log2 = piece.bit_length() - 1
        mk_version = run_quietly("mktorrent", ["mktorrent", "-h"], tmp / "mkv.log")
        tools: dict[str, list[str]] = {
            "tidegate v1": [exe, "create", str(data), "-o", str(tmp / "tg1.torrent"), "--v1"],
            "tidegate v2": [exe, "create", str(data), "-o", str(tmp / "tg2.torrent"), "--v2"],
            "tidegate hybrid": [exe, "create", str(data), "-o", str(tmp / "tgh.torrent"),
                                "--hybrid"],
            "libtorrent hybrid (set_piece_hashes)": [
                sys.executable, "-c", LT_HYBRID, str(data), str(tmp / "lth.torrent"),
                str(piece)],
            f"mktorrent -t {args.mk_threads}": [
                "mktorrent", "-l", str(log2), "-t", str(args.mk_threads), "-o",
                str(tmp / "mk.torrent"), str(data)],
            "transmission-create": ["transmission-create", "-s", str(piece // 1024), "-o",
                                    str(tmp / "tc.torrent"), str(data)],
        }
        outputs = {"tidegate v1": "tg1", "tidegate v2": "tg2", "tidegate hybrid": "tgh",
                   "libtorrent hybrid (set_piece_hashes)": "lth",
                   f"mktorrent -t {args.mk_threads}": "mk", "transmission-create": "tc"}
        names = list(tools)
        print(f"piece size {piece} bytes; {args.size // piece} pieces", file=sys.stderr)
        for rnd in range(1, args.rounds + 1):
            k = (rnd - 1) % len(names)
            for name in names[k:] + names[:k]:
                out = tmp / f"{outputs[name]}.torrent"
                out.unlink(missing_ok=True)  # mktorrent refuses to overwrite
                warm(data)
                wall, cpu = run_tool(outputs[name], tools[name], tmp, env)
                if name == "tidegate v2":
                    pass  # no v1 pieces: its layers are checked against libtorrent's below
                else:
                    got, got_piece = pieces_of(out)
                    if got != ref_pieces or got_piece != piece:
                        raise BenchError(f"{name}: the piece hashes differ from tidegate v1's")
                runs.append({"round": rnd, "what": name, "wall_s": wall, "cpu_s": cpu})
                print(f"  round {rnd} {name:22} {wall:7.3f} s  CPU {cpu:6.2f} s",
                      file=sys.stderr, flush=True)
            ref_layers = layers_of(tmp / "lth.torrent")
            for mine in ("tg2", "tgh"):
                if layers_of(tmp / f"{mine}.torrent") != ref_layers:
                    raise BenchError(f"{mine}: the v2 piece layers differ from libtorrent's")
            buf = data.read_bytes()
            view = memoryview(buf)
            for algo in ("sha1", "sha256"):
                for threads in (1, 2):
                    for where in ("memory", "file"):
                        warm(data)
                        s = hash_pieces(view if where == "memory" else None, data, args.size,
                                        piece, algo, threads)
                        name = f"hashlib {algo}, {threads} thread(s), {where}"
                        runs.append({"round": rnd, "what": name, "wall_s": s, "cpu_s": None})
                        print(f"  round {rnd} {name:36} {s:7.3f} s", file=sys.stderr,
                              flush=True)
            del view, buf
        source_after = tidegate_source(tmp)

    whats = list(dict.fromkeys(r["what"] for r in runs))
    base = statistics.median(r["wall_s"] for r in runs if r["what"] == "tidegate v1")
    print(f"### Creating a torrent of {args.size / (1 << 20):.0f} MiB ({piece // 1024} KiB "
          f"pieces), {args.rounds} rounds\n")
    print("| what | wall s, median (min-max) | GB/s | CPU s | time / tidegate v1's |")
    print("|---|---:|---:|---:|---:|")
    summary = {}
    for w in whats:
        rs = [r for r in runs if r["what"] == w]
        walls = [r["wall_s"] for r in rs]
        med = statistics.median(walls)
        cpus = [r["cpu_s"] for r in rs if r["cpu_s"] is not None]
        cpu = f"{statistics.median(cpus):.2f}" if cpus else "-"
        summary[w] = {"wall_s": med, "min": min(walls), "max": max(walls),
                      "gb_s": args.size / med / 1e9, "ratio": med / base}
        print(f"| {w} | {med:.3f} ({min(walls):.3f}-{max(walls):.3f}) | "
              f"{args.size / med / 1e9:.2f} | {cpu} | {med / base:.2f} |")
    print(f"\nwhole-process wall time for the tools (spawn to exit; the file in the page "
          f"cache); GB = 10^9 bytes; {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, libtorrent {lt.__version__}; "
          f"{(mk_version.splitlines() or ['mktorrent ?'])[0]}; bench took "
          f"{time.monotonic() - started:.0f} s")
    print(f"tidegate under test: {source}")
    if source_after != source:
        print(f"WARNING: tidegate changed during the run; now {source_after}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"size": args.size, "piece": piece, "tidegate": source, "runs": runs,
             "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
