"""The comment record: a Nostr NIP-22 event (kind 1111) plus tidegate's ed25519
attestation, parsed and verified from bytes (sans-IO: ``now`` is passed in).

On the wire and on disk a record is ``{"event": {NIP-01 event}, "ed25519_sig": hex}``
(``ed25519_sig`` absent for a plain Nostr comment). :func:`parse_record` checks, cheapest
first: size, shape, kind, tags, clock, the id against the fields (NIP-01's
serialisation), the NIP-13 work, the allow-list, the Schnorr signature, the attestation.
Each refusal is a :class:`CommentError` subclass whose message names what was wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar

import msgspec
from coincurve import PublicKeyXOnly
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import TidegateError
from .author import ATTESTATION
from .pow import leading_zero_bits, mine
from .urls import BadUrl, normalise

if TYPE_CHECKING:
    from .author import AuthorKey

KIND = 1111
MAX_CONTENT = 8 * 1024
"""Most bytes of a comment's text (UTF-8)."""
MAX_RECORD = 16 * 1024
"""Most bytes of a whole record (its JSON)."""
MAX_TAGS = 40
MAX_AHEAD = 600
"""Seconds a comment's ``created_at`` may be ahead of the node's clock."""
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX128 = re.compile(r"^[0-9a-f]{128}$")
# NIP-01 escapes only \n \" \\ \r \t \b \f and writes every other character verbatim,
# while JSON libraries write the other C0 controls as \u00XX: the two disagree on the id,
# so text holding one is refused rather than verified one way or the other.
_OTHER_CONTROLS = re.compile(r"[\x00-\x07\x0b\x0e-\x1f]")


class CommentError(TidegateError):
    """A comment refused; the message says what was wrong. ``status`` is its HTTP answer."""

    status: ClassVar[int] = 400


class BadComment(CommentError):
    """Does not parse, wrong kind, missing or contradictory tags, text not UTF-8."""


class ForgedComment(CommentError):
    """The id does not match the fields, or a signature fails."""

    status = 403


class UnknownAuthor(CommentError):
    """``comments.allow_authors`` is set and does not name this comment's author."""

    status = 403


class OversizedComment(CommentError):
    """Text over 8 KiB, record over 16 KiB, or over 40 tags."""

    status = 413


class ReplayedComment(CommentError):
    """This comment (its id) is already held."""

    status = 409


class NotEnoughWork(CommentError):
    """The NIP-13 work is below what the node requires (``required``)."""

    status = 422

    def __init__(self, message: str, required: int = 0):
        super().__init__(message)
        self.required = required


class FutureComment(CommentError):
    """``created_at`` is more than ten minutes ahead of the node's clock."""


Tag = Annotated[list[str], msgspec.Meta(min_length=1, max_length=16)]


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    pubkey: str
    created_at: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    kind: int
    tags: list[Tag]
    content: str
    sig: str


class _Record(msgspec.Struct, forbid_unknown_fields=True):
    event: _Event
    ed25519_sig: str | None = None


_DECODER = msgspec.json.Decoder(_Record)


@dataclass(frozen=True, slots=True)
class Comment:
    """A verified comment: the event's fields, what they mean, and the record's bytes."""

    id: str
    pubkey: str
    created_at: int
    tags: tuple[tuple[str, ...], ...]
    content: str
    sig: str
    ed25519_sig: str
    """Hex, or "" for a plain Nostr comment."""
    author: str
    """The verified ed25519 key (the ``tidegate`` tag's, attested), or "" when unattested."""
    url: str
    """The normalised URL (the ``I`` tag)."""
    url_hash: str
    parent: str
    """The parent comment's id, "" for a comment on the URL itself."""
    parent_pubkey: str
    work: int
    """Leading zero bits of the id."""
    raw: bytes
    """The record exactly as received and stored."""

    def event_json(self) -> bytes:
        """The NIP-01 event alone (what Nostr clients and relays take)."""
        event = {"id": self.id, "pubkey": self.pubkey, "created_at": self.created_at,
                 "kind": KIND, "tags": [list(t) for t in self.tags],
                 "content": self.content, "sig": self.sig}
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()

    def summary(self) -> dict[str, object]:
        """The record with its verified author and parent (what the endpoint lists)."""
        return {"id": self.id, "record": msgspec.Raw(self.raw),
                "author": {"ed25519": self.author, "nostr": self.pubkey},
                "parent": self.parent or None, "url": self.url,
                "created_at": self.created_at}


