"""Text that comes out of libtorrent: bytes until proven text.

libtorrent keeps text as byte strings (``std::string``): a tracker's failure message, a
torrent's name from a magnet's ``dn``, a tracker URL from a .torrent, a peer's client
name. The Python binding decodes each as UTF-8 when it is read and raises
``UnicodeDecodeError`` when it is not, so one invalid byte from a stranger used to end
whatever read it (the engine thread, at first).

The policy, applied where libtorrent values become engine values:

* A name or a message (shown to people): each invalid UTF-8 sequence becomes U+FFFD, as
  browsers and libtorrent's own file names do (:func:`read_text`, :func:`as_text`).
* A URL (tracker, web seed): invalid bytes are percent-encoded (``\\xff`` -> ``%FF``), so
  the URL still names the same bytes on the wire and stays usable (:func:`url_text`).
* Inputs are cleaned before libtorrent holds them (:func:`clean_magnet`,
  :func:`clean_metainfo`, :func:`clean_resume`): the fields outside the info dictionary
  of a .torrent or a resume file, and the text parameters of a magnet, are made valid
  UTF-8 by that policy. The info dictionary is never touched (it is the info-hash);
  libtorrent itself replaces invalid UTF-8 in its file names.

What arrives while a torrent runs (tracker messages, client names, error messages) cannot
be cleaned beforehand: every read of such a string goes through :func:`read_text`, which
takes the bytes from the binding's ``UnicodeDecodeError`` (``exc.object``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import fastbencode

REPLACEMENT = "\ufffd"


def as_text(raw: bytes | bytearray | memoryview | str) -> str:
    """Bytes (or a str) as text: invalid UTF-8 sequences become U+FFFD."""
    if isinstance(raw, str):
        return raw
    return bytes(raw).decode("utf-8", "replace")


def read_text(read: Callable[[], Any]) -> str:
    """``read()`` (a libtorrent getter returning a string) as text by the policy: the
    binding's decoding error carries the raw bytes, which are decoded with U+FFFD."""
    try:
        value = read()
    except UnicodeDecodeError as exc:
        return as_text(exc.object)
    if isinstance(value, bytes | bytearray | memoryview):
        return as_text(value)
    return "" if value is None else str(value)


def url_text(raw: bytes | str) -> str:
    """A URL as valid text: bytes that are not valid UTF-8 are percent-encoded, every
    other byte is kept as it is (so a valid URL is returned unchanged)."""
    if isinstance(raw, str):
        return raw
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        try:
            out.append(raw[i:].decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            out.append(raw[i:i + exc.start].decode("utf-8"))
            bad = raw[i + exc.start:i + exc.end]
            out.append("".join(f"%{b:02X}" for b in bad))
            i += exc.end
    return "".join(out)


def read_url(read: Callable[[], Any]) -> str:
    """Like :func:`read_text`, for a URL (:func:`url_text`)."""
    try:
        value = read()
    except UnicodeDecodeError as exc:
        return url_text(bytes(exc.object))
    if isinstance(value, bytes | bytearray | memoryview):
        return url_text(bytes(value))
    return "" if value is None else str(value)


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---------------------------------------------------------------- magnets

_MAGNET_URLS = {"tr", "ws", "xs", "as"}
"""Magnet parameters that hold URLs (tracker, web seed, exact source, acceptable source)."""
_MAGNET_TEXT = {"dn", "kt"}
"""Magnet parameters that hold text (display name, keywords)."""


def clean_magnet(uri: str) -> str:
    """A magnet URI whose text parameters decode to valid UTF-8.

    ``dn=%ff`` becomes ``dn=%EF%BF%BD`` (U+FFFD); ``tr=http://t/%ff`` becomes
    ``tr=http://t/%25FF``, which libtorrent decodes to ``http://t/%FF``: the same
    bytes on the wire. Everything else is kept as given."""
    head, sep, query = uri.partition("?")
    if not sep:
        return uri
    parts = query.split("&")
    changed = False
    for i, part in enumerate(parts):
        key, eq, value = part.partition("=")
        base = key.split(".", 1)[0].lower()
        if not eq or (base not in _MAGNET_URLS and base not in _MAGNET_TEXT):
            continue
        raw = unquote_to_bytes(value.replace("+", " ") if base in _MAGNET_TEXT else value)
        if is_utf8(raw):
            continue
        fixed = url_text(raw) if base in _MAGNET_URLS else as_text(raw)
        parts[i] = f"{key}={quote(fixed, safe='')}"
        changed = True
    return f"{head}?{'&'.join(parts)}" if changed else uri


# ---------------------------------------------------------------- bencoded files

_URL_KEYS = (b"announce", b"url-list", b"httpseeds")
_TEXT_KEYS = (b"comment", b"created by", b"comment.utf-8", b"publisher", b"publisher-url")
_LIST_KEYS = (b"announce-list", b"trackers")


def _fix_urls(value: Any, depth: int = 0) -> tuple[Any, bool]:
    """A URL, a list of URLs or a list of tiers of URLs, made valid."""
    if isinstance(value, bytes):
        if is_utf8(value):
            return value, False
        return url_text(value).encode(), True
    if isinstance(value, list) and depth < 2:
        changed = False
        out = []
        for item in value:
            fixed, c = _fix_urls(item, depth + 1)
            out.append(fixed)
            changed |= c
        return out, changed
    return value, False


def clean_fields(entry: dict[bytes, Any]) -> bool:
    """Make the text fields of a decoded .torrent or resume file valid UTF-8, in place
    (never the ``info`` dictionary). True when anything changed."""
    changed = False
    for key in (*_URL_KEYS, *_LIST_KEYS):
        if key in entry:
            fixed, c = _fix_urls(entry[key])
            if c:
                entry[key] = fixed
                changed = True
    for key in (*_TEXT_KEYS, b"name"):
        value = entry.get(key)
        if isinstance(value, bytes) and not is_utf8(value):
            entry[key] = as_text(value).encode()
            changed = True
    return changed


def clean_bencoded(data: bytes) -> bytes:
    """``data`` (a .torrent or a resume file) with its text fields made valid UTF-8.

    The bytes are returned unchanged when every field is valid, or when they do not
    decode as a dictionary (the caller's parser then reports what is wrong). A file whose
    ``info`` dictionary is not in canonical form is also returned unchanged: re-encoding
    it would change its info-hash."""
    if not data.startswith(b"d") or is_utf8(data):
        return data
    try:
        entry = fastbencode.bdecode(data)
    except Exception:  # malformed: libtorrent's parser names the fault
        return data
    if not isinstance(entry, dict) or not clean_fields(entry):
        return data
    info = entry.get(b"info")
    if info is not None:
        try:
            if fastbencode.bencode(info) not in data:
                return data
        except Exception:
            return data
    try:
        return bytes(fastbencode.bencode(entry))
    except Exception:
        return data


clean_metainfo = clean_bencoded
clean_resume = clean_bencoded
