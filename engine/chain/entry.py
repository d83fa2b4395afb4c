"""GENESIS and UPDATE entries: canonical bencoded dicts, signed with the site key.

An entry's bytes are the bencoding of its dict; its signature covers
``SIGNING_PREFIX + bencode(dict without "sig")``; its hash is SHA-256 of its bytes. Decoding
is strict: the bytes must be exactly the canonical bencoding of a dict with exactly the
allowed keys, each of the right type and range, so one entry has one encoding and one
hash. Every failure is a :class:`ChainRejected` naming the field. See docs/chain.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import fastbencode

from .errors import ChainRejected
from .keys import SiteKey, verify_signature

FORMAT = 1
SIGNING_PREFIX = b"tidegate chain v1\x00"
MAX_ENTRY_BYTES = 8 << 20
MAX_FILES = 65_536
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 256
MAX_SIZE = 1 << 50
"""Largest file size accepted in a manifest (1 PiB)."""
MAX_DEPTH = 4
"""An entry nests at most this deep: entry -> files -> file -> path."""
MAX_TOKENS = 12 * MAX_FILES + 64
"""Most bencode tokens of an entry: a full manifest has about 10 per file.

Decoding 8 MiB of ``llll...eeee`` built four million lists (~500 MiB, 2 s) before any
check ran, and 8 MiB of ``2:ab`` two million bytes objects (~140 MiB). Every list or dict
ends with an ``e`` and every string has a ``:``, so an entry with at most this many of each
(two C-speed counts) cannot hold more containers or strings than this; only one with more
is scanned token by token (:func:`_check_shape`, ~0.3 s for a full legal manifest)."""


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file of a snapshot: its path (components), size and BEP 52 pieces root."""

    path: tuple[str, ...]
    size: int
    root: bytes | None
    """SHA-256 merkle root of the file's 16 KiB blocks; None for an empty file."""


@dataclass(frozen=True, slots=True)
class Genesis:
    seq: int
    key: bytes
    time: int
    name: str
    raw: bytes
    """The entry's canonical bytes, signature included."""


@dataclass(frozen=True, slots=True)
class Update:
    seq: int
    prev: bytes
    time: int
    magnet: str
    files: tuple[FileRecord, ...]
    raw: bytes


Entry = Genesis | Update


def path_key(path: Sequence[str]) -> list[bytes]:
    """The manifest's order: paths compared as lists of UTF-8 byte strings."""
    return [c.encode() for c in path]


