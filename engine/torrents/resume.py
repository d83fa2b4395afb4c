"""Resume data on disk: one file per torrent, written atomically.

A file is ``<id>.resume``: libtorrent's bencoded resume data with one extra key,
``tidegate``, holding our own per-torrent settings (share limits, the
metadata-first flag), so a single rename commits both. Writes go to a temp
file, are fsynced, renamed over the old file, and the directory is fsynced: a
crash leaves either the old or the new file, never a torn one. The engine thread
only encodes and queues; :class:`~.resume_writer.ResumeWriter` does the disk work.
A file that cannot be read back is renamed ``*.corrupt`` and reported, never deleted.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import libtorrent as lt
import msgspec

from ..config import LimitsConfig
from ..durable import sync_folder, write_synced
from ..errors import InputError
from ..labels import check_category, check_tags
from ..paths import private_dir
from ..requests import check_ratio, check_seed_time
from ..safetext import shorten
from .inputs import valid_id
from .resume_writer import ResumeWriter
from .text import clean_resume

SUFFIX = ".resume"
EXTRA_KEY = b"tidegate"


class TorrentExtras(msgspec.Struct, kw_only=True, gc=False):
    """tidegate's own per-torrent settings, saved beside libtorrent's resume data.
    (``gc=False``: one per torrent, and it holds only strings, numbers and lists of them,
    which make no cycles.)"""

    ratio_limit: float = -1.0
    """-1 means use the global default; 0 means no limit."""
    seed_time_limit: int = -1
    metadata_first: bool = False
    """Pause once metadata arrives so the user can choose files."""
    stopped_by_limit: bool = False
    comment: str = ""
    """The .torrent's comment (libtorrent keeps it only in the add params)."""
    creator: str = ""
    quarantined: str = ""
    """Why the torrent was quarantined after repeated internal errors (:mod:`.isolation`):
    restored paused with this as its error until the user resumes it."""
    moving_to: str = ""
    """A move to this folder was started and has not been recorded as finished: on the
    next start the data is looked for in both folders (:mod:`.recover`)."""
    rechecking: bool = False
    """A recheck was asked and has not ended: asked again at the next start (libtorrent
    does not resume an interrupted check by itself)."""
    pause_after_check: bool = False
    """Paused by the user when the recheck was asked (or during it): libtorrent checks a
    paused torrent only once it is resumed, so it runs for the check, with auto-management
    off, and is paused again when the check ends (:mod:`.recheck`)."""
    manage_after_check: bool = False
    """Running and auto-managed when the recheck was asked: libtorrent starts the forced
    check of an auto-managed torrent only at its next auto-manage pass (~1 s, 0.23x raw
    libtorrent's recheck of 512 MiB), so it is unmanaged for the check and managed again
    when the check ends (:mod:`.recheck`)."""
    site: str = ""
    """The address of the site whose snapshot or chain this is ("" a user's torrent)."""
    site_role: str = ""
    """``snapshot <seq>`` or ``chain``."""
    peers: list[tuple[str, int]] = []
    """(ip, port) of peers the user named (``--peer``, ``add_peers``, an add again): dialled
    at every start, resume and check, since without a tracker or DHT nothing else finds
    them (the newest :data:`MAX_PEERS`)."""
    category: str = ""
    """Its category (engine/labels.py; "" none)."""
    tags: list[str] = []
    """Its tags, sorted, each once."""
    complete_dir: str = ""
    """Downloading in ``completion.incomplete_dir``: the folder its data moves to once
    complete ("" none; :mod:`.completion`)."""
    move_error: str = ""
    """Why that move failed: the torrent's error until it is resumed (which tries again)."""


MAX_PEERS = 200
"""Most user-named peers kept per torrent (the oldest are dropped first)."""


