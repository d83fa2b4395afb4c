"""Reading a torrent's file while it downloads: the program API's torrent side.

``torrent_read`` is how a program on the daemon's API (``engine/api/torrent_stream.py``'s
``TorrentFileStream``, ``examples/video_page.py``) reads a file of a torrent at any
offset: missing pieces are asked for first (piece deadlines) and the reply waits for them,
bounded. People stream through the Smart Proxy's ``/torrent/`` pages instead.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .command_base import Command
from .requests import FileIndex

MAX_READ = 1 << 20
"""Bytes one ``torrent_read`` returns at most (a reply stays far below the API's
``max_message_size``)."""

READ_WAIT = 60.0
"""Seconds a read waits for missing pieces at most (``web.stream_timeout`` if lower)."""

MAX_OFFSET = 1 << 62
Offset = Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET)]
Length = Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET)]


class FileChunk(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Bytes of a torrent's file, every one from a piece that passed its hash check."""

    data: bytes
    """At most ``MAX_READ`` bytes from ``offset``; empty at the end of the file."""
    offset: int
    """Where ``data`` starts in the file."""
    file_size: int
    """The whole file's size in bytes."""


class TorrentRead(Command[FileChunk], frozen=True, forbid_unknown_fields=True):
    """Up to 1 MiB of a torrent's file at ``offset`` (fewer at its end), waiting for
    missing pieces, which are asked for first, with the next ones read ahead."""

    cmd = "torrent_read"
    timeout = READ_WAIT + 15.0
    cli = "cat"
    no_face = ("TUI: none; programs read with engine/api/torrent_stream.py, and people "
               "stream a file through the Smart Proxy's /torrent/ pages")
    torrent_id: str
    file_index: FileIndex
    offset: Offset
    length: Length
