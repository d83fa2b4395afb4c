"""Hostile text made safe for a terminal.

Names from torrents, peers, trackers and sites are input from strangers. Before
any frontend shows one, escape sequences, control characters and bidi controls
are replaced by visible ``\\xNN``/``\\uNNNN`` forms, so nothing a torrent says
can move the cursor, set a window title or reorder the text around it.
"""

from __future__ import annotations

_BIDI = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})


def unsafe(code: int) -> bool:
    """True for a code point a terminal must not receive raw."""
    return code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or code in _BIDI


def shorten(text: str, most: int = 200) -> str:
    """``text`` cut in the middle to at most ``most`` characters: error messages quote
    hostile input, and one that repeats a megabyte of it tells nobody anything."""
    if len(text) <= most:
        return text
    keep = max(0, most - 5)
    return f"{text[:keep - keep // 4]} ... {text[len(text) - keep // 4:]}"


def clean(text: str) -> str:
    """``text`` with every unsafe character shown as an escape instead."""
    if text.isprintable() and not any(ord(ch) in _BIDI for ch in text):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if unsafe(code):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
