"""The comment record, sans-IO: URL normalisation, NIP-13 work, and every refusal class
with the reason it names (forged content, sig, ed25519_sig; oversized; future; not
enough work; bad shapes), plus hypothesis bytes never escaping as anything but a
CommentError."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidegate.engine.comments.event import (
    MAX_AHEAD,
    BadComment,
    CommentError,
    ForgedComment,
    FutureComment,
    NotEnoughWork,
    OversizedComment,
    UnknownAuthor,
    parse_record,
)
from tidegate.engine.comments.pow import leading_zero_bits, mine
from tidegate.engine.comments.urls import BadUrl, normalise, url_hash

from .util import URL, author, comment, encode, record_of

NOW = time.time()


@pytest.mark.parametrize(("given", "wanted"), [
    ("HTTP://Example.COM", "http://example.com/"),
    ("https://example.com:443/a?b=1#frag", "https://example.com/a?b=1"),
    ("http://example.com:80", "http://example.com/"),
    ("https://example.com:8443/", "https://example.com:8443/"),
    ("https://bücher.example/Pfad", "https://xn--bcher-kva.example/Pfad"),
    ("https://EXAMPLE.com./x", "https://example.com/x"),
    ("http://[::1]:8080/p", "http://[::1]:8080/p"),
])
def test_normalise(given: str, wanted: str) -> None:
    assert normalise(given) == wanted
    assert url_hash(given) == hashlib.sha256(wanted.encode()).hexdigest()


@pytest.mark.parametrize(("bad", "why"), [
    ("ftp://example.com/", "only http and https"),
    ("example.com/page", "only http and https"),
    ("https:///nohost", "no host"),
    ("https://exa mple.com/", "space or a control"),
    ("https://example.com:99999/", "does not parse"),
    ("https://" + "a" * 3000 + ".com/", "characters"),
])
def test_normalise_refuses_naming_why(bad: str, why: str) -> None:
    with pytest.raises(BadUrl, match=why):
        normalise(bad)


def test_leading_zero_bits_and_mining() -> None:
    assert leading_zero_bits(bytes(32)) == 256
    assert leading_zero_bits(b"\x00\x01" + bytes(30)) == 15
    assert leading_zero_bits(b"\x80" + bytes(31)) == 0
    nonce, digest = mine(lambda n: hashlib.sha256(str(n).encode()).digest(), 10)
    assert leading_zero_bits(digest) >= 10
    assert digest == hashlib.sha256(str(nonce).encode()).digest()


def test_a_comment_verifies_and_names_its_author_url_and_parent() -> None:
    key = author()
    top = comment("first", key=key)
    assert top.author == key.ed25519_public and top.pubkey == key.nostr_public
    assert top.url == URL and top.parent == "" and top.work >= 8
    assert ["I", URL] in map(list, top.tags) and ["i", URL] in map(list, top.tags)
    reply = comment("second", parent=top)
    assert reply.parent == top.id and reply.parent_pubkey == top.pubkey
    assert parse_record(reply.raw, now=NOW, difficulty=8) == reply


def _refused(raw: bytes, cls: type[CommentError], match: str, difficulty: int = 8) -> None:
    with pytest.raises(cls, match=match):
        parse_record(raw, now=NOW, difficulty=difficulty)


def test_forged_content_sig_and_attestation_are_refused() -> None:
    c = comment("pristine")
    rec = record_of(c)
    rec["event"]["content"] = "Pristine"
    _refused(encode(rec), ForgedComment, "id does not match")
    rec = record_of(c)
    sig = rec["event"]["sig"]
    rec["event"]["sig"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    _refused(encode(rec), ForgedComment, "Schnorr signature")
    rec = record_of(c)
    ed = rec["ed25519_sig"]
    rec["ed25519_sig"] = ("f" if ed[0] != "f" else "e") + ed[1:]
    _refused(encode(rec), ForgedComment, "ed25519 attestation")


def test_an_attestation_by_another_key_is_forged() -> None:
    c, other = comment("mine"), comment("theirs")
    rec = record_of(c)
    rec["ed25519_sig"] = record_of(other)["ed25519_sig"]
    _refused(encode(rec), ForgedComment, "ed25519 attestation")


def test_oversized_text_tags_and_record() -> None:
    with pytest.raises(OversizedComment, match="8192"):
        comment("x" * 8193)
    rec = record_of(comment("ok"))
    rec["event"]["tags"] += [["t", str(i)] for i in range(40)]
    _refused(encode(rec), OversizedComment, "tags, over 40")
    _refused(b" " * 16385, OversizedComment, "over 16384")


def test_future_comments_are_refused_but_ten_minutes_of_skew_is_not() -> None:
    _refused(comment("soon", now=NOW + MAX_AHEAD + 60).raw, FutureComment, "ahead")
    assert parse_record(comment("skewed", now=NOW + MAX_AHEAD - 60).raw, now=NOW,
                        difficulty=8)


def test_not_enough_work_says_the_required_difficulty() -> None:
    weak = comment("cheap", difficulty=0)
    with pytest.raises(NotEnoughWork, match="requires 12") as info:
        parse_record(weak.raw, now=NOW, difficulty=12 if weak.work < 12 else 40)
    assert info.value.required in (12, 40) and info.value.status == 422


def test_a_committed_target_below_the_required_is_not_enough() -> None:
    # lucky work without committing to it: NIP-13's committed target guards this
    for _ in range(200):
        c = comment("lucky?", difficulty=0)
        if c.work >= 2:
            break
    _refused(c.raw, NotEnoughWork, "committed target", difficulty=2)


def test_the_allow_list_admits_only_its_authors_and_needs_no_work() -> None:
    key = author()
    c = comment("listed", key=key, difficulty=0)
    assert parse_record(c.raw, now=NOW, difficulty=20,
                        allow_authors=frozenset({key.ed25519_public})) == c
    assert parse_record(c.raw, now=NOW, difficulty=20,
                        allow_authors=frozenset({key.nostr_public})) == c
    with pytest.raises(UnknownAuthor):
        parse_record(c.raw, now=NOW, difficulty=0, allow_authors=frozenset({"ab" * 32}))


@pytest.mark.parametrize(("change", "why"), [
    (lambda r: r["event"].update(kind=1), "kind is 1"),
    (lambda r: r["event"].update(tags=[t for t in r["event"]["tags"] if t[0] != "I"]),
     "'I'"),
    (lambda r: r["event"]["tags"].append(["e", "ab" * 32]), "both are tagged"),
    (lambda r: r["event"].update(content="bell \x07"), "U\\+0007"),
    (lambda r: r["event"].update(content="\ud800"), "surrogate"),
    (lambda r: r["event"].update(id="XYZ"), "64 lowercase hex"),
    (lambda r: r.update(extra=1), "does not parse"),
])
def test_bad_shapes_are_bad_comments_naming_what(change: object, why: str) -> None:
    rec = record_of(comment("shape"))
    change(rec)  # type: ignore[operator]
    _refused(json.dumps(rec).encode(), BadComment, why)  # ASCII JSON: \ud800 escaped


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_refused_as_a_comment_error(data: bytes) -> None:
    with pytest.raises(CommentError):
        parse_record(data, now=NOW, difficulty=8)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2000), st.binary(min_size=1, max_size=8))
def test_mutated_records_are_refused_or_identical(at: int, junk: bytes) -> None:
    raw = comment("mutate me").raw
    at %= len(raw)
    mutated = raw[:at] + junk + raw[at + len(junk):]
    try:
        got = parse_record(mutated, now=NOW, difficulty=8)
    except CommentError:
        return
    # only a change outside what is signed (whitespace, an escape) can still verify
    assert got.id == json.loads(raw)["event"]["id"]
