"""Hostile text made safe for a terminal.

Names from torrents, peers, trackers and sites are input from strangers. Before
any frontend shows one, characters a terminal must not receive raw are replaced by
visible ``\\xNN``/``\\uNNNN`` forms, so nothing a torrent says can move the cursor,
set a window title, break a line or reorder the text around it.

What is unsafe is decided by Unicode category, not by a list, so a code point added
to a category later is covered too:

* ``Cc`` controls (C0, DEL, C1: escape sequences, newlines),
* ``Cf`` format characters (bidi controls such as U+202E, zero-width characters, the
  BOM, tag characters),
* ``Zl``/``Zp`` (U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR: line breaks),
* ``Cs`` (lone surrogates, from undecodable bytes; a terminal cannot encode them).

Two ``Cf`` uses are text, not control, and stay: ZERO WIDTH JOINER (U+200D) between
two emoji (``👩‍💻``), and tag characters that spell an emoji tag sequence after
U+1F3F4 (the flags of England, Scotland, Wales). Variation selectors (``Mn``) are kept.
"""

from __future__ import annotations

import unicodedata

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_ZWJ = 0x200D
_BLACK_FLAG = 0x1F3F4
_TAGS = range(0xE0020, 0xE0080)
_CANCEL_TAG = 0xE007F
_MOST_TAGS = 32
_VS16 = 0xFE0F
_SKIN_TONES = range(0x1F3FB, 0x1F400)


def unsafe(code: int) -> bool:
    """True for a code point a terminal must not receive raw (by its category, out of
    any context: see :func:`clean` for the joiners kept inside emoji sequences)."""
    return unicodedata.category(chr(code)) in _UNSAFE_CATEGORIES


def _emoji(code: int) -> bool:
    """A code point that can sit on either side of a ZWJ in an emoji sequence (a
    pictographic symbol, a skin tone, VS16)."""
    if code == _VS16 or code in _SKIN_TONES:
        return True
    return code >= 0x2190 and unicodedata.category(chr(code)) == "So"


def _kept(text: str, i: int, code: int) -> bool:
    """True when the ``Cf`` character at ``text[i]`` is part of an emoji sequence."""
    if code == _ZWJ:
        return 0 < i < len(text) - 1 and _emoji(ord(text[i - 1])) and _emoji(ord(text[i + 1]))
    if code in _TAGS:
        # a tag sequence: U+1F3F4, tags U+E0020..E007E, U+E007F (cancel tag) last
        # (at most _MOST_TAGS long, so a hostile run of tags costs linear time)
        j = i
        while j > 0 and ord(text[j - 1]) in _TAGS and ord(text[j - 1]) != _CANCEL_TAG:
            j -= 1
            if i - j > _MOST_TAGS:
                return False
        if j == 0 or ord(text[j - 1]) != _BLACK_FLAG:
            return False
        k = i
        while ord(text[k]) != _CANCEL_TAG:
            k += 1
            if k == len(text) or ord(text[k]) not in _TAGS or k - j > _MOST_TAGS:
                return False
        return True
    return False


def shorten(text: str, most: int = 200) -> str:
    """``text`` cut in the middle to at most ``most`` characters: error messages quote
    hostile input, and one that repeats a megabyte of it tells nobody anything."""
    if len(text) <= most:
        return text
    keep = max(0, most - 5)
    return f"{text[:keep - keep // 4]} ... {text[len(text) - keep // 4:]}"


def _escape(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def clean(text: str) -> str:
    """``text`` with every unsafe character shown as an escape instead."""
    if text.isprintable():
        # isprintable() is False for every Cc, Cf, Zl, Zp, Cs (and Cn, Z* but space)
        return text
    out = []
    for i, ch in enumerate(text):
        code = ord(ch)
        if unsafe(code) and not _kept(text, i, code):
            out.append(_escape(code))
        else:
            out.append(ch)
    return "".join(out)
