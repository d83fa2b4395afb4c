"""The machine's physical limits, measured in the bench's own run (bench/suite.py).

- **hash**: hashlib SHA-1 and SHA-256 over a buffer in memory, in 1 MiB pieces, on 1 thread
  and on 2 (hashlib lets go of the GIL), so the rates of 1 and 2 cores.
- **loopback**: TCP over 127.0.0.1 between two processes: a receiver child (``RECEIVER``)
  reads into one buffer, this process sends one buffer over and over and stops the clock
  when the receiver acknowledges the last byte.
- **disk**: in the bench's temp folder, a sequential write in 16 MiB blocks ended by fsync
  (the clock includes it), then the file's pages dropped from the page cache with
  ``posix_fadvise(POSIX_FADV_DONTNEED)`` and read back ("cold": on a VM the host may still
  cache it), then read again from the page cache ("warm").

Every figure is the median of ``reps`` runs, in MB/s (10^6 bytes per second).
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from create_vs_tools import hash_pieces
from download_vs_raw import BenchError, Child, read_json_from

PIECE = 1 << 20
BLOCK = 16 << 20

RECEIVER = """import json, socket, sys
total = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(json.dumps({"port": srv.getsockname()[1]}), flush=True)
conn, _ = srv.accept()
buf = memoryview(bytearray(1 << 20))
got = 0
while got < total:
    n = conn.recv_into(buf)
    if not n:
        sys.exit(1)
    got += n
conn.sendall(b"k")
conn.close()
"""


def hash_rate(buf: bytes, algo: str, threads: int) -> float:
    """MB/s of hashing ``buf`` in PIECE pieces on ``threads`` threads (from memory, with
    create_vs_tools.py's timing, which the creation rows use too)."""
    n = len(buf) // PIECE
    seconds = hash_pieces(memoryview(buf), Path(), n * PIECE, PIECE, algo, threads)
    return n * PIECE / seconds / 1e6


def loopback_rate(tmp: Path, size: int) -> float:
    """MB/s of ``size`` bytes sent over TCP on 127.0.0.1 to a receiving process."""
    child = Child("loopback receiver", [sys.executable, "-c", RECEIVER, str(size)],
                  dict(os.environ), tmp / "loopback.log", stdout_pipe=True)
    try:
        port = int(read_json_from(child, 30)["port"])
        block = memoryview(os.urandom(PIECE))
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            t0 = time.monotonic()
            left = size
            while left:
                part = block[:min(PIECE, left)]
                s.sendall(part)
                left -= len(part)
            if s.recv(1) != b"k":
                raise BenchError("the loopback receiver did not acknowledge")
            seconds = time.monotonic() - t0
        if not child.wait(30) or child.status != 0:
            raise BenchError(f"the loopback receiver failed\n{child.log_tail()}")
    finally:
        child.stop()
    return size / seconds / 1e6


def disk_rates(tmp: Path, size: int) -> tuple[float, float, float]:
    """MB/s of (write + fsync, cold read after POSIX_FADV_DONTNEED, warm read)."""
    path = tmp / "disk-limit.bin"
    block = os.urandom(BLOCK)
    try:
        t0 = time.monotonic()
        with open(path, "wb", buffering=0) as f:
            left = size
            while left:
                left -= f.write(block[:min(BLOCK, left)])
            os.fsync(f.fileno())
        write = size / (time.monotonic() - t0) / 1e6
        reads = []
        for drop in (True, False):
            with open(path, "rb", buffering=0) as f:
                if drop:
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                buf = bytearray(BLOCK)
                t0 = time.monotonic()
                got = 0
                while n := f.readinto(buf):
                    got += n
                reads.append(got / (time.monotonic() - t0) / 1e6)
        return write, reads[0], reads[1]
    finally:
        path.unlink(missing_ok=True)


def median_of(reps: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(reps))


def measure_limits(tmp: Path, hash_size: int, net_size: int, disk_size: int,
                   reps: int = 3) -> dict[str, float]:
    """Every limit, MB/s: ``sha1_1``, ``sha1_2``, ``sha256_1``, ``sha256_2`` (algorithm,
    cores), ``loopback``, ``disk_write``, ``disk_read_cold``, ``disk_read_warm``."""
    out: dict[str, float] = {}
    buf = os.urandom(hash_size)
    for algo in ("sha1", "sha256"):
        for threads in (1, 2):
            out[f"{algo}_{threads}"] = statistics.median(
                hash_rate(buf, algo, threads) for _ in range(reps))
    del buf
    out["loopback"] = median_of(reps, lambda: loopback_rate(tmp, net_size))
    disks = [disk_rates(tmp, disk_size) for _ in range(reps)]
    for i, key in enumerate(("disk_write", "disk_read_cold", "disk_read_warm")):
        out[key] = statistics.median(d[i] for d in disks)
    for key, value in out.items():
        print(f"  limit {key:16} {value:9.1f} MB/s", file=sys.stderr, flush=True)
    return out
