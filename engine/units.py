"""Human units: sizes, rates and durations, formatted and parsed (shared by every frontend)."""

from __future__ import annotations

import re

_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]


def size(n: float) -> str:
    n = float(n)
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def rate(n: float) -> str:
    return size(n) + "/s"


def duration(seconds: int) -> str:
    if seconds < 0:
        return "∞"
    d, rem = divmod(int(seconds), 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{d}d{h:02d}h"
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


def eta(seconds: int, finished: bool) -> str:
    """A torrent's ETA for people: ``Done`` once it has every wanted byte, nothing when
    unknown (paused, stalled, no metadata), else the time left."""
    if finished:
        return "Done"
    return duration(seconds) if seconds >= 0 else ""


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)(?:/s)?\s*$", re.IGNORECASE)


def decimal(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative integer when it is 1 to ``max_digits`` ASCII digits, else
    None. ``str.isdigit`` alone is not enough: it is true for ``"²"`` and other digits that
    ``int`` refuses, and ``int`` refuses more than 4,300 digits."""
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def port_number(text: str, lowest: int = 1) -> int | None:
    """A TCP/UDP port written in ``text`` (``lowest`` to 65535), else None."""
    n = decimal(text, 5)
    return n if n is not None and lowest <= n <= 65535 else None


def parse_rate(text: str) -> int:
    """Parse ``500K``, ``2M``, ``1.5MiB/s``, ``0`` (unlimited) into bytes/s."""
    m = _RATE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a rate (examples: 0, 500K, 2M, 1.5MiB/s)")
    value = float(m.group(1)) * 1024 ** "bkmgt".index((m.group(2) or "b").lower())
    return int(value)


def parse_size(text: str) -> int:
    return parse_rate(text)
