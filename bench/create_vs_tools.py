"""Benchmark the time to create a torrent: tidegate against mktorrent and transmission-create.

Writes one file of random bytes (``--size``, default 1 GiB), then runs in a rotating order
each round:

- ``tidegate create FILE --v1``, ``--v2`` and ``--hybrid``
- libtorrent's own ``set_piece_hashes`` making the v1, v2 and hybrid (one hashing thread:
  what tidegate did before ``engine/torrents/create.py`` and ``create_v2.py``)
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


LT_CREATE = """import sys, libtorrent as lt
data, out, piece, flags = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ct = lt.create_torrent(lt.list_files(data), piece, flags)
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



def tools_for(exe: str, data: Path, tmp: Path, piece: int, mk_threads: int
              ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Every creator's argv, and the stem of the .torrent it writes in ``tmp``."""
    log2 = piece.bit_length() - 1
    ct = lt.create_torrent
    outputs = {"tidegate v1": "tg1", "tidegate v2": "tg2", "tidegate hybrid": "tgh",
               "libtorrent v1": "lt1", "libtorrent v2": "lt2", "libtorrent hybrid": "lth",
               f"mktorrent -t {mk_threads}": "mk", "transmission-create": "tc"}
    tools: dict[str, list[str]] = {
        f"tidegate {fmt}": [exe, "create", str(data), "-o",
                            str(tmp / f"{outputs[f'tidegate {fmt}']}.torrent"), f"--{fmt}"]
        for fmt in ("v1", "v2", "hybrid")}
    for fmt, flags in (("v1", ct.v1_only), ("v2", ct.v2_only), ("hybrid", 0)):
        tools[f"libtorrent {fmt}"] = [
            sys.executable, "-c", LT_CREATE, str(data),
            str(tmp / f"{outputs[f'libtorrent {fmt}']}.torrent"), str(piece), str(int(flags))]
    tools[f"mktorrent -t {mk_threads}"] = ["mktorrent", "-l", str(log2), "-t", str(mk_threads),
                                           "-o", str(tmp / "mk.torrent"), str(data)]
    tools["transmission-create"] = ["transmission-create", "-s", str(piece // 1024), "-o",
                                    str(tmp / "tc.torrent"), str(data)]
    return tools, outputs


def probe_piece(exe: str, data: Path, tmp: Path, env: dict[str, str]) -> tuple[bytes, int]:
    """tidegate picks the piece size (libtorrent's rule); the others get the same one.
    Returns tidegate v1's ``pieces`` and that size."""
    first = tmp / "first.torrent"
    run_tool("tidegate-probe", [exe, "create", str(data), "-o", str(first), "--v1"], tmp, env)
    return pieces_of(first)


def time_creators(tmp: Path, data: Path, names: list[str], tools: dict[str, list[str]],
                  outputs: dict[str, str], ref_pieces: bytes, piece: int, rounds: int,
                  env: dict[str, str], first: int = 1) -> list[dict[str, Any]]:
    """``rounds`` rounds of every creator in ``names``, rotating, the file warm before each;
    fails unless every v1 ``pieces`` equals ``ref_pieces`` and every v2 ``piece layers``
    equals the first v2 or hybrid one's. Rounds are numbered from ``first``."""
    runs: list[dict[str, Any]] = []
    for rnd in range(first, first + rounds):
        k = (rnd - 1) % len(names)
        for name in names[k:] + names[:k]:
            out = tmp / f"{outputs[name]}.torrent"
            out.unlink(missing_ok=True)  # mktorrent refuses to overwrite
            warm(data)
            wall, cpu = run_tool(outputs[name], tools[name], tmp, env)
            if not name.endswith(" v2"):  # v2 has no v1 pieces: its layers are checked below
                got, got_piece = pieces_of(out)
                if got != ref_pieces or got_piece != piece:
                    raise BenchError(f"{name}: the piece hashes differ from tidegate v1's")
            runs.append({"round": rnd, "what": name, "wall_s": wall, "cpu_s": cpu})
            print(f"  round {rnd} {name:22} {wall:7.3f} s  CPU {cpu:6.2f} s",
                  file=sys.stderr, flush=True)
        v2 = [n for n in names if n.endswith((" v2", " hybrid"))]
        if v2:
            ref_layers = layers_of(tmp / f"{outputs[v2[0]]}.torrent")
            for other in v2[1:]:
                if layers_of(tmp / f"{outputs[other]}.torrent") != ref_layers:
                    raise BenchError(f"{other}: the v2 piece layers differ from {v2[0]}'s")
    return runs


def time_hashlib(data: Path, size: int, piece: int, rnd: int) -> list[dict[str, Any]]:
    """hashlib SHA-1 and SHA-256 of every piece on 1 and 2 threads, from memory and file."""
    runs = []
    buf = data.read_bytes()
    view = memoryview(buf)
    for algo in ("sha1", "sha256"):
        for threads in (1, 2):
            for where in ("memory", "file"):
                warm(data)
                s = hash_pieces(view if where == "memory" else None, data, size, piece, algo,
                                threads)
                name = f"hashlib {algo}, {threads} thread(s), {where}"
                runs.append({"round": rnd, "what": name, "wall_s": s, "cpu_s": None})
                print(f"  round {rnd} {name:36} {s:7.3f} s", file=sys.stderr, flush=True)
    del view
    return runs


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
        ref_pieces, piece = probe_piece(exe, data, tmp, env)
        mk_version = run_quietly("mktorrent", ["mktorrent", "-h"], tmp / "mkv.log")
        tools, outputs = tools_for(exe, data, tmp, piece, args.mk_threads)
        print(f"piece size {piece} bytes; {args.size // piece} pieces", file=sys.stderr)
        for rnd in range(1, args.rounds + 1):
            runs += time_creators(tmp, data, list(tools), tools, outputs, ref_pieces, piece,
                                  1, env, first=rnd)
            runs += time_hashlib(data, args.size, piece, rnd)
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