def serialize(pubkey: str, created_at: int, tags: list[list[str]], content: str) -> bytes:
    """NIP-01's serialisation ``[0,pubkey,created_at,kind,tags,content]`` (UTF-8, no
    whitespace); sha256 of it is the id. Equal to NIP-01's escaping for text without the
    C0 controls other than \\n \\r \\t \\b \\f (refused by :func:`parse_record`)."""
    return json.dumps([0, pubkey, created_at, KIND, tags, content], ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def _check_text(what: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadComment(f"{what} is not valid UTF-8 (a lone surrogate)") from None
    bad = _OTHER_CONTROLS.search(text)
    if bad:
        raise BadComment(f"{what} holds the control character U+{ord(bad.group()):04X}, "
                         "which NIP-01 serialisations disagree on")


def _one(tags: list[list[str]], name: str) -> list[str] | None:
    found = [t for t in tags if t[0] == name]
    if len(found) > 1:
        raise BadComment(f"more than one {name!r} tag")
    if found and len(found[0]) < 2:
        raise BadComment(f"the {name!r} tag has no value")
    return found[0] if found else None


def _scope(tags: list[list[str]]) -> tuple[str, str, str]:
    """(normalised URL, parent id, parent pubkey) from the NIP-22/NIP-73 tags."""
    root, kind = _one(tags, "I"), _one(tags, "K")
    if root is None or kind is None:
        raise BadComment("a comment on a URL needs the root tags 'I' (the URL) and 'K'")
    if kind[1] != "web":
        raise BadComment(f"the root kind ('K') is {kind[1]!r}, not 'web'")
    for other in ("E", "A"):
        if any(t[0] == other for t in tags):
            raise BadComment(f"an {other!r} root tag contradicts the URL root ('I')")
    try:
        url = normalise(root[1])
    except BadUrl as exc:
        raise BadComment(f"the root URL ('I'): {exc}") from None
    parent_url, parent_event, parent_kind = _one(tags, "i"), _one(tags, "e"), _one(tags, "k")
    if parent_kind is None:
        raise BadComment("no parent kind tag ('k')")
    if (parent_url is None) == (parent_event is None):
        raise BadComment("a comment's parent is the URL ('i') or a comment ('e'): "
                         + ("both are tagged" if parent_url else "neither is tagged"))
    if parent_url is not None:
        if parent_kind[1] != "web":
            raise BadComment(f"the parent kind ('k') of a URL is 'web', not {parent_kind[1]!r}")
        try:
            same = normalise(parent_url[1]) == url
        except BadUrl as exc:
            raise BadComment(f"the parent URL ('i'): {exc}") from None
        if not same:
            raise BadComment("the parent URL ('i') is not the root URL ('I')")
        return url, "", ""
    assert parent_event is not None
    if parent_kind[1] != str(KIND):
        raise BadComment(f"the parent kind ('k') of a comment is '1111', not {parent_kind[1]!r}")
    if not _HEX64.match(parent_event[1]):
        raise BadComment("the parent id ('e') is not 64 lowercase hex digits")
    parent_pubkey = parent_event[3] if len(parent_event) > 3 else ""
    if not parent_pubkey:
        p = next((t for t in tags if t[0] == "p" and len(t) > 1), None)
        parent_pubkey = p[1] if p else ""
    if parent_pubkey and not _HEX64.match(parent_pubkey):
        raise BadComment("the parent's pubkey ('e' or 'p') is not 64 lowercase hex digits")
    return url, parent_event[1], parent_pubkey


def _check_work(tags: list[list[str]], bits: int, required: int) -> None:
    nonce = _one(tags, "nonce")
    committed = 0
    if nonce is not None and len(nonce) > 2:
        try:
            committed = int(nonce[2])
        except ValueError:
            raise BadComment(f"the nonce tag's target {nonce[2]!r} is not a number") from None
    if required and bits < required:
        raise NotEnoughWork(f"the id has {bits} leading zero bits; this node requires "
                            f"{required} (NIP-13)", required)
    if required and committed < required:
        raise NotEnoughWork(f"the committed target (nonce tag) is {committed} bits; this "
                            f"node requires {required} (NIP-13)", required)
    if bits < committed:
        raise NotEnoughWork(f"the id has {bits} leading zero bits, under its committed "
                            f"target of {committed}", required)


def parse_record(raw: bytes, *, now: float, difficulty: int,
                 allow_authors: frozenset[str] = frozenset()) -> Comment:
    """Parse and verify one record; raises a :class:`CommentError` subclass. With
    ``allow_authors`` (hex ed25519 or Nostr keys) only those authors are admitted and no
    work is required; otherwise ``difficulty`` bits of NIP-13 work are."""
    if len(raw) > MAX_RECORD:
        raise OversizedComment(f"the record is {len(raw)} bytes, over {MAX_RECORD}")
    try:
        record = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadComment(f"the record does not parse: {exc}") from None
    except UnicodeDecodeError as exc:
        raise BadComment(f"the record is not valid UTF-8 (byte {exc.start})") from None
    ev = record.event
    if ev.kind != KIND:
        raise BadComment(f"the event's kind is {ev.kind}, not {KIND} (a NIP-22 comment)")
    for name, value in (("id", ev.id), ("pubkey", ev.pubkey)):
        if not _HEX64.match(value):
            raise BadComment(f"the event's {name} is not 64 lowercase hex digits")
    if not _HEX128.match(ev.sig):
        raise BadComment("the event's sig is not 128 lowercase hex digits")
    if record.ed25519_sig is not None and not _HEX128.match(record.ed25519_sig):
        raise BadComment("ed25519_sig is not 128 lowercase hex digits")
    if len(ev.tags) > MAX_TAGS:
        raise OversizedComment(f"the event has {len(ev.tags)} tags, over {MAX_TAGS}")
    _check_text("the text", ev.content)
    for i, tag in enumerate(ev.tags):
        for value in tag:
            _check_text(f"tag {i}", value)
    size = len(ev.content.encode("utf-8"))
    if size > MAX_CONTENT:
        raise OversizedComment(f"the text is {size} bytes, over {MAX_CONTENT}")
    url, parent, parent_pubkey = _scope(ev.tags)
    tidegate = _one(ev.tags, "tidegate")
    if tidegate is not None and not _HEX64.match(tidegate[1]):
        raise BadComment("the 'tidegate' tag is not a 64-hex-digit ed25519 key")
    if record.ed25519_sig is not None and tidegate is None:
        raise BadComment("ed25519_sig without a 'tidegate' tag naming its key")
    if ev.created_at > now + MAX_AHEAD:
        raise FutureComment(f"created_at is {ev.created_at - now:.0f} s ahead of this "
                            f"node's clock (at most {MAX_AHEAD} s)")
    digest = hashlib.sha256(serialize(ev.pubkey, ev.created_at, ev.tags, ev.content)).digest()
    if digest.hex() != ev.id:
        raise ForgedComment("the event id does not match its fields (NIP-01)")
    bits = leading_zero_bits(digest)
    if allow_authors:
        keys = {ev.pubkey, tidegate[1] if tidegate and record.ed25519_sig else ev.pubkey}
        if not keys & allow_authors:
            raise UnknownAuthor("this node admits only the authors of comments.allow_authors")
        _check_work(ev.tags, bits, 0)
    else:
        _check_work(ev.tags, bits, difficulty)
    try:
        ok = PublicKeyXOnly(bytes.fromhex(ev.pubkey)).verify(bytes.fromhex(ev.sig), digest)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise ForgedComment("the Schnorr signature (sig) does not verify for the pubkey")
    author = ""
    if record.ed25519_sig is not None and tidegate is not None:
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(tidegate[1])).verify(
                bytes.fromhex(record.ed25519_sig), ATTESTATION + digest)
        except (InvalidSignature, ValueError):
            raise ForgedComment("the ed25519 attestation (ed25519_sig) does not verify for "
                                "the 'tidegate' key") from None
        author = tidegate[1]
    return Comment(id=ev.id, pubkey=ev.pubkey, created_at=ev.created_at,
                   tags=tuple(tuple(t) for t in ev.tags), content=ev.content, sig=ev.sig,
                   ed25519_sig=record.ed25519_sig or "", author=author, url=url,
                   url_hash=hashlib.sha256(url.encode()).hexdigest(), parent=parent,
                   parent_pubkey=parent_pubkey, work=bits, raw=bytes(raw))


def as_record(raw: bytes) -> bytes:
    """A record from either a record or a bare NIP-01 event (import takes both)."""
    try:
        top = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
    except (msgspec.DecodeError, UnicodeDecodeError):
        return raw  # parse_record names what is wrong
    if "event" in top or "kind" not in top:
        return raw
    return b'{"event":' + raw.strip() + b"}"


def make_comment(author: AuthorKey, url: str, text: str, *, parent: Comment | None,
                 now: float, difficulty: int, max_tries: int = 1 << 32) -> Comment:
    """A new comment by ``author`` on ``url`` (or replying to ``parent``), with
    ``difficulty`` bits of NIP-13 work mined, signed both ways and verified."""
    try:
        url = normalise(url)
    except BadUrl as exc:
        raise BadComment(str(exc)) from None
    _check_text("the text", text)
    if len(text.encode("utf-8")) > MAX_CONTENT:
        raise OversizedComment(f"the text is {len(text.encode())} bytes, over {MAX_CONTENT}")
    if parent is not None and parent.url != url:
        raise BadComment("the parent comment is on another URL")
    tags: list[list[str]] = [["I", url], ["K", "web"]]
    if parent is None:
        tags += [["i", url], ["k", "web"]]
    else:
        tags += [["e", parent.id, "", parent.pubkey], ["k", str(KIND)],
                 ["p", parent.pubkey]]
    tags.append(["tidegate", author.ed25519_public])
    tags.append(["nonce", "0", str(difficulty)])
    pubkey, created = author.nostr_public, int(now)
    template = serialize(pubkey, created, tags, text)
    marker = b'["nonce","0","' + str(difficulty).encode() + b'"]'
    head, _, tail = template.rpartition(marker)
    prefix = hashlib.sha256(head + b'["nonce","')
    rest = b'","' + str(difficulty).encode() + b'"]' + tail

    def id_for(nonce: int) -> bytes:
        h = prefix.copy()
        h.update(str(nonce).encode() + rest)
        return h.digest()

    nonce, digest = mine(id_for, difficulty, max_tries=max_tries)
    tags[-1][1] = str(nonce)
    record = {"event": {"id": digest.hex(), "pubkey": pubkey, "created_at": created,
                        "kind": KIND, "tags": tags, "content": text,
                        "sig": author.sign_event(digest).hex()},
              "ed25519_sig": author.attest(digest).hex()}
    raw = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return parse_record(raw, now=now, difficulty=difficulty)
