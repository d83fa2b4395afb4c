"""Public face of torrent inspection and creation, for frontends.

Frontends import these instead of reaching into :mod:`engine.torrents`.
"""

from .torrents.create import Created, CreateSpec, Format, create_torrent
from .torrents.describe import FileEntry, MetaInfo, describe_torrent, describe_uri
from .torrents.inputs import looks_like_uri, read_torrent_file

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
]
