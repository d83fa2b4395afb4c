"""Turning untrusted input into add_torrent_params, or a clear error.

Every .torrent, magnet URI and info-hash passes through here before libtorrent
sees it. Sizes are checked first (libtorrent does not enforce its own buffer
limit for in-memory torrents), decoding runs with tight limits, and every file
path is checked to stay inside the download folder even after libtorrent's own
sanitising.
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import libtorrent as lt

from ..config import LimitsConfig
from ..errors import BadMagnetError, BadTorrentError, UnsafePathError
from .names import written_paths
from .text import clean_magnet, clean_metainfo, read_text

MAX_MAGNET_LENGTH = 16 * 1024
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_B32 = re.compile(r"^[A-Za-z2-7]{32}$")
_DRIVE = re.compile(r"^[A-Za-z]:")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
RESERVED_NAMES_RENAMED = sys.platform == "win32"
"""Only Windows cannot have a file named ``CON``: elsewhere such names are kept."""
_WINDOWS_RESERVED = {
    "con", "prn", "aux", "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}


def looks_like_uri(text: str) -> bool:
    """True for a magnet URI or a bare info-hash (as opposed to a file path)."""
    t = text.strip()
    return t.lower().startswith("magnet:") or bool(
        _HEX40.match(t) or _B32.match(t) or _HEX64.match(t)
    )


def read_torrent_file(path: str | Path, limits: LimitsConfig) -> bytes:
    """Read a .torrent file, refusing anything that is not a small regular file."""
    p = Path(path)
    shown = str(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise BadTorrentError(shown, "no such file") from None
    except OSError as exc:
        raise BadTorrentError(shown, f"cannot read: {exc.strerror or exc}") from None
    if not p.is_file():
        raise BadTorrentError(shown, "not a regular file")
    if st.st_size > limits.max_torrent_file_size:
        raise BadTorrentError(
            shown, f"{st.st_size} bytes is larger than the limit of "
                   f"{limits.max_torrent_file_size} (limits.max_torrent_file_size)")
    try:
        with p.open("rb") as f:
            data = f.read(limits.max_torrent_file_size + 1)
    except OSError as exc:
        raise BadTorrentError(shown, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limits.max_torrent_file_size:
        raise BadTorrentError(shown, "grew past the size limit while being read")
    return data


def _lt_limits(limits: LimitsConfig) -> dict[str, int]:
    return {
        "max_buffer_size": limits.max_torrent_file_size,
        "max_pieces": limits.max_pieces,
        "max_decode_depth": limits.max_decode_depth,
        "max_decode_tokens": limits.max_decode_tokens,
    }


def parse_torrent(data: bytes, source: str, limits: LimitsConfig) -> lt.add_torrent_params:
    """Decode .torrent bytes into add_torrent_params, with every check applied."""
    if len(data) > limits.max_torrent_file_size:
        raise BadTorrentError(source, f"{len(data)} bytes is larger than the limit of "
                                      f"{limits.max_torrent_file_size}")
    if not data:
        raise BadTorrentError(source, "empty file")
    if data[:1] != b"d":
        raise BadTorrentError(source, "not a torrent file (does not start with a bencoded dict)")
    atp = _load(data, source, limits)
    ti = atp.ti
    if ti is None or not ti.is_valid():
        raise BadTorrentError(source, "malformed torrent: no valid info dictionary")
    files = ti.layout()
    if files.num_files() > limits.max_files:
        raise BadTorrentError(source, f"{files.num_files()} files is more than the limit of "
                                      f"{limits.max_files} (limits.max_files)")
    if ti.total_size() <= 0:
        raise BadTorrentError(source, "torrent has no data")
    if not _text_readable(atp):
        # trackers, web seeds, comment... that are not UTF-8 made valid before the engine
        # reads them (engine/torrents/text.py); the info dictionary is left as it is. Only
        # now, once the limits passed: decoding a whole file in Python costs memory.
        atp = _load(clean_metainfo(data), source, limits)
        ti = atp.ti
        if ti is None or not ti.is_valid():
            raise BadTorrentError(source, "malformed torrent: no valid info dictionary")
    renamed = check_file_paths(ti, source)
    if renamed:
        atp.renamed_files = renamed
    return atp


def _load(data: bytes, source: str, limits: LimitsConfig) -> lt.add_torrent_params:
    try:
        # the stubs type the second argument wrongly: the binding takes load_torrent_limits keys
        return lt.load_torrent_buffer(data, _lt_limits(limits))  # type: ignore[call-overload]
    except (RuntimeError, ValueError, TypeError) as exc:
        raise BadTorrentError(source, f"malformed torrent: {exc}") from None


def _text_readable(atp: lt.add_torrent_params) -> bool:
    """Whether every text field outside the info dictionary decodes as UTF-8."""
    ti = atp.ti
    if ti is None:
        return True
    try:
        atp.trackers, atp.url_seeds, ti.comment(), ti.creator()  # noqa: B018
    except UnicodeDecodeError:
        return False
    return True


def check_file_paths(ti: lt.torrent_info | lt.file_storage, source: str) -> dict[int, str]:
    """Verify every file stays inside the torrent's folder, and give the renames that
    make each file be written under its own name.

    The renames undo what libtorrent 2.1 changes in names on load that every other
    client keeps (dropped joiners and bidi marks, case-only duplicates on Linux: see
    :mod:`engine.torrents.names`). On Windows only, names it reserves (``CON``,
    ``NUL``...) get a ``_``; elsewhere they are ordinary names, kept as they are, so a
    folder laid out by another client is found.
    Raises :class:`UnsafePathError` for anything that could escape.
    """
    if isinstance(ti, lt.file_storage):  # a layout alone: no info dictionary to go by
        files, renames = ti, {}
    else:
        files, renames = ti.layout(), written_paths(ti)
    for i in range(files.num_files()):
        flags = files.file_flags(i)
        if flags & lt.file_storage.flag_pad_file:
            continue
        raw = read_text(lambda i=i: files.file_path(i))  # type: ignore[misc]
        _check_relative(raw, source, f"file {i}")
        if flags & lt.file_storage.flag_symlink:
            # libtorrent gives the target relative to the save path
            target = read_text(lambda i=i: files.symlink(i))  # type: ignore[misc]
            _check_relative(target or raw, source, f"symlink target of file {i}")
        if i in renames:
            _check_relative(renames[i], source, f"file {i}")
        if RESERVED_NAMES_RENAMED:
            path = renames.get(i, raw)
            parts = path.replace("\\", "/").split("/")
            fixed = [_unreserve(p) for p in parts]
            if fixed != parts:
                renames[i] = "/".join(fixed)
    return renames


def _unreserve(name: str) -> str:
    """``CON`` -> ``CON_``, ``nul.tar.gz`` -> ``nul_.tar.gz``: Windows reserves the stem."""
    stem, dot, rest = name.partition(".")
    return f"{stem}_{dot}{rest}" if stem.lower() in _WINDOWS_RESERVED else name


def _check_relative(raw: str, source: str, what: str) -> None:
    # plain string work, not PurePosixPath: this runs for every file of every torrent
    # added (27 ms for 2,000 files with pathlib, on the way to the add)
    if "\x00" in raw:
        raise UnsafePathError(source, f"{what} has a NUL byte in its path")
    norm = raw.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        raise UnsafePathError(source, f"{what} has an absolute path {raw!r}")
    depth = 0
    for part in norm.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise UnsafePathError(source, f"{what} escapes the download folder: {raw!r}")
        elif part not in ("", "."):
            depth += 1


def parse_uri(text: str, source: str | None = None) -> lt.add_torrent_params:
    """Parse a magnet URI or a bare info-hash (v1 hex/base32, v2 hex)."""
    if len(text) > MAX_MAGNET_LENGTH + 1024:  # before strip() copies it
        raise BadMagnetError(source or text, f"longer than {MAX_MAGNET_LENGTH} characters")
    raw = text.strip()
    shown = source or raw
    if _HEX40.match(raw):
        return _from_hash(lt.sha1_hash(bytes.fromhex(raw)))
    if _B32.match(raw):
        return _from_hash(lt.sha1_hash(base64.b32decode(raw.upper())))
    if _HEX64.match(raw):
        return _from_hash(lt.sha256_hash(bytes.fromhex(raw)))
    if not raw.lower().startswith("magnet:?"):
        raise BadMagnetError(shown, "not a magnet URI (magnet:?xt=...) nor an info-hash "
                                    "(40 or 64 hex digits, or 32 base32 characters)")
    if len(raw) > MAX_MAGNET_LENGTH:
        raise BadMagnetError(shown, f"magnet URI longer than {MAX_MAGNET_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in raw):
        raise BadMagnetError(shown, "magnet URI contains spaces, control or non-ASCII "
                                    "characters (it must be percent-encoded)")
    lowered = raw.lower()
    if "xt=urn:btih:" not in lowered and "xt=urn:btmh:" not in lowered:
        raise BadMagnetError(shown, "magnet URI has no BitTorrent info-hash "
                                    "(xt=urn:btih:... or xt=urn:btmh:...)")
    try:
        # dn, tr, ws... that decode to bytes that are not UTF-8 made valid first
        # (engine/torrents/text.py): libtorrent keeps them and hands them back later
        atp = lt.parse_magnet_uri(clean_magnet(raw))
    except (RuntimeError, ValueError) as exc:
        raise BadMagnetError(shown, f"malformed magnet URI: {exc}") from None
    ih = atp.info_hashes
    if not (ih.has_v1() or ih.has_v2()):
        raise BadMagnetError(shown, "magnet URI has an invalid info-hash")
    return atp


def _from_hash(digest: lt.sha1_hash | lt.sha256_hash) -> lt.add_torrent_params:
    atp = lt.add_torrent_params()
    atp.info_hashes = lt.info_hash_t(digest)
    return atp


def torrent_id(ih: lt.info_hash_t) -> str:
    """Our id for a torrent: the v1 hash in hex, else the v2 hash in hex."""
    if ih.has_v1():
        return str(ih.v1)
    return str(ih.v2)


def hash_hex(ih: lt.info_hash_t) -> tuple[str | None, str | None]:
    return (str(ih.v1) if ih.has_v1() else None, str(ih.v2) if ih.has_v2() else None)


def valid_id(text: str) -> bool:
    return bool(_HEX40.match(text) or _HEX64.match(text))

