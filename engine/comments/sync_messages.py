"""The comment servers' sync protocol as values: network id, DHT topic, digests, pages (sans-IO).

Two routes, answered by every comment server (docs/comments.md "The comments network"):

* ``GET /sync/digest``: :class:`Digest`, what a puller compares before it pulls.
* ``GET /sync/since?seq=N&limit=L``: :class:`Page`, the records this server inserted after
  its own local seq ``N``, in insertion order, at most ``L`` (<= :data:`PAGE_LIMIT`).

Records travel as the exact bytes the serving store holds (``msgspec.Raw``): a page is never
re-serialised record by record, and the puller's store verifies exactly what it will keep.
Everything a peer sends is decoded here with bounds; what does not fit is a
:class:`SyncProtocolError` naming what was wrong. No sockets, threads or clock.
"""

from __future__ import annotations

import hashlib
import ipaddress

import msgspec

DEFAULT_NETWORK_ID = hashlib.sha256(b"tidegate-comments-v1").hexdigest()
"""The public network's id (``comments.network_id = ""``)."""
PAGE_LIMIT = 500
"""Records per page at most (a puller asks for this many)."""
MAX_RECORD = 16 * 1024
"""The largest record a store accepts (the record's own limit: 16 KiB of JSON)."""
MAX_PAGE_BYTES = PAGE_LIMIT * (MAX_RECORD + 32) + 4096
"""The largest page body a puller reads; a bigger answer is that peer's error."""
SERVE_PAGE_BYTES = 4 * 1024 * 1024
"""A server stops filling a page past this many bytes of records (the puller asks again)."""
MAX_DIGEST_BYTES = 4096
"""The largest digest body a puller reads."""
MAX_SEQ = 2**62
"""Seqs and counts above this are nonsense from a peer."""
MAX_ENDPOINT = 300
"""Characters of a ``host:port`` endpoint at most."""


class SyncProtocolError(ValueError):
    """A peer's answer (or a request to our routes) that does not fit the protocol."""


class Digest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What ``GET /sync/digest`` answers: enough to know whether to pull, and from where."""

    network: str
    """The network id (64 hex): a peer of another network is not pulled from."""
    node: str
    """A random id of this running server: a puller that meets its own id skips it."""
    count: int
    """Records held."""
    head: int
    """The newest local seq (0 when empty)."""
    first: str
    """The id of the record at the lowest local seq ("" when empty): a store started anew
    (another first record) makes a puller's cursor start again from 0."""
    digest: str
    """Hex sha256 over the sorted ids: equal sets, equal digests."""


