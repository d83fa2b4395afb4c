"""Chain verification throughput (entries/s) against the raw ed25519 verify rate.

Builds a chain of ``--entries`` UPDATEs (each with a ``--files``-file manifest) from a
fixed key, then, in alternating rounds:

* **raw**: ``Ed25519PublicKey.verify`` of one entry's signature over its signed bytes,
  the same library (PyCA cryptography) that tidegate uses: the ceiling.
* **chain**: ``Chain.accept`` of every entry from genesis: decode, canonical check,
  fields, manifest, signature, links.
* **store**: ``ChainStore.open`` of the same chain written to disk: read, CRC, verify all.

Prints entries/s for each and the ratio to raw, measured in the same run.

    python bench/chain_verify.py                      # 2,000 entries of 10 files, 5 rounds
    python bench/chain_verify.py --files 1000 --entries 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fastbencode  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: E402

from tidegate.engine.chain import (  # noqa: E402
    Chain,
    FileRecord,
    SiteKey,
    entry_hash,
    sign_genesis,
    sign_update,
)
from tidegate.engine.chain.entry import SIGNING_PREFIX, magnet_for  # noqa: E402

try:
    from tidegate.engine.sites.chain_file import ChainStore
except ImportError:  # a pinned copy from before the chain file moved out of chain/
    from tidegate.engine.chain import ChainStore  # type: ignore[attr-defined,no-redef]


def build(entries: int, files: int) -> tuple[SiteKey, list[bytes]]:
    key = SiteKey.from_seed(bytes(range(32)))
    raws = [sign_genesis(key, 1_000_000, "bench").raw]
    manifest = [FileRecord((f"dir{i % 7}", f"file{i:05d}.html"), 1000 + i,
                           (i + 1).to_bytes(32, "big")) for i in range(files)]
    for seq in range(1, entries):
        raws.append(sign_update(key, seq, entry_hash(raws[-1]), 1_000_000 + seq,
                                magnet_for(seq.to_bytes(32, "big")), manifest).raw)
    return key, raws


def rate(fn: object, n: int) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return n / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--files", type=int, default=10, help="files per manifest")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    key, raws = build(args.entries, args.files)
    d = fastbencode.bdecode(raws[-1])
    sig = d.pop(b"sig")
    signed = SIGNING_PREFIX + fastbencode.bencode(d)
    public = Ed25519PublicKey.from_public_bytes(key.public)
    folder = Path(tempfile.mkdtemp(prefix="tgchain"))
    path = folder / "site.chain"
    store = ChainStore.open(path, key.address)
    for raw in raws:
        store.append(raw, None)

    def raw_verify() -> None:
        for _ in range(len(raws)):
            public.verify(sig, signed)

    def chain_verify() -> None:
        chain = Chain(key.address)
        for raw in raws:
            chain.accept(raw, None)

    def store_open() -> None:
        ChainStore.open(path, key.address)

    results: dict[str, list[float]] = {"raw": [], "chain": [], "store": []}
    for _ in range(args.rounds):
        results["raw"].append(rate(raw_verify, len(raws)))
        results["chain"].append(rate(chain_verify, len(raws)))
        results["store"].append(rate(store_open, len(raws)))
    base = statistics.median(results["raw"])
    size = sum(map(len, raws)) / len(raws)
    print(f"{len(raws)} entries, {args.files} files each ({size:,.0f} bytes per entry), "
          f"median of {args.rounds} rounds")
    print("| path | entries/s | ratio to raw ed25519 verify |")
    print("|---|---:|---:|")
    for name, label in (("raw", "raw ed25519 verify (cryptography)"),
                        ("chain", "Chain.accept from genesis"),
                        ("store", "ChainStore.open (read, CRC, verify)")):
        med = statistics.median(results[name])
        print(f"| {label} | {med:,.0f} | {med / base:.2f} |")
    path.unlink()
    folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
