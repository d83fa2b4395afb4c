"""Public face of torrent inspection and creation, for frontends.

Frontends import these instead of reaching into :mod:`engine.torrents`.
"""

from typing import Any

from .config import LimitsConfig
from .requests import AddRequest
from .torrents.create import Created, CreateSpec, Format, create_torrent
from .torrents.describe import FileEntry, MetaInfo, describe_torrent, describe_uri
from .torrents.inputs import looks_like_uri, read_torrent_file


def request_for(source: str, limits: LimitsConfig, **options: Any) -> AddRequest:
    """An AddRequest for a magnet/hash or a .torrent path (read here, on the caller's side)."""
    if looks_like_uri(source):
        return AddRequest(uri=source.strip(), source=source, **options)
    return AddRequest(torrent=read_torrent_file(source, limits), source=source, **options)


__all__ = [
    "CreateSpec",
    "Created",
    "FileEntry",
    "Format",
    "MetaInfo",
    "create_torrent",
    "describe_torrent",
    "describe_uri",
    "looks_like_uri",
    "read_torrent_file",
    "request_for",
]
