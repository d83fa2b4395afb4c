"""BEP 44 signed items against the BEP's own test vectors (not vectors written here)."""

from __future__ import annotations

import pytest

from tidegate.engine.chain.bep44 import SignedItem, bencode_string, signing_bytes, target
from tidegate.engine.chain.keys import SiteKey

# https://www.bittorrent.org/beps/bep_0044.html "Test vectors"
PUBLIC = bytes.fromhex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548")
VALUE = bencode_string(b"Hello World!")
NO_SALT_SIG = bytes.fromhex(
    "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff"
    "1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01")
SALT_SIG = bytes.fromhex(
    "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
    "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08")


def test_the_beps_vectors_verify_and_their_targets_match() -> None:
    assert signing_bytes(b"", 1, VALUE) == b"3:seqi1e1:v12:Hello World!"
    assert signing_bytes(b"foobar", 1, VALUE) == b"4:salt6:foobar3:seqi1e1:v12:Hello World!"
    plain = SignedItem(PUBLIC, b"", 1, VALUE, NO_SALT_SIG)
    salted = SignedItem(PUBLIC, b"foobar", 1, VALUE, SALT_SIG)
    assert plain.valid() and salted.valid()
    assert target(PUBLIC, b"").hex() == "4a533d47ec9c7d95b1ad75f576cffc641853b750"
    assert salted.target.hex() == "411eba73b6f087ca51a3795d9c8c938d365e32c1"


@pytest.mark.parametrize("change", ["seq", "salt", "value", "sig", "public"])
def test_any_changed_part_fails_verification(change: str) -> None:
    item = SignedItem(PUBLIC, b"foobar", 1, VALUE, SALT_SIG)
    parts = {"public": item.public, "salt": item.salt, "seq": item.seq,
             "value": item.value, "sig": item.sig}
    other = {"seq": 2, "salt": b"foobaz", "value": bencode_string(b"Hello World?"),
             "sig": bytes([SALT_SIG[0] ^ 1]) + SALT_SIG[1:],
             "public": SiteKey.generate().public}
    parts[change] = other[change]
    assert not SignedItem(**parts).valid()  # type: ignore[arg-type]


def test_signed_here_verifies_and_bad_shapes_are_named() -> None:
    key = SiteKey.generate()
    item = SignedItem.sign(key, b"s", 7, b"d2:ih20:" + b"x" * 20 + b"e")
    assert item.valid() and item.decoded() == {b"ih": b"x" * 20}
    for odd in (b"i01e", b"d1:b1:x1:a1:ye"):  # a leading zero, keys out of order
        with pytest.raises(ValueError, match="bencoded"):
            SignedItem.sign(key, b"", 1, odd)
    with pytest.raises(ValueError, match="1000"):
        SignedItem.sign(key, b"", 1, bencode_string(b"x" * 1000))
    with pytest.raises(ValueError, match="salt"):
        SignedItem.sign(key, b"s" * 65, 1, VALUE)
    assert not SignedItem(key.public, b"", 1, b"not bencoded", b"\0" * 64).valid()
