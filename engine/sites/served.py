"""What the Smart Proxy serves: one immutable :class:`ServedSite` per hosted site.

The sites thread builds the table from verified chains and the snapshots Hosting keeps
(:class:`ServedTable`) and swaps it as a whole when something changed, like the engine's
snapshots; the proxy thread only reads the current reference. A site is served from its
newest verified, complete snapshot; only files in that snapshot's manifest exist.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ..chain.codec import encode_chain
from ..chain.entry import Update
from ..regular import read_regular
from .merkle import LAYERS_FILE
from .registry import SiteRecord
from .snapshot import NAME, metainfo_names, piece_size_for

_TYPES = mimetypes.MimeTypes()  # Python's built-in table only: the same on every machine
for _ext, _type in ((".mjs", "text/javascript"), (".js", "text/javascript"),
                    (".wasm", "application/wasm"), (".webp", "image/webp"),
                    (".avif", "image/avif"), (".woff2", "font/woff2"), (".woff", "font/woff"),
                    (".webm", "video/webm"), (".mkv", "video/x-matroska"),
                    (".md", "text/markdown"), (".json", "application/json"),
                    (".svg", "image/svg+xml"), (".opus", "audio/ogg"),
                    (".flac", "audio/flac")):
    _TYPES.add_type(_type, _ext)


def content_type(path: str) -> str:
    """The Content-Type of a manifest path, from its name alone (never sniffed)."""
    kind, encoding = _TYPES.guess_type(path, strict=False)
    if kind is None or encoding is not None:
        return "application/octet-stream"
    return kind


@dataclass(frozen=True, slots=True)
class ServedFile:
    path: str
    size: int
    root: bytes | None
    modified: int
    """Time of the entry since which this file has had this content (Last-Modified)."""
    content_type: str

    @property
    def etag(self) -> str:
        return f'"{self.root.hex()}"' if self.root is not None else '"empty"'


@dataclass(frozen=True, slots=True)
class ServedSite:
    address: str
    name: str
    height: int
    """The verified chain height."""
    seq: int
    """The snapshot served (the newest complete one Hosting keeps)."""
    folder: Path
    """The snapshot's ``site/`` folder."""
    layers: Path
    piece_length: int
    files: Mapping[str, ServedFile]
    folders: frozenset[str] = field(default_factory=frozenset)
    """Every folder the manifest implies ("" for the root, "a/b" for a/b/x)."""
    chain: bytes = b""
    """The verified chain, entries 0..height in the chain file format (``/.tidegate/head``:
    how a follower in ``tor-all`` mode, with no DHT, learns the head)."""
    torrent: bytes | None = None
    """The served snapshot's metainfo, when held here and its info-hash is the one the
    chain names (``/.tidegate/snapshot/<seq>.torrent``)."""


MAX_METAINFO = 16 << 20


def snapshot_metainfo(rec: SiteRecord, entry: Update) -> bytes | None:
    """The metainfo of ``entry``'s snapshot if it is on disk and is the one the entry
    names; else None (nothing unverified is served)."""
    try:
        data = read_regular(str(rec.snapshot_torrent(entry.seq)), MAX_METAINFO + 1)
        if len(data) > MAX_METAINFO:
            return None
    except OSError:
        return None
    return data if metainfo_names(data, entry.magnet) else None


def _folders(paths: list[str]) -> frozenset[str]:
    out = {""}
    for p in paths:
        parts = p.split("/")
        for i in range(1, len(parts)):
            out.add("/".join(parts[:i]))
    return frozenset(out)


class ServedTable:
    """Built and swapped on the sites thread; :attr:`current` is read from any thread."""

    def __init__(self) -> None:
        self.current: Mapping[str, ServedSite] = MappingProxyType({})
        self._since: dict[str, tuple[int, dict[str, tuple[bytes | None, int]]]] = {}
        """Per site: the seq the Last-Modified map was brought to, and path -> (root, time)."""
        self.listeners: list[Callable[[], None]] = []

    def _modified(self, rec: SiteRecord, seq: int) -> dict[str, tuple[bytes | None, int]]:
        done, since = self._since.get(rec.address, (0, {}))
        if done > seq:
            done, since = 0, {}
        entries = rec.store.chain.entries
        for entry in entries[done + 1:seq + 1]:
            if not isinstance(entry, Update):
                continue
            now = {}
            for f in entry.files:
                p = "/".join(f.path)
                old = since.get(p)
                now[p] = old if old is not None and old[0] == f.root else (f.root, entry.time)
            since = now
        self._since[rec.address] = (seq, since)
        return since

    def build(self, rec: SiteRecord, seq: int) -> ServedSite | None:
        entry = rec.update_at(seq)
        if entry is None:
            return None
        since = self._modified(rec, seq)
        files = {}
        for f in entry.files:
            p = "/".join(f.path)
            files[p] = ServedFile(p, f.size, f.root, since.get(p, (None, entry.time))[1],
                                  content_type(p))
        base = rec.snapshot_dir(seq)
        chain = rec.store.chain
        return ServedSite(
            address=rec.address, name=rec.name, height=chain.height, seq=seq,
            folder=base / NAME, layers=base / LAYERS_FILE,
            piece_length=piece_size_for(sum(f.size for f in entry.files)),
            files=MappingProxyType(files), folders=_folders(list(files)),
            chain=encode_chain([e.raw for e in chain.entries]),
            torrent=snapshot_metainfo(rec, entry))

    def update(self, hosted: Mapping[str, tuple[SiteRecord, int]]) -> bool:
        """Bring the table to ``address -> (record, newest complete snapshot seq)``;
        True when it changed (and was swapped)."""
        old = self.current
        new: dict[str, ServedSite] = {}
        for address, (rec, seq) in hosted.items():
            have = old.get(address)
            if have is not None and have.seq == seq and have.height == rec.store.chain.height:
                new[address] = have
                continue
            site = self.build(rec, seq)
            if site is not None:
                new[address] = site
        for gone in set(self._since) - set(new):
            del self._since[gone]
        if new.keys() == old.keys() and all(new[a] is old[a] for a in new):
            return False
        self.current = MappingProxyType(new)
        for wake in list(self.listeners):
            wake()
        return True
