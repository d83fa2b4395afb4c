"""Public face of torrent inspection and creation, for frontends.

Frontends import these instead of reaching into :mod:`engine.torrents`.
"""

from typing import Any

from .config import Config, LimitsConfig
from .requests import AddRequest
from .torrents.create import Created, CreateSpec, Format, create_torrent
from .torrents.describe import FileEntry, MetaInfo, describe_torrent, describe_uri
from .torrents.inputs import looks_like_uri, read_torrent_file


def request_for(source: str, limits: LimitsConfig, *, config: Config | None = None,
                **options: Any) -> AddRequest:
    """An AddRequest for a magnet/hash, a .torrent path (read here, on the caller's side)
    or an ``http(s)://`` URL of a .torrent (fetched here, so only when ``config`` allows a
    direct request: see :func:`engine.torrents.fetch.refusal`; this blocks for up to
    ``fetch.TIMEOUT`` seconds)."""
    if looks_like_uri(source):
        return AddRequest(uri=source.strip(), source=source, **options)
    if is_url(source):
        from .errors import BadTorrentError
        from .torrents import fetch

        why = fetch.refusal(config)
        if why is not None:
            raise BadTorrentError(source, why)
        return AddRequest(torrent=fetch.fetch(source, limits), source=source.strip(),
                          **options)
    return AddRequest(torrent=read_torrent_file(source, limits), source=source, **options)


def is_url(text: str) -> bool:
    """An ``http://`` or ``https://`` URL (of a .torrent file, for :func:`request_for`)."""
    return text.strip().lower().startswith(("http://", "https://"))


__all__ = [
    "CreateSpec",
    "Created",
    "FileEntry",
    "Format",
    "MetaInfo",
    "create_torrent",
    "describe_torrent",
    "describe_uri",
    "is_url",
    "looks_like_uri",
    "read_torrent_file",
    "request_for",
]
