"""The chain format's test vectors (docs/chain-vectors.json), built from fixed keys.

ed25519 signatures are deterministic, so the same seeds always give the same bytes.
``python -m tests.helpers.chain_vectors > docs/chain-vectors.json`` rewrites the file; the tests
check that the code still produces exactly it and rejects each invalid case for its reason.
"""

from __future__ import annotations

import json
from typing import Any

import fastbencode

from tidegate.engine.chain import FileRecord, SiteKey, entry_hash, sign_genesis, sign_update
from tidegate.engine.chain.entry import _signed, magnet_for

SEED = bytes(range(32))
OTHER_SEED = bytes(range(32, 64))
T0 = 1_795_000_000
NOW = T0 + 1000
"""The verifier's clock for every case."""


def _resign(key: SiteKey, fields: dict[bytes, Any]) -> bytes:
    """Sign ``fields`` as given (however invalid), replacing any signature."""
    fields = dict(fields)
    fields.pop(b"sig", None)
    return _signed(key, fields)


def build() -> dict[str, Any]:
    key, other = SiteKey.from_seed(SEED), SiteKey.from_seed(OTHER_SEED)
    genesis = sign_genesis(key, T0, "example site")
    files = [FileRecord(("index.html",), 1234, bytes.fromhex("11" * 32)),
             FileRecord(("css", "site.css"), 20000, bytes.fromhex("22" * 32)),
             FileRecord(("empty.txt",), 0, None)]
    magnet1 = magnet_for(bytes.fromhex("aa" * 32), bytes.fromhex("bb" * 20))
    up1 = sign_update(key, 1, entry_hash(genesis.raw), T0 + 100, magnet1, files)
    magnet2 = magnet_for(bytes.fromhex("cc" * 32))
    up2 = sign_update(key, 2, entry_hash(up1.raw), T0 + 200, magnet2, files[:2])
    valid = [("genesis", genesis.raw), ("update 1", up1.raw), ("update 2", up2.raw)]

    u1 = dict(fastbencode.bdecode(up1.raw))
    flipped = bytearray(up1.raw)
    sig_at = up1.raw.index(b"3:sig64:") + len(b"3:sig64:")
    flipped[sig_at] ^= 1

    def update_with(**changes: Any) -> bytes:
        fields = dict(u1)
        fields.update({k.encode(): v for k, v in changes.items()})
        return _resign(key, fields)

    def manifest(*items: tuple[list[bytes], int, bytes | None]) -> list[dict[bytes, Any]]:
        out = []
        for path, size, root in items:
            item: dict[bytes, Any] = {b"path": path, b"size": size}
            if root is not None:
                item[b"root"] = root
            out.append(item)
        return out

    root = bytes(32)
    invalid = [
        ("forged signature", ["genesis"], bytes(flipped), "bad_signature"),
        ("signed by another key", ["genesis"],
         sign_update(other, 1, entry_hash(genesis.raw), T0 + 100, magnet1, files).raw,
         "bad_signature"),
        ("genesis naming another key", [],
         _resign(key, {**fastbencode.bdecode(genesis.raw), b"key": other.public}),
         "wrong_key"),
        ("seq gap", ["genesis", "update 1"],
         sign_update(key, 3, entry_hash(up1.raw), T0 + 300, magnet2, files).raw, "seq_gap"),
        ("broken prev link", ["genesis", "update 1"],
         sign_update(key, 2, bytes(32), T0 + 300, magnet2, files).raw, "bad_prev"),
        ("time before the previous entry", ["genesis", "update 1"],
         sign_update(key, 2, entry_hash(up1.raw), T0 + 50, magnet2, files).raw,
         "time_backwards"),
        ("time far in the future", ["genesis", "update 1"],
         sign_update(key, 2, entry_hash(up1.raw), NOW + 3600, magnet2, files).raw,
         "time_future"),
        ("second entry for seq 1 (fork)", ["genesis", "update 1"],
         sign_update(key, 1, entry_hash(genesis.raw), T0 + 150, magnet2, files).raw,
         "equivocation"),
        ("seq as a string", ["genesis"], update_with(seq=b"1"), "bad_field"),
        ("unknown key", ["genesis"], update_with(extra=1), "bad_field"),
        ("magnet without a v2 hash", ["genesis"],
         update_with(magnet=b"magnet:?xt=urn:btih:" + b"bb" * 20), "bad_field"),
        ("keys out of order (not canonical)", ["genesis"],
         up1.raw.replace(b"4:prev", b"4:zrev", 1), "bad_encoding"),
        ("trailing bytes", ["genesis"], up1.raw + b"0:", "bad_encoding"),
        ("not a dict", ["genesis"], b"li1ee", "bad_encoding"),
        ("manifest paths unsorted", ["genesis"],
         update_with(files=manifest(([b"b"], 1, root), ([b"a"], 1, root))), "bad_manifest"),
        ("manifest path escapes the site", ["genesis"],
         update_with(files=manifest(([b"..", b"etc"], 1, root))), "bad_manifest"),
        ("manifest file is also a folder", ["genesis"],
         update_with(files=manifest(([b"a"], 1, root), ([b"a", b"b"], 1, root))),
         "bad_manifest"),
        ("manifest non-empty file without root", ["genesis"],
         update_with(files=manifest(([b"a"], 5, None))), "bad_manifest"),
        ("oversized entry", ["genesis"],
         update_with(magnet=b"x" * (8 << 20)), "too_large"),
    ]
    return {
        "about": "tidegate chain format v1 test vectors; see docs/chain.md",
        "seed": SEED.hex(),
        "public": key.public.hex(),
        "address": key.address,
        "other_seed": OTHER_SEED.hex(),
        "other_address": other.address,
        "now": NOW,
        "valid": [{"name": n, "hex": raw.hex(), "sha256": entry_hash(raw).hex()}
                  for n, raw in valid],
        "invalid": [{"name": n, "after": after, "reason": reason,
                     **({"hex": raw.hex()} if len(raw) < 4096 else
                        {"hex_prefix": raw[:64].hex(), "size": len(raw)})}
                    for n, after, raw, reason in invalid],
        "_raw_invalid": {n: raw for n, _a, raw, _r in invalid},
    }


def as_json(vectors: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in vectors.items() if not k.startswith("_")},
                      indent=1) + "\n"


if __name__ == "__main__":
    print(as_json(build()), end="")