def merge_peers(extras: TorrentExtras, peers: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Add ``peers`` to those ``extras`` keeps; returns the ones that were new."""
    new = [p for p in dict.fromkeys(peers) if p not in extras.peers]
    if new:
        extras.peers = [*extras.peers, *new][-MAX_PEERS:]
    return new


_EXTRA_CHECKS: dict[str, Callable[[Any], object]] = {
    "ratio_limit": lambda v: check_ratio(v, "ratio_limit"),
    "seed_time_limit": lambda v: check_seed_time(v, "seed_time_limit"),
    "category": lambda v: check_category(v, allow_empty=True),
    "tags": lambda v: _sorted_tags(v),
}
"""Ranges of the numbers in :class:`TorrentExtras` (the ones commands accept)."""


def _sorted_tags(tags: list[str]) -> list[str]:
    if list(check_tags(tags)) != tags:
        raise InputError(repr(tags)[:60], "tags are kept sorted, trimmed and each once")
    return tags


def read_extras(raw: object) -> tuple[TorrentExtras, tuple[str, ...]]:
    """The ``tidegate`` key of a resume file, setting by setting.

    A value that is not of its type or not in its range (a hand edit, an older version that
    saved an infinite ratio as JSON ``null``) is reset to its default with a warning; the
    torrent itself is never dropped for one of its settings."""
    if raw is None:
        return TorrentExtras(), ()
    try:
        fields = msgspec.json.decode(raw, type=dict[str, Any]) if isinstance(raw, bytes) \
            else None
    except msgspec.DecodeError as exc:
        fields = None
        why = f"not JSON ({exc})"
    else:
        why = "not a JSON object"
    if fields is None:
        return TorrentExtras(), (f"its tidegate settings were unreadable ({why}); "
                                 "they are reset to the defaults",)
    kept: dict[str, Any] = {}
    warnings: list[str] = []
    types = _extras_types()
    for name, value in fields.items():
        if name not in types:
            continue  # a setting of a newer version: ignored, as before
        try:
            value = msgspec.convert(value, types[name], strict=False)
            if name in _EXTRA_CHECKS:
                _EXTRA_CHECKS[name](value)
        except (msgspec.ValidationError, InputError) as exc:
            default = getattr(TorrentExtras(), name)
            warnings.append(f"{name} = {shorten(repr(fields[name]), 40)} cannot be kept "
                            f"({shorten(str(exc), 120)}); reset to {default!r}")
            continue
        kept[name] = value
    return TorrentExtras(**kept), tuple(warnings)


@functools.cache
def _extras_types() -> dict[str, Any]:
    """Each :class:`TorrentExtras` field's type, worked out once: ``msgspec.structs.fields``
    evaluates the annotations on every call (15 of the 26 s a 50,000-torrent restore took,
    docs/BENCHMARKS.md)."""
    return {f.name: f.type for f in msgspec.structs.fields(TorrentExtras)}


@dataclass(frozen=True, slots=True)
class Saved:
    torrent_id: str
    params: lt.add_torrent_params
    extras: TorrentExtras
    warnings: tuple[str, ...] = ()
    """Settings in the file that could not be kept (reset to their defaults): the torrent
    loads all the same, and the engine reports each one."""


@dataclass(frozen=True, slots=True)
class Corrupt:
    file: Path
    message: str


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old or the new content."""
    private_dir(path.parent)
    write_synced(path, data)
    sync_folder(path.parent)


class ResumeStore:
    """The folder of resume files for one engine.

    Saves and deletes are queued to a writer thread; :meth:`exists` and :meth:`load`
    see queued changes first, so the store reads as if every write had happened.
    Call :meth:`close` to finish writing.
    """

    def __init__(self, folder: Path, limits: LimitsConfig,
                 on_written: Callable[[], None] = lambda: None):
        self.folder = folder
        self._limits = limits
        self.writer = ResumeWriter(folder, on_written)

    def path(self, torrent_id: str) -> Path:
        return self.folder / f"{torrent_id}{SUFFIX}"

    def save(self, torrent_id: str, params: lt.add_torrent_params,
             extras: TorrentExtras, urgent: bool = False) -> int:
        """Queue the torrent's file (``urgent``: a command waits for it); returns the
        writer's ticket for it."""
        buf = lt.write_resume_data_buf(params)
        entry = cast(dict[bytes, Any], lt.bdecode(buf))
        entry[EXTRA_KEY] = msgspec.json.encode(extras)
        return self.writer.put(self.path(torrent_id), lt.bencode(entry), urgent)

    def delete(self, torrent_id: str) -> None:
        """Gone when this returns (a removed torrent's file must not outlive the remove)."""
        self.writer.delete_now(self.path(torrent_id))

    def exists(self, torrent_id: str) -> bool:
        queued, data = self.writer.pending(self.path(torrent_id))
        return data is not None if queued else self.path(torrent_id).is_file()

    def load(self, torrent_id: str) -> Saved | Corrupt:
        path = self.path(torrent_id)
        queued, data = self.writer.pending(path)
        if queued and data is not None:
            return self._parse(path, data)
        return self.read(path)

    def close(self, timeout: float) -> bool:
        """Write everything queued and stop the writer; False if it ran out of time."""
        return self.writer.close(timeout)

    def files(self) -> dict[str, Path]:
        """id -> file of every resume file, in name order (ids not yet checked)."""
        try:
            names = sorted(e.name for e in os.scandir(self.folder)
                           if e.name.endswith(SUFFIX))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        return {name[: -len(SUFFIX)]: self.folder / name for name in names}

    def load_all(self) -> Iterator[Saved | Corrupt]:
        for file in self.files().values():
            yield self.read(file)

    def read(self, file: Path) -> Saved | Corrupt:
        """The resume file ``file`` read and checked (a bad one is renamed ``*.corrupt``)."""
        torrent_id = file.name[: -len(SUFFIX)]
        if not valid_id(torrent_id):
            return self._quarantine(file, "file name is not an info-hash")
        try:
            data = file.read_bytes()
        except OSError as exc:
            return Corrupt(file, f"cannot read: {exc}")
        return self._parse(file, data)

    def _parse(self, file: Path, data: bytes) -> Saved | Corrupt:
        torrent_id = file.name[: -len(SUFFIX)]
        if len(data) > self._limits.max_torrent_file_size * 2:
            return self._quarantine(file, "resume file is larger than the size limit")
        limits = {
            "max_buffer_size": self._limits.max_torrent_file_size * 2,
            "max_pieces": self._limits.max_pieces,
            "max_decode_depth": self._limits.max_decode_depth,
            "max_decode_tokens": self._limits.max_decode_tokens,
        }
        # text that is not UTF-8 (a tracker URL saved before engine/torrents/text.py)
        # made valid, or the torrent could not be used after loading
        data = clean_resume(data)
        try:
            params = lt.read_resume_data(data, limits)  # type: ignore[call-overload]
            entry = lt.bdecode(data)
        except (RuntimeError, ValueError, TypeError) as exc:
            return self._quarantine(file, f"malformed resume data: {exc}")
        raw = cast(dict[bytes, Any], entry).get(EXTRA_KEY) if isinstance(entry, dict) else None
        extras, warnings = read_extras(raw)
        ih = params.info_hashes
        if not (ih.has_v1() or ih.has_v2()):
            return self._quarantine(file, "resume data has no info-hash")
        if torrent_id not in (str(ih.v1), str(ih.v2)):
            return self._quarantine(file, "file name does not match the torrent's info-hash")
        return Saved(torrent_id, params, extras, warnings)

    def _quarantine(self, file: Path, message: str) -> Corrupt:
        target = file.with_name(file.name + ".corrupt")
        try:
            os.replace(file, target)
        except OSError:
            target = file
        return Corrupt(target, message)
