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

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import libtorrent as lt
import msgspec

from ..config import LimitsConfig
from ..durable import sync_folder, write_synced
from ..paths import private_dir
from .inputs import valid_id
from .resume_writer import ResumeWriter
from .text import clean_resume

SUFFIX = ".resume"
EXTRA_KEY = b"tidegate"


class TorrentExtras(msgspec.Struct, kw_only=True):
    """tidegate's own per-torrent settings, saved beside libtorrent's resume data."""

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


@dataclass(frozen=True, slots=True)
class Saved:
    torrent_id: str
    params: lt.add_torrent_params
    extras: TorrentExtras


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
        return self._read(path)

    def close(self, timeout: float) -> bool:
        """Write everything queued and stop the writer; False if it ran out of time."""
        return self.writer.close(timeout)

    def load_all(self) -> Iterator[Saved | Corrupt]:
        if not self.folder.is_dir():
            return
        for file in sorted(self.folder.glob(f"*{SUFFIX}")):
            yield self._read(file)

    def _read(self, file: Path) -> Saved | Corrupt:
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
        extras = TorrentExtras()
        raw = cast(dict[bytes, Any], entry).get(EXTRA_KEY) if isinstance(entry, dict) else None
        if isinstance(raw, bytes):
            try:
                extras = msgspec.json.decode(raw, type=TorrentExtras)
            except (msgspec.DecodeError, TypeError) as exc:
                return self._quarantine(file, f"malformed tidegate settings: {exc}")
        ih = params.info_hashes
        if not (ih.has_v1() or ih.has_v2()):
            return self._quarantine(file, "resume data has no info-hash")
        if torrent_id not in (str(ih.v1), str(ih.v2)):
            return self._quarantine(file, "file name does not match the torrent's info-hash")
        return Saved(torrent_id, params, extras)

    def _quarantine(self, file: Path, message: str) -> Corrupt:
        target = file.with_name(file.name + ".corrupt")
        try:
            os.replace(file, target)
        except OSError:
            target = file
        return Corrupt(target, message)
