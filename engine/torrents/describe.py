"""Describing a .torrent or magnet without adding it (``tidegate info``)."""

from __future__ import annotations

import libtorrent as lt
import msgspec

from ..config import LimitsConfig
from . import inputs
from .text import read_text


class FileEntry(msgspec.Struct, frozen=True):
    path: str
    size: int


class MetaInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a torrent or magnet says about itself."""

    source: str
    name: str
    info_hash_v1: str | None
    info_hash_v2: str | None
    has_metadata: bool
    total_size: int
    piece_size: int
    num_pieces: int
    private: bool
    comment: str
    creator: str
    creation_date: int
    trackers: tuple[str, ...]
    web_seeds: tuple[str, ...]
    files: tuple[FileEntry, ...]
    magnet: str


def describe_torrent(data: bytes, source: str, limits: LimitsConfig) -> MetaInfo:
    atp = inputs.parse_torrent(data, source, limits)
    ti = atp.ti
    assert ti is not None  # parse_torrent guarantees metadata
    fs = ti.layout()
    v1, v2 = inputs.hash_hex(ti.info_hashes())
    files = tuple(
        FileEntry(fs.file_path(i), fs.file_size(i))
        for i in range(fs.num_files())
        if not fs.file_flags(i) & lt.file_storage.flag_pad_file
    )
    return MetaInfo(
        source=source, name=read_text(ti.name), info_hash_v1=v1, info_hash_v2=v2, has_metadata=True,
        total_size=ti.total_size(), piece_size=ti.piece_length(), num_pieces=ti.num_pieces(),
        # load_torrent_buffer moves these fields out of torrent_info into the add params
        private=bool(ti.priv()), comment=read_text(lambda: atp.comment),
        creator=read_text(lambda: atp.created_by),
        creation_date=int(atp.creation_date), trackers=tuple(atp.trackers),
        web_seeds=tuple(atp.url_seeds), files=files,
        magnet=lt.make_magnet_uri(ti))


def describe_uri(uri: str) -> MetaInfo:
    atp = inputs.parse_uri(uri)
    v1, v2 = inputs.hash_hex(atp.info_hashes)
    return MetaInfo(
        source=uri, name=read_text(lambda: atp.name), info_hash_v1=v1, info_hash_v2=v2,
        has_metadata=False,
        total_size=0, piece_size=0, num_pieces=0, private=False, comment="", creator="",
        creation_date=0, trackers=tuple(atp.trackers), web_seeds=tuple(atp.url_seeds), files=(),
        magnet=uri if uri.lower().startswith("magnet:") else _magnet_for(v1, v2))


def _magnet_for(v1: str | None, v2: str | None) -> str:
    parts = []
    if v1:
        parts.append(f"xt=urn:btih:{v1}")
    if v2:
        parts.append(f"xt=urn:btmh:1220{v2}")
    return "magnet:?" + "&".join(parts)
