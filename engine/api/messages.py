"""The engine API's messages: what a request, a reply and a publication hold.

Frozen msgspec Structs, no behaviour: :mod:`.protocol` encodes and decodes them, the server
and the client build and read them. docs/api.md is their written form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

import msgspec

from ..events import Event, event_types
from ..state import (
    CategoryState,
    PartState,
    SessionStats,
    SiteState,
    Snapshot,
    TorrentState,
    TorState,
    WebState,
)

VERSION = b"tidegate/2"
"""First frame of every request and reply, second of every publication."""

TOPIC_DELTA = b"delta"
TOPIC_EVENT = b"event"
TOPIC_BEAT = b"beat"
TOPICS = (TOPIC_DELTA, TOPIC_EVENT, TOPIC_BEAT)


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: int
    """Chosen by the client; the reply carries the same id."""
    cmd: str
    args: dict[str, Any] = {}
    """Each argument's value (``msgspec.Raw`` when decoded by the daemon: only the
    command's own typed decoder reads it, so a frame of millions of values is refused at the
    first wrong one instead of being built as Python objects first)."""


class _Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The request as the daemon first reads it: argument values left as raw msgpack."""

    id: int
    cmd: str
    args: dict[str, msgspec.Raw] = {}


class _IdOnly(msgspec.Struct, frozen=True):
    """Just the id of a request that failed, if it has a readable one."""

    id: int | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    """Machine-readable kind (see ERROR_CODES)."""
    message: str
    """For people: what was wrong and where."""
    fields: dict[str, str] = {}
    """Extra attributes of the error (``torrent_id``, ``source``, ``reason``...)."""


class Reply(msgspec.Struct, frozen=True):
    id: int | None
    """The request's id; None when the request was too broken to read one."""
    ok: bool
    result: Any = None
    error: ErrorBody | None = None


class Hello(msgspec.Struct, frozen=True):
    """Reply to ``hello``: who answers and where it publishes."""

    protocol: str
    epoch: str
    """Random per daemon start: a new epoch means new event numbering."""
    pid: int
    publish: str
    """The PUB endpoint as bound (a client over tcp swaps in the host it dialled)."""
    snapshot_seq: int
    event_seq: int


# ---------------------------------------------------------------- publications

class Delta(msgspec.Struct, frozen=True):
    """What changed from snapshot ``base`` to snapshot ``seq``."""

    epoch: str
    seq: int
    base: int
    time: float
    changed: list[TorrentState]
    removed: list[str]
    stats: SessionStats
    running: bool
    sites: list[SiteState] | None = None
    """Every site when any changed since ``base``; None when none did."""
    web: WebState | None = None
    """The Smart Proxy's state when it changed since ``base``."""
    tor: TorState | None = None
    """Tor's state (and the onion services) when it changed since ``base``."""
    categories: list[CategoryState] | None = None
    """Every category when any changed since ``base``; None when none did."""
    parts: list[PartState] | None = None
    """Every supervised part when any changed since ``base``; None when none did."""


class FullSnapshot(msgspec.Struct, frozen=True):
    """Reply to ``snapshot``: the state every later :class:`Delta` builds on."""

    epoch: str
    snapshot: Snapshot
    event_seq: int
    """The last event published before this snapshot."""


if TYPE_CHECKING:
    AnyEvent = Event
else:
    AnyEvent = Union[event_types()]  # noqa: UP007 - a tagged union msgspec decodes by tag


class EventFrame(msgspec.Struct, frozen=True):
    epoch: str
    event: AnyEvent


class Beat(msgspec.Struct, frozen=True):
    """Published every second: liveness, and the newest seqs to detect loss."""

    epoch: str
    snapshot_seq: int
    event_seq: int