class Page(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What ``GET /sync/since`` answers."""

    head: int
    """The server's newest local seq when the page was read."""
    records: list[tuple[int, msgspec.Raw]]
    """``(local seq, record)`` ascending, the record as the exact bytes held."""


_digest_decoder = msgspec.json.Decoder(Digest)
_page_decoder = msgspec.json.Decoder(Page)


def network_id(configured: str) -> bytes:
    """The 32-byte network id from ``comments.network_id`` ("" = the public network)."""
    text = configured or DEFAULT_NETWORK_ID
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SyncProtocolError(f"comments.network_id: {text[:80]!r} is not 64 hex characters")
    return raw


def topic(network: bytes) -> bytes:
    """The DHT topic of a network: the 20-byte sha1 of its 32-byte id.

    BitTorrent's DHT (BEP 5) keys peers by 20-byte info-hashes and libtorrent's
    ``dht_announce``/``dht_get_peers`` take exactly that, so the 256-bit id is folded to 160
    bits the way BitTorrent v2 folds its sha256 info-hashes for the DHT (truncation would do
    too; sha1 of the whole id keeps every bit of it in play). As with an IPFS provider
    record, the announce says "a server of this network is at ip:port", nothing more."""
    if len(network) != 32:
        raise SyncProtocolError("a network id is 32 bytes")
    return hashlib.sha1(network).digest()


def encode_digest(d: Digest) -> bytes:
    return msgspec.json.encode(d)


def decode_digest(body: bytes) -> Digest:
    """A peer's digest, checked; :class:`SyncProtocolError` names what was wrong."""
    if len(body) > MAX_DIGEST_BYTES:
        raise SyncProtocolError(f"digest answer of {len(body)} bytes (at most {MAX_DIGEST_BYTES})")
    try:
        d = _digest_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SyncProtocolError(f"digest answer: {str(exc)[:200]}") from None
    for name in ("count", "head"):
        value = getattr(d, name)
        if not 0 <= value <= MAX_SEQ:
            raise SyncProtocolError(f"digest answer: {name} {value} out of range")
    for name, size in (("network", 64), ("digest", 64), ("node", 32)):
        if not _is_hex(getattr(d, name), size):
            raise SyncProtocolError(f"digest answer: {name} is not {size} hex characters")
    if d.first and not _is_hex(d.first, 64):
        raise SyncProtocolError("digest answer: first is not an event id")
    return d


def encode_page(head: int, records: list[tuple[int, bytes]]) -> bytes:
    """A page of held records, as many as fit :data:`SERVE_PAGE_BYTES` (at least one)."""
    kept: list[tuple[int, msgspec.Raw]] = []
    size = 0
    for seq, raw in records:
        size += len(raw) + 24
        if kept and size > SERVE_PAGE_BYTES:
            break
        kept.append((seq, msgspec.Raw(raw)))
    return msgspec.json.encode(Page(head, kept))


def decode_page(body: bytes, after: int, limit: int) -> tuple[int, list[tuple[int, bytes]]]:
    """A peer's page asked for with ``seq=after&limit=limit``: its head and its records.

    Seqs must rise and lie above ``after``, at most ``limit`` records; each record is kept as
    bytes for the store to judge (one bad record is the store's refusal, not the page's)."""
    if len(body) > MAX_PAGE_BYTES:
        raise SyncProtocolError(f"page of {len(body)} bytes (at most {MAX_PAGE_BYTES})")
    try:
        page = _page_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SyncProtocolError(f"page: {str(exc)[:200]}") from None
    if not 0 <= page.head <= MAX_SEQ:
        raise SyncProtocolError(f"page: head {page.head} out of range")
    if len(page.records) > limit:
        raise SyncProtocolError(f"page: {len(page.records)} records, asked for {limit}")
    last = after
    out: list[tuple[int, bytes]] = []
    for seq, raw in page.records:
        if not last < seq <= MAX_SEQ:
            raise SyncProtocolError(f"page: seq {seq} after {last} does not rise")
        last = seq
        out.append((seq, bytes(raw)))
    return page.head, out


def parse_query(seq: str | None, limit: str | None) -> tuple[int, int]:
    """``seq`` and ``limit`` of a ``/sync/since`` request, checked."""
    try:
        after = int(seq or "0")
        count = int(limit or str(PAGE_LIMIT))
    except ValueError:
        raise SyncProtocolError("seq and limit are integers") from None
    if not 0 <= after <= MAX_SEQ:
        raise SyncProtocolError(f"seq {after} out of range")
    if not 1 <= count <= PAGE_LIMIT:
        raise SyncProtocolError(f"limit {count} is not 1 to {PAGE_LIMIT}")
    return after, count


def parse_endpoint(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) of a configured peer, checked."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_ENDPOINT:
        raise SyncProtocolError(f"peer endpoint {str(text)[:80]!r}: not a host:port")
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _v6(host):
            raise SyncProtocolError(f"peer endpoint {text!r}: {host!r} is not an IPv6 address")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SyncProtocolError(f"peer endpoint {text!r}: not a host:port with port 1-65535")
    if any(c in host for c in "/?#@ \t\r\n"):
        raise SyncProtocolError(f"peer endpoint {text!r}: bad host")
    return host, int(port)


def endpoint(host: str, port: int) -> str:
    """The ``host:port`` text of an address (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _v6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _is_hex(text: str, size: int) -> bool:
    return len(text) == size and all(c in "0123456789abcdef" for c in text)
