"""HTTP Range and conditional requests for one representation (sans-IO, RFC 9110).

Only a single byte range is honoured; a multi-range or malformed Range header is
ignored (the whole file is sent), which RFC 9110 allows. A range that starts beyond
the end is unsatisfiable (416).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

_MAX_DIGITS = 18


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    size: int


def parse_range(header: str | None, size: int) -> tuple[int, int] | Unsatisfiable | None:
    """``(start, end)`` (end exclusive) to serve, :class:`Unsatisfiable`, or None for the
    whole representation."""
    if header is None:
        return None
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:
        return None
    first, dash, last = spec.partition("-")
    first, last = first.strip(), last.strip()
    if not dash or len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        return None
    if (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        return None
    if not first.isascii() or not last.isascii():
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return Unsatisfiable(size)
        return max(0, size - n), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return Unsatisfiable(size)
    end = min(size, int(last) + 1) if last else size
    return start, end


def apply_span(span: tuple[int, int] | Unsatisfiable | None, size: int,
               headers: dict[str, str]) -> tuple[int, int, int] | None:
    """``(start, end, status)`` for a parsed Range, with its Content-Range added to
    ``headers``; None when it is unsatisfiable (reply 416 with ``headers``)."""
    if isinstance(span, Unsatisfiable):
        headers["Content-Range"] = f"bytes */{size}"
        return None
    if span is None:
        return 0, size, 200
    headers["Content-Range"] = f"bytes {span[0]}-{span[1] - 1}/{size}"
    return span[0], span[1], 206


def http_date(when: float) -> str:
    return formatdate(when, usegmt=True)


def parse_http_date(text: str) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match: weak comparison against our (strong) ETag; ``*`` matches."""
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def not_modified(headers: Mapping[str, str], etag: str, modified: int) -> bool:
    """True when the client's copy is current (304)."""
    get = headers.get
    inm = get("If-None-Match")
    if inm is not None:
        return etag_matches(inm, etag)
    ims = get("If-Modified-Since")
    if ims is not None:
        when = parse_http_date(ims)
        return when is not None and int(modified) <= when
    return False


def range_applies(if_range: str | None, etag: str, modified: int) -> bool:
    """If-Range: the Range applies only while the representation is unchanged."""
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith('"') or if_range.startswith("W/"):
        return if_range == etag  # strong comparison
    when = parse_http_date(if_range)
    return when is not None and int(modified) <= when
