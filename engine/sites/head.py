"""How a site's head is announced and how its chain travels (docs/chain.md "Announcing").

* The **announcement** is a BEP 44 mutable item under the site's key with salt
  :data:`SALT`. Its value is the canonical bencoded dict ``{"c": chain torrent v2
  info-hash, "h": height, "x": head entry hash}``: the DHT's own ``seq`` is chosen by
  libtorrent and never trusted, the height inside the signed value is.
* The **chain torrent** of height n is a deterministic v2 torrent of one file, ``chain``,
  holding entries 0..n in the chain storage format. Anyone who verified the chain
  rebuilds the same torrent from its own store and seeds it, so the chain stays reachable
  when the owner is offline. (Snapshot n cannot carry entry n: the entry holds the
  snapshot's info-hash.)

Sans-IO apart from building the torrent from a folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import fastbencode
import libtorrent as lt

from ..chain.errors import ChainRejected
from ..errors import CreateError
from .snapshot import piece_size_for

SALT = b"tidegate-head-v1"
CHAIN_NAME = "chain"


@dataclass(frozen=True, slots=True)
class Head:
    """An announced head: what to fetch, and what to expect."""

    height: int
    head: bytes
    """SHA-256 of entry ``height``."""
    chain: bytes
    """v2 info-hash of the chain torrent holding entries 0..height."""

    def encode(self) -> bytes:
        return bytes(fastbencode.bencode({b"c": self.chain, b"h": self.height, b"x": self.head}))

    @property
    def magnet(self) -> str:
        return f"magnet:?xt=urn:btmh:1220{self.chain.hex()}&dn={CHAIN_NAME}"


def decode_head(value: bytes, where: str) -> Head:
    """A DHT value, strictly: exactly the three keys, canonical, right sizes."""
    try:
        d = fastbencode.bdecode(value)
    except Exception:
        raise ChainRejected("bad_encoding", f"{where}: the announced head does not decode") \
            from None
    if not isinstance(d, dict) or set(d) != {b"c", b"h", b"x"}:
        raise ChainRejected("bad_field", f"{where}: the announced head needs exactly c, h, x")
    c, h, x = d[b"c"], d[b"h"], d[b"x"]
    if not (isinstance(c, bytes) and len(c) == 32 and isinstance(x, bytes) and len(x) == 32
            and isinstance(h, int) and 0 <= h < 2**40):
        raise ChainRejected("bad_field", f"{where}: the announced head has a malformed field")
    head = Head(h, x, c)
    if head.encode() != value:
        raise ChainRejected("not_canonical", f"{where}: the announced head is not canonical")
    return head


@dataclass(frozen=True, slots=True)
class ChainTorrent:
    data: bytes
    """The .torrent file."""
    info_hash: bytes
    """v2 info-hash."""


def build_chain_torrent(folder: Path) -> ChainTorrent:
    """The deterministic torrent of ``folder/chain`` (written by the caller)."""
    path = folder / CHAIN_NAME
    try:
        size = path.stat().st_size
        ct = lt.create_torrent([lt.create_file_entry(CHAIN_NAME, size)], piece_size_for(size),
                               lt.create_torrent.v2_only)
        ct.set_creation_date(0)
        lt.set_piece_hashes(ct, str(folder))
        data = lt.bencode(ct.generate())
        ih = lt.torrent_info(data).info_hashes()
    except (RuntimeError, OSError, ValueError) as exc:
        raise CreateError(f"{path}: cannot build the chain torrent: {exc}") from None
    return ChainTorrent(data, ih.v2.to_bytes())
