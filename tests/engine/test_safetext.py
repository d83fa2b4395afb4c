"""Terminal-text cleaning by Unicode category (engine/safetext.py)."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidegate.engine.safetext import clean

UNSAFE: Any = {"Cc", "Cf", "Zl", "Zp", "Cs"}
EVERY_CHARACTER = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())


def _allowed_in_output(text: str, i: int) -> bool:
    """A character left in ``clean``'s output must be safe, or a joiner of an emoji."""
    code = ord(text[i])
    if unicodedata.category(text[i]) not in UNSAFE:
        return True
    if code == 0x200D:
        return 0 < i < len(text) - 1
    return 0xE0020 <= code <= 0xE007F


@settings(max_examples=3000)
@given(st.text(alphabet=EVERY_CHARACTER, max_size=40))
def test_no_unsafe_category_survives(text: str) -> None:
    out = clean(text)
    assert all(_allowed_in_output(out, i) for i in range(len(out))), ascii(out)
    assert clean(out) == out  # escapes are plain ASCII: cleaning twice changes nothing


def _of_category(cat: Any) -> st.SearchStrategy[str]:
    if cat == "Cs":
        return st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
    return st.characters(categories=[cat])


@settings(max_examples=2000)
@given(st.sampled_from(sorted(UNSAFE)).flatmap(_of_category))
def test_each_unsafe_character_alone_is_escaped(ch: str) -> None:
    out = clean(f"a{ch}b")
    assert out.startswith("a\\") and out.endswith("b") and out.isascii(), ascii(out)


@settings(max_examples=2000)
@given(st.text(alphabet=st.characters(exclude_categories=sorted(UNSAFE | {"Cn"})), max_size=40))
def test_safe_text_is_unchanged(text: str) -> None:
    assert clean(text) == text


@pytest.mark.parametrize(("raw", "shown"), [
    ("a\u2028b", "a\\u2028b"),            # LINE SEPARATOR (Zl)
    ("a\u2029b", "a\\u2029b"),            # PARAGRAPH SEPARATOR (Zp)
    ("\u202eevil", "\\u202eevil"),        # RIGHT-TO-LEFT OVERRIDE (Cf, bidi)
    ("\u200fname", "\\u200fname"),        # RIGHT-TO-LEFT MARK
    ("\u2066x\u2069", "\\u2066x\\u2069"),  # isolates
    ("a\u200bb", "a\\u200bb"),            # ZERO WIDTH SPACE
    ("\ufeffbom", "\\ufeffbom"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
    ("x\x85y", "x\\x85y"),                # NEL (C1)
    ("a\u200db", "a\\u200db"),            # a ZWJ between letters is not an emoji joiner
    ("\U000e0067", "\\U000e0067"),        # a stray tag character
])
def test_escaped(raw: str, shown: str) -> None:
    assert clean(raw) == shown


@pytest.mark.parametrize("name", [
    "👩\u200d💻.txt",                        # ZWJ sequence
    "👨\u200d👩\u200d👧\u200d👦",            # family
    "❤\ufe0f\u200d🔥",                      # VS16 before the joiner
    "👩🏽\u200d🚀",                          # skin tone before the joiner
    "🇫🇷.txt",                                # flag (regional indicators)
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # England
    "☺\ufe0f",
    "naïve café",
])
def test_emoji_sequences_are_kept(name: str) -> None:
    assert clean(name) == name


def test_long_runs_cost_linear_time() -> None:
    hostile = "🏴" + "\U000e0067" * 200_000
    out = clean(hostile)
    assert out.count("\\U000e0067") == 200_000
