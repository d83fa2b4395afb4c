"""Describing a .torrent or magnet without adding it (``tidegate info``)."""

from __future__ import annotations

import warnings

import libtorrent as lt
import msgspec

from ..config import LimitsConfig
from . import inputs
from .text import read_text, read_url


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
    """The bytes of the files, pad files left out."""
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


def payload_size(fs: lt.file_storage) -> int:
    """The bytes of a torrent's files, its pad files left out (``torrent_info.total_size``
    counts them: a 5,000-file hybrid showed 312.5 MiB for 23.3 MiB of data)."""
    pad = lt.file_storage.flag_pad_file
    return sum(fs.file_size(i) for i in range(fs.num_files()) if not fs.file_flags(i) & pad)


def written_files(atp: lt.add_torrent_params) -> tuple[FileEntry, ...]:
    """Each file (pad files left out) under the path it will be written to: after
    libtorrent's own de-duplication and the renames the add applies (the same paths
    ``show`` lists once the torrent is added)."""
    ti = atp.ti
    assert ti is not None
    fs = ti.layout()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        deduped = ti.files()
    renamed = dict(atp.renamed_files)
    return tuple(
        FileEntry(renamed.get(i) or read_text(lambda i=i: deduped.file_path(i)),  # type: ignore[misc]
                  fs.file_size(i))
        for i in range(fs.num_files())
        if not fs.file_flags(i) & lt.file_storage.flag_pad_file
    )


def describe_torrent(data: bytes, source: str, limits: LimitsConfig) -> MetaInfo:
    atp = inputs.parse_torrent(data, source, limits)
    ti = atp.ti
    assert ti is not None  # parse_torrent guarantees metadata
    v1, v2 = inputs.hash_hex(ti.info_hashes())
    return MetaInfo(
        source=source, name=read_text(ti.name), info_hash_v1=v1, info_hash_v2=v2, has_metadata=True,
        total_size=payload_size(ti.layout()), piece_size=ti.piece_length(),
        num_pieces=ti.num_pieces(),
        # load_torrent_buffer moves these fields out of torrent_info into the add params
        private=bool(ti.priv()), comment=read_text(lambda: atp.comment),
        creator=read_text(lambda: atp.created_by),
        creation_date=int(atp.creation_date), trackers=tuple(atp.trackers),
        web_seeds=tuple(atp.url_seeds), files=written_files(atp),
        magnet=full_magnet(atp))


def full_magnet(atp: lt.add_torrent_params) -> str:
    """The magnet of a loaded .torrent with its name, trackers (``tr=``) and web seeds
    (``ws=``), percent-encoded: load_torrent_buffer moves trackers and web seeds out of
    ``torrent_info`` into the add params, so ``make_magnet_uri(ti)`` would have neither
    and whoever got the magnet would find no peers."""
    assert atp.ti is not None
    try:
        atp.name = atp.ti.name()  # make_magnet_uri(params) takes dn= from here
    except UnicodeDecodeError:
        pass  # a name that is not UTF-8: the magnet goes without dn=
    return read_url(lambda: lt.make_magnet_uri(atp))


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
