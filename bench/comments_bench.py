"""Comment costs: mining NIP-13 work, verifying a comment, and what the endpoint answers.

* **mine**: ``make_comment`` (serialise, mine, sign both ways, verify) at 8, 12, 16 and
  20 bits, a fresh comment each run: the median and the spread over ``--runs`` (fewer at
  20 bits, see ``--runs20``). Mining is a geometric draw, so single runs vary a lot.
* **verify**: ``parse_record`` of one stored comment (JSON, tags, id, Schnorr via
  coincurve, ed25519 via cryptography), µs per comment over ``--verify`` comments.
* **endpoint**: a real ``CommentService`` on 127.0.0.1 holding ``--held`` comments on one
  URL; ``--clients`` keep-alive aiohttp clients for ``--seconds`` each: GET of that URL,
  GET of an empty URL, and POSTs refused as forged (403) and as not enough work (422).

    python bench/comments_bench.py
    python bench/comments_bench.py --runs 9 --runs20 3 --seconds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from tidegate.engine.comments.author import AuthorKey  # noqa: E402
from tidegate.engine.comments.event import make_comment, parse_record  # noqa: E402
from tidegate.engine.comments.service import CommentService  # noqa: E402
from tidegate.engine.config.comments import CommentsConfig  # noqa: E402

URL = "https://example.com/bench"


def mine_times(bits: int, runs: int) -> list[float]:
    key = AuthorKey(os.urandom(32))
    out = []
    for i in range(runs):
        started = time.perf_counter()
        make_comment(key, URL, f"run {i} at {bits} bits", parent=None, now=time.time(),
                     difficulty=bits)
        out.append(time.perf_counter() - started)
    return out


def try_rate(tries: int = 300_000) -> float:
    """Nonces tried per second by make_comment's miner (the same prefix-copy loop):
    the expected (mean) time at b bits is 2**b / this."""
    import hashlib

    from tidegate.engine.comments.pow import WorkNotFound, mine

    prefix = hashlib.sha256(b'[0,"' + b"ab" * 32 + b'",1700000000,1111,[["nonce","')
    rest = b'","256"]],"' + b"a typical comment of some eighty characters " * 2 + b'"]'

    def id_for(nonce: int) -> bytes:
        h = prefix.copy()
        h.update(str(nonce).encode() + rest)
        return h.digest()

    started = time.perf_counter()
    try:
        mine(id_for, 256, max_tries=tries)
    except WorkNotFound:
        pass
    return tries / (time.perf_counter() - started)


def verify_cost(n: int) -> float:
    key = AuthorKey(os.urandom(32))
    raws = [make_comment(key, URL, f"comment {i}", parent=None, now=time.time(),
                         difficulty=0).raw for i in range(n)]
    now = time.time()
    started = time.perf_counter()
    for raw in raws:
        parse_record(raw, now=now, difficulty=0)
    return (time.perf_counter() - started) / n


async def hammer(url: str, method: str, body: bytes | None, seconds: float,
                 clients: int) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def one(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            async with session.request(method, url, data=body) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        await asyncio.gather(*(one(session) for _ in range(clients)))
        elapsed = time.monotonic() - started
    return sum(statuses.values()) / elapsed, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="mining runs at 8, 12 and 16 bits")
    ap.add_argument("--runs20", type=int, default=5, help="mining runs at 20 bits")
    ap.add_argument("--verify", type=int, default=500)
    ap.add_argument("--held", type=int, default=100)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    result: dict[str, object] = {}
    rate = try_rate()
    result["tries_per_s"] = round(rate)
    print(f"miner: {rate:,.0f} nonces/s; expected (mean) time: " + ", ".join(
        f"{b} bits {2 ** b / rate:.3g} s" for b in (8, 12, 16, 20, 24)), flush=True)
    for bits in (8, 12, 16, 20):
        times = mine_times(bits, args.runs20 if bits == 20 else args.runs)
        result[f"mine_{bits}_bits_s"] = {
            "median": round(statistics.median(times), 4), "min": round(min(times), 4),
            "max": round(max(times), 4), "runs": len(times)}
        print(f"mine {bits:2d} bits: median {statistics.median(times):8.4f} s "
              f"(min {min(times):.4f}, max {max(times):.4f}, {len(times)} runs)", flush=True)
    per = verify_cost(args.verify)
    result["verify_us"] = round(per * 1e6, 1)
    print(f"verify: {per * 1e6:.0f} µs per comment ({1 / per:,.0f}/s)", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        service = CommentService(CommentsConfig(enabled=True, difficulty=16), Path(tmp))
        key = AuthorKey(os.urandom(32))
        held = [make_comment(key, URL, f"held {i}", parent=None, now=time.time(),
                             difficulty=16) for i in range(args.held)]
        for c in held:
            service.store.add(c.raw)
        service.start()
        try:
            base = service.url
            forged = json.loads(held[0].raw)
            forged["event"]["content"] = "changed"
            cheap = make_comment(key, URL, "cheap", parent=None, now=time.time(),
                                 difficulty=0)
            cases = [(f"GET a URL with {args.held} comments", "GET",
                      base + held[0].url_hash, None),
                     ("GET an empty URL", "GET", base + "ab" * 32, None),
                     ("POST refused: forged", "POST", base + held[0].url_hash,
                      json.dumps(forged).encode()),
                     ("POST refused: not enough work", "POST", base + held[0].url_hash,
                      cheap.raw)]
            for name, method, url, body in cases:
                rate, statuses = asyncio.run(hammer(url, method, body, args.seconds,
                                                    args.clients))
                result[name] = {"per_s": round(rate), "statuses": statuses}
                print(f"{name}: {rate:,.0f} requests/s {statuses}", flush=True)
        finally:
            service.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
