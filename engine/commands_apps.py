"""The program API's commands (docs/program-api.md): read a site's verified files, write
an owned site's source folder, and lease HTTP paths of an owned site to a program. A
:class:`engine.node.Node` runs them (the sites thread and the Smart Proxy's verifier);
:class:`engine.api.apps.AppClient` is their client. Programs call them: no user face."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .command_base import Command

MAX_READ = 1 << 20
"""Bytes one ``site_read`` returns (a reply stays far below the API's frame limit)."""
MAX_WRITE = 512 << 10
"""Bytes one ``site_write`` carries (the smallest ``api.max_message_size`` is 1 MiB)."""
MAX_LISTED = 5000
"""Files one ``site_files`` reply lists; ``next`` says where the next page starts."""
APP_FACE = "a program API: programs call it through AppClient (docs/program-api.md)"

Site = Annotated[str, msgspec.Meta(max_length=200)]
SitePath = Annotated[str, msgspec.Meta(max_length=1024)]
Prefix = Annotated[str, msgspec.Meta(max_length=200)]
Target = Annotated[str, msgspec.Meta(max_length=100)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=1 << 50)]
Length = Annotated[int, msgspec.Meta(ge=0, le=MAX_READ)]
Data = Annotated[bytes, msgspec.Meta(max_length=MAX_WRITE)]
Ttl = Annotated[float, msgspec.Meta(ge=2.0, le=600.0)]
Start = Annotated[int, msgspec.Meta(ge=0, le=1 << 31)]


class SiteFile(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    path: str
    size: int
    content_type: str
    """From the name alone, as the Smart Proxy sends it."""
    root: str
    """Hex BEP 52 pieces root (the content hash the chain signs; "" for an empty file)."""


class SiteListing(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Reply to ``site_files``: the newest verified snapshot's files, sorted by path."""

    address: str
    height: int
    snapshot: int
    files: list[SiteFile]
    next: int = -1
    """Where the next page starts (``start``), -1: this was the last."""


class SiteChunk(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Reply to ``site_read``: verified bytes of one file."""

    data: bytes
    offset: int
    size: int
    """The whole file's size."""
    height: int
    snapshot: int
    content_type: str
    etag: str


class SiteFiles(Command[SiteListing], frozen=True, forbid_unknown_fields=True):
    """The files of a site's newest verified snapshot (path, size, content type)."""

    cmd = "site_files"
    no_face = APP_FACE
    site: Site
    start: Start = 0


class SiteRead(Command[SiteChunk], frozen=True, forbid_unknown_fields=True):
    """Read up to 1 MiB of a site's file, verified against the chain as the Smart Proxy
    verifies what it serves."""

    cmd = "site_read"
    no_face = APP_FACE
    site: Site
    path: SitePath
    offset: Offset = 0
    length: Length = MAX_READ


class SiteWrite(Command[int], frozen=True, forbid_unknown_fields=True):
    """Write a file of an owned site's source folder (whole and atomic, or at an offset);
    ``site_publish`` publishes it. Returns the file's size."""

    cmd = "site_write"
    no_face = APP_FACE
    site: Site
    path: SitePath
    data: Data
    offset: Offset | None = None
    truncate: bool = False


class SiteDelete(Command[None], frozen=True, forbid_unknown_fields=True):
    """Delete a file of an owned site's source folder."""

    cmd = "site_delete"
    no_face = APP_FACE
    site: Site
    path: SitePath


class HandlerRegister(Command[float], frozen=True, forbid_unknown_fields=True):
    """Lease an owned site's paths under ``prefix`` to a program listening at ``target``
    (``http://127.0.0.1:PORT``): the Smart Proxy forwards them there until the lease
    (``ttl`` seconds) lapses unrenewed. Registering again renews. Returns the ttl."""

    cmd = "handler_register"
    no_face = APP_FACE
    site: Site
    prefix: Prefix
    target: Target
    ttl: Ttl = 30.0


class HandlerUnregister(Command[bool], frozen=True, forbid_unknown_fields=True):
    """End a handler's lease now; False when there was none."""

    cmd = "handler_unregister"
    no_face = APP_FACE
    site: Site
    prefix: Prefix


APP_ORDER = (SiteFiles, SiteRead, SiteWrite, SiteDelete, HandlerRegister, HandlerUnregister)
"""In the order docs/api.md lists them (``commands.ALL`` ends with them)."""
APP_COMMANDS = frozenset(APP_ORDER)
"""Commands the node runs (the sites thread and its verifier), not the torrent engine."""