def entry_hash(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def magnet_for(info_hash_v2: bytes, info_hash_v1: bytes | None = None) -> str:
    """The canonical snapshot magnet: v2 (``btmh``, multihash 0x12 0x20), then v1 if hybrid."""
    if len(info_hash_v2) != 32 or (info_hash_v1 is not None and len(info_hash_v1) != 20):
        raise ValueError("a v2 info-hash is 32 bytes and a v1 info-hash 20")
    text = f"magnet:?xt=urn:btmh:1220{info_hash_v2.hex()}"
    return text + (f"&xt=urn:btih:{info_hash_v1.hex()}" if info_hash_v1 else "")


def _signed(key: SiteKey, fields: dict[bytes, Any]) -> bytes:
    fields[b"sig"] = key.sign(SIGNING_PREFIX + fastbencode.bencode(fields))
    return bytes(fastbencode.bencode(fields))


def sign_genesis(key: SiteKey, time: int, name: str) -> Genesis:
    raw = _signed(key, {b"v": FORMAT, b"type": b"genesis", b"seq": 0, b"key": key.public,
                        b"time": time, b"name": name.encode()})
    entry = decode_entry(raw, key.public)
    assert isinstance(entry, Genesis)
    return entry


def sign_update(key: SiteKey, seq: int, prev: bytes, time: int, magnet: str,
                files: Sequence[FileRecord]) -> Update:
    """Sign an UPDATE; ``files`` in any order (they are sorted by path)."""
    manifest = []
    for f in sorted(files, key=lambda f: path_key(f.path)):
        item: dict[bytes, Any] = {b"path": path_key(f.path), b"size": f.size}
        if f.root is not None:
            item[b"root"] = f.root
        manifest.append(item)
    raw = _signed(key, {b"v": FORMAT, b"type": b"update", b"seq": seq, b"prev": prev,
                        b"time": time, b"magnet": magnet.encode(), b"files": manifest})
    entry = decode_entry(raw, key.public)
    assert isinstance(entry, Update)
    return entry


# ---------------------------------------------------------------------- decoding

def _bad(field: str, why: str) -> ChainRejected:
    return ChainRejected("bad_field", f"field {field!r}: {why}")


def _int(d: dict[bytes, Any], key: str, low: int, high: int) -> int:
    v = d.get(key.encode())
    if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
        raise _bad(key, f"must be an integer in {low}..{high}, got {v!r:.40}")
    return v


def _bytes(d: dict[bytes, Any], key: str, sizes: Sequence[int] | None = None,
           most: int | None = None) -> bytes:
    v = d.get(key.encode())
    if not isinstance(v, bytes):
        raise _bad(key, f"must be a byte string, got {type(v).__name__}")
    if sizes is not None and len(v) not in sizes:
        raise _bad(key, f"must be {' or '.join(map(str, sizes))} bytes, got {len(v)}")
    if most is not None and len(v) > most:
        raise _bad(key, f"at most {most} bytes, got {len(v)}")
    return v


def _text(raw: bytes, field: str) -> str:
    try:
        return raw.decode("utf-8", "strict")
    except UnicodeDecodeError:
        raise _bad(field, "not UTF-8") from None


def decode_entry(raw: bytes, site_key: bytes) -> Entry:
    """Parse and check one entry on its own: encoding, fields, manifest, signature.

    Linkage to the previous entry is :class:`~.verify.Chain`'s job.
    """
    if len(raw) > MAX_ENTRY_BYTES:
        raise ChainRejected("too_large", f"entry of {len(raw)} bytes; the limit is "
                                         f"{MAX_ENTRY_BYTES}")
    if raw.count(b"e") > MAX_TOKENS or raw.count(b":") > MAX_TOKENS:
        _check_shape(raw)
    try:
        d = fastbencode.bdecode(raw)
    except (ValueError, TypeError) as exc:
        raise ChainRejected("bad_encoding", f"not bencode: {exc}") from None
    if not isinstance(d, dict):
        raise ChainRejected("bad_encoding", "an entry is a bencoded dict")
    if fastbencode.bencode(d) != raw:
        raise ChainRejected("not_canonical", "the bytes are not the canonical encoding")
    kind = d.get(b"type")
    allowed = {b"genesis": {b"v", b"type", b"seq", b"key", b"time", b"name", b"sig"},
               b"update": {b"v", b"type", b"seq", b"prev", b"time", b"magnet", b"files",
                           b"sig"}}.get(kind if isinstance(kind, bytes) else b"")
    if allowed is None:
        raise _bad("type", f"must be genesis or update, got {kind!r:.40}")
    if set(d) != allowed:
        extra, missing = set(d) - allowed, allowed - set(d)
        raise _bad("*", f"unexpected {sorted(extra)} / missing {sorted(missing)}")
    _int(d, "v", FORMAT, FORMAT)
    time = _int(d, "time", 0, 1 << 40)
    sig = _bytes(d, "sig", (64,))
    unsigned = dict(d)
    del unsigned[b"sig"]
    if not verify_signature(site_key, sig, SIGNING_PREFIX + fastbencode.bencode(unsigned)):
        raise ChainRejected("bad_signature", f"{d[b'type'].decode()} signature does not "
                                             "verify with the site key")
    if kind == b"genesis":
        _int(d, "seq", 0, 0)
        key = _bytes(d, "key", (32,))
        if key != site_key:
            raise ChainRejected("wrong_key", "genesis names another key than the site's")
        name = _text(_bytes(d, "name", most=MAX_NAME_BYTES), "name")
        return Genesis(0, key, time, name, raw)
    seq = _int(d, "seq", 1, (1 << 63) - 1)
    prev = _bytes(d, "prev", (32,))
    magnet = _text(_bytes(d, "magnet", most=200), "magnet")
    _check_magnet(magnet)
    return Update(seq, prev, time, magnet, _manifest(d.get(b"files")), raw)


def _check_shape(raw: bytes) -> None:
    """Refuse bencode that nests deeper or has more tokens than any entry can, without
    building it (a linear scan that skips string contents)."""
    depth = tokens = i = 0
    n = len(raw)
    find = raw.find
    while i < n:
        c = raw[i]
        tokens += 1
        if tokens > MAX_TOKENS:
            raise ChainRejected("too_large", f"more than {MAX_TOKENS} bencode tokens")
        if c == 0x64 or c == 0x6C:  # d, l
            depth += 1
            if depth > MAX_DEPTH:
                raise ChainRejected("bad_encoding", f"nested deeper than {MAX_DEPTH} levels "
                                                    "(no entry does)")
            i += 1
        elif c == 0x65:  # e
            depth -= 1
            i += 1
        elif c == 0x69:  # i...e
            end = find(b"e", i)
            if end < 0:
                break
            i = end + 1
        elif 0x30 <= c <= 0x39:  # <length>:<bytes>
            colon = find(b":", i, i + 12)
            if colon < 0 or not raw[i:colon].isdigit():
                break
            i = colon + 1 + int(raw[i:colon])
        else:
            break  # not bencode: the decoder says why


def _check_magnet(magnet: str) -> None:
    head = "magnet:?xt=urn:btmh:1220"
    v2 = magnet[len(head):len(head) + 64]
    rest = magnet[len(head) + 64:]
    ok = magnet.startswith(head) and _is_hex(v2, 64) and (
        rest == "" or (rest.startswith("&xt=urn:btih:") and _is_hex(rest[13:], 40)))
    if not ok:
        raise _bad("magnet", "must be magnet:?xt=urn:btmh:1220<64 lowercase hex> optionally "
                             "followed by &xt=urn:btih:<40 lowercase hex>")


def _is_hex(text: str, n: int) -> bool:
    return len(text) == n and all(c in "0123456789abcdef" for c in text)


_NAMES: dict[bytes, str] = {}
"""Path components already checked and decoded: names repeat across files and snapshots."""
_ITEM_KEYS = ({b"path", b"size"}, {b"path", b"size", b"root"})


def _name(p: object, i: int) -> str:
    name = _NAMES.get(p) if isinstance(p, bytes) else None
    if name is not None:
        return name
    if not isinstance(p, bytes):
        raise ChainRejected("bad_manifest", f"files[{i}]: path is a non-empty list of names")
    if p in (b"", b".", b"..") or b"/" in p or b"\\" in p or b"\0" in p or len(
            p) > MAX_COMPONENT_BYTES:
        raise ChainRejected("bad_manifest", f"files[{i}]: unsafe path component {p!r:.60}")
    name = _text(p, f"files[{i}].path")
    if len(_NAMES) >= 100_000:
        _NAMES.clear()
    _NAMES[p] = name
    return name


def _manifest(files: object) -> tuple[FileRecord, ...]:
    if not isinstance(files, list):
        raise _bad("files", "must be a list")
    if len(files) > MAX_FILES:
        raise ChainRejected("too_large", f"manifest of {len(files)} files; the limit is "
                                         f"{MAX_FILES}")
    out: list[FileRecord] = []
    seen_files: set[tuple[str, ...]] = set()
    seen_dirs: set[tuple[str, ...]] = set()
    previous: list[bytes] | None = None
    for i, item in enumerate(files):
        if not isinstance(item, dict) or item.keys() not in _ITEM_KEYS:
            raise ChainRejected("bad_manifest", f"files[{i}]: a dict of path, size and root")
        parts = item[b"path"]
        if not isinstance(parts, list) or not parts:
            raise ChainRejected("bad_manifest", f"files[{i}]: path is a non-empty list of "
                                                "names")
        path = tuple([_name(p, i) for p in parts])
        if len(path) > 1 and sum(map(len, parts)) + len(parts) > MAX_PATH_BYTES:
            raise ChainRejected("bad_manifest", f"files[{i}]: path longer than "
                                                f"{MAX_PATH_BYTES}")
        if previous is not None and not previous < parts:
            raise ChainRejected("bad_manifest", f"files[{i}]: paths must be sorted and unique")
        previous = parts
        size = item[b"size"]
        if not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
            raise ChainRejected("bad_manifest", f"files[{i}]: size must be 0..{MAX_SIZE}")
        root = item.get(b"root")
        if size:
            if not isinstance(root, bytes) or len(root) != 32:
                raise ChainRejected("bad_manifest", f"files[{i}]: a non-empty file needs a "
                                                    "32-byte pieces root")
        elif root is not None:
            raise ChainRejected("bad_manifest", f"files[{i}]: an empty file has no pieces root")
        for n in range(1, len(path)):
            seen_dirs.add(path[:n])
        seen_files.add(path)
        out.append(FileRecord(path, size, root))
    clash = seen_files & seen_dirs
    if clash:
        raise ChainRejected("bad_manifest", f"{'/'.join(min(clash))} is both a file and a "
                                            "folder")
    return tuple(out)
