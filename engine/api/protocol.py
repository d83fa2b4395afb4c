"""The engine API's wire protocol, sans-IO: bytes in, typed values out.

Nothing here opens a socket. The server and the client both use these
functions, so a frame means the same thing on both sides; docs/api.md is the
written form of this module.

Framing (ZeroMQ multipart messages, every body msgpack):

* request, client DEALER -> daemon ROUTER: ``[VERSION, Request]``
* reply, daemon -> client: ``[VERSION, Reply]``
* publication, daemon PUB -> client SUB: ``[topic, VERSION, body]`` with topic
  ``delta`` (:class:`Delta`), ``event`` (:class:`EventFrame`) or ``beat`` (:class:`Beat`).

msgpack was chosen by measurement (docs/api.md): as fast as msgspec's JSON,
20% smaller, and bytes (.torrent files, piece maps) travel as they are.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Union

import msgspec

from .. import errors
from ..chain.errors import ChainRejected
from ..config import Config
from ..events import Event, event_types
from ..requests import (
    MAX_FILES,
    MAX_URLS,
    AddRequest,
    FileIndex,
    Priority,
    Rate,
    Ratio,
    SeedTime,
)
from ..safetext import shorten
from ..state import (
    ChainEntryInfo,
    OnionReply,
    SessionStats,
    SiteReport,
    SiteState,
    Snapshot,
    TorrentDetails,
    TorrentState,
    TorState,
    WebState,
    enc_hook,
)
from .numbers import allowed_range

VERSION = b"tidegate/1"
"""First frame of every request and reply, second of every publication."""

TOPIC_DELTA = b"delta"
TOPIC_EVENT = b"event"
TOPIC_BEAT = b"beat"
TOPICS = (TOPIC_DELTA, TOPIC_EVENT, TOPIC_BEAT)


# ---------------------------------------------------------------- requests / replies

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


# ---------------------------------------------------------------- command arguments

class _Args(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class NoArgs(_Args, frozen=True, forbid_unknown_fields=True):
    pass


class IdArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str


class AddArgs(_Args, frozen=True, forbid_unknown_fields=True):
    request: AddRequest


class RemoveArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    delete_data: bool = False
    force: bool = False


class MoveArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    folder: str


# Every number an argument carries has a declared finite range (engine/requests.py): the
# decoder refuses NaN, infinities and values out of range, naming the argument, before
# the engine sees them (tests/test_api_bounds.py checks that no numeric field lacks one).

class LimitArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    down: Rate | None = None
    up: Rate | None = None


class GlobalLimitArgs(_Args, frozen=True, forbid_unknown_fields=True):
    down: Rate | None = None
    up: Rate | None = None


class ShareLimitArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    ratio: Ratio | None = None
    seed_time: SeedTime | None = None


class PriorityArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    priorities: Annotated[dict[FileIndex, Priority], msgspec.Meta(max_length=MAX_FILES)]


class QueueMoveArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    where: str


class SequentialArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    on: bool


class UrlsArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    urls: Annotated[list[str], msgspec.Meta(max_length=MAX_URLS)]


class PeersArgs(_Args, frozen=True, forbid_unknown_fields=True):
    torrent_id: str
    peers: Annotated[list[str], msgspec.Meta(max_length=MAX_URLS)]


class ConfigArgs(_Args, frozen=True, forbid_unknown_fields=True):
    config: Config


class SiteNewArgs(_Args, frozen=True, forbid_unknown_fields=True):
    name: str
    folder: str | None = None


class SiteImportArgs(_Args, frozen=True, forbid_unknown_fields=True):
    name: str
    key: str
    """The text of the site's key file."""
    folder: str | None = None


class SitePublishArgs(_Args, frozen=True, forbid_unknown_fields=True):
    site: str
    folder: str | None = None


class SiteArgs(_Args, frozen=True, forbid_unknown_fields=True):
    site: str


class SiteUnfollowArgs(_Args, frozen=True, forbid_unknown_fields=True):
    site: str
    delete_data: bool = False


class SiteOnionArgs(_Args, frozen=True, forbid_unknown_fields=True):
    site: str
    enabled: bool | None = None
    """Switch the onion service on or off (None: leave it)."""
    add_client: str = ""
    """Allow a client by this name (v3 client authorisation)."""
    client_key: str = ""
    """That client's base32 x25519 public key; empty: a key pair is made here."""
    remove_client: str = ""


class SiteVerifyArgs(_Args, frozen=True, forbid_unknown_fields=True):
    site: str
    rebuild: str | None = None


COMMANDS: dict[str, type[_Args]] = {
    "hello": NoArgs,
    "snapshot": NoArgs,
    "add": AddArgs,
    "pause": IdArgs,
    "resume": IdArgs,
    "remove": RemoveArgs,
    "recheck": IdArgs,
    "reannounce": IdArgs,
    "move": MoveArgs,
    "set_limits": LimitArgs,
    "set_global_limits": GlobalLimitArgs,
    "set_share_limits": ShareLimitArgs,
    "set_file_priorities": PriorityArgs,
    "set_sequential": SequentialArgs,
    "queue_move": QueueMoveArgs,
    "add_trackers": UrlsArgs,
    "remove_trackers": UrlsArgs,
    "add_peers": PeersArgs,
    "flush": IdArgs,
    "details": IdArgs,
    "save_resume_data": NoArgs,
    "session_settings": NoArgs,
    "apply_config": ConfigArgs,
    "site_new": SiteNewArgs,
    "site_import": SiteImportArgs,
    "site_publish": SitePublishArgs,
    "site_follow": SiteArgs,
    "site_unfollow": SiteUnfollowArgs,
    "site_check": SiteArgs,
    "site_list": NoArgs,
    "site_log": SiteArgs,
    "site_verify": SiteVerifyArgs,
    "site_onion": SiteOnionArgs,
    "shutdown": NoArgs,
}
"""Every command and the type of its arguments (docs/api.md lists them for people)."""

RESULT_TYPES: dict[str, Any] = {
    "hello": Hello,
    "snapshot": FullSnapshot,
    "add": str,
    "move": str,
    "reannounce": list[str],
    "details": TorrentDetails,
    "session_settings": dict[str, Any],
    "site_new": SiteState,
    "site_import": SiteState,
    "site_publish": SiteState,
    "site_follow": SiteState,
    "site_list": list[SiteState],
    "site_log": list[ChainEntryInfo],
    "site_verify": SiteReport,
    "site_onion": OnionReply,
}
"""Commands whose reply carries a value; every other command replies ``None``."""


# ---------------------------------------------------------------- errors

ERROR_CODES: dict[str, type[errors.TidegateError]] = {
    "unknown_torrent": errors.UnknownTorrentError,
    "duplicate_torrent": errors.DuplicateTorrentError,
    "unsafe_path": errors.UnsafePathError,
    "bad_torrent": errors.BadTorrentError,
    "bad_magnet": errors.BadMagnetError,
    "bad_input": errors.InputError,
    "bad_config": errors.ConfigError,
    "engine_stopped": errors.EngineStoppedError,
    "engine_locked": errors.EngineLockedError,
    "unknown_site": errors.UnknownSiteError,
    "site_torrent": errors.SiteTorrentError,
    "site_error": errors.SiteError,
    "chain_rejected": ChainRejected,
    "engine_error": errors.EngineError,
    "create_error": errors.CreateError,
    "error": errors.TidegateError,
    # protocol faults: the request itself was refused
    "bad_version": errors.ProtocolError,
    "bad_frame": errors.ProtocolError,
    "bad_request": errors.ProtocolError,
    "bad_args": errors.ProtocolError,
    "unknown_command": errors.ProtocolError,
    "too_large": errors.ProtocolError,
    "busy": errors.ProtocolError,
    "internal": errors.ProtocolError,
}
"""Error code on the wire -> the exception the client raises (the in-process one)."""

_FIELDS = ("torrent_id", "source", "reason", "path", "key", "site")

_ATTRIBUTES: tuple[tuple[type[errors.TidegateError], tuple[str, ...]], ...] = (
    (errors.UnknownTorrentError, ("torrent_id",)),
    (errors.DuplicateTorrentError, ("torrent_id",)),
    (errors.SiteTorrentError, ("torrent_id", "site")),
    (errors.InputError, ("source", "reason")),
    (errors.ConfigError, ("path", "key")),
    (errors.SiteError, ("site",)),
    (ChainRejected, ("reason",)),
)
"""The attributes each exception class carries (None is a value too)."""


def error_body(exc: BaseException) -> ErrorBody:
    """The wire form of an exception raised by an engine command."""
    if isinstance(exc, errors.ProtocolError):
        return ErrorBody(exc.code, str(exc))
    code = "internal"
    for name, cls in ERROR_CODES.items():
        if type(exc) is cls:
            code = name
            break
    else:
        for name, cls in ERROR_CODES.items():
            if isinstance(exc, cls) and cls is not errors.ProtocolError:
                code = name
                break
    fields = {f: str(getattr(exc, f)) for f in _FIELDS if getattr(exc, f, None) is not None}
    message = str(exc) if code != "internal" else f"internal error: {exc!r}"
    return ErrorBody(code, message, fields)


def error_from_body(body: ErrorBody) -> errors.TidegateError:
    """The exception a remote error stands for, with the daemon's message intact."""
    cls = ERROR_CODES.get(body.code, errors.TidegateError)
    if cls is errors.ProtocolError:
        return errors.ProtocolError(body.message, body.code)
    exc = cls.__new__(cls)
    Exception.__init__(exc, body.message)
    for kind, names in _ATTRIBUTES:
        if issubclass(cls, kind):
            for name in names:
                setattr(exc, name, body.fields.get(name))
    return exc


def protocol_error(code: str, message: str, req_id: int | None = None) -> Reply:
    return Reply(req_id, False, error=ErrorBody(code, message))


# ---------------------------------------------------------------- codec

_encoder = msgspec.msgpack.Encoder(enc_hook=enc_hook)
encode: Callable[[Any], bytes] = _encoder.encode

_request_decoder = msgspec.msgpack.Decoder(_Envelope)
_id_decoder = msgspec.msgpack.Decoder(_IdOnly)
_reply_decoder = msgspec.msgpack.Decoder(Reply)
_delta_decoder = msgspec.msgpack.Decoder(Delta)
_event_decoder = msgspec.msgpack.Decoder(EventFrame)
_beat_decoder = msgspec.msgpack.Decoder(Beat)

MAX_ID = 2**63 - 1


class Decoded(msgspec.Struct, frozen=True):
    """A request that passed every check: the command and its typed arguments."""

    id: int
    cmd: str
    args: Any


def parse_request(frames: list[bytes], max_size: int) -> Decoded | Reply:
    """Check one request message; returns it typed, or the error reply to send.

    ``frames`` excludes the ROUTER's identity frame.
    """
    if len(frames) != 2:
        return protocol_error("bad_frame", f"a request is 2 frames [version, body], got "
                                           f"{len(frames)}")
    version, body = frames
    if version != VERSION:
        shown = version[:40].decode("ascii", "replace")
        return protocol_error("bad_version", f"protocol {shown!r} is not supported; this "
                                             f"daemon speaks {VERSION.decode()}")
    if len(body) > max_size:
        return protocol_error("too_large", f"request of {len(body)} bytes exceeds the limit of "
                                           f"{max_size} bytes")
    try:
        req = _request_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return protocol_error("bad_request", f"request body is not a valid msgpack request "
                                             f"{{id, cmd, args}}: {shorten(str(exc), 300)}",
                              _readable_id(body))
    except RecursionError:
        return protocol_error("bad_request", "request body is nested too deeply")
    if not 0 <= req.id <= MAX_ID:
        return protocol_error("bad_request", "request id must be between 0 and 2**63-1")
    args_type = COMMANDS.get(req.cmd)
    if args_type is None:
        return protocol_error("unknown_command", f"unknown command {req.cmd[:64]!r}; known: "
                                                 f"{', '.join(COMMANDS)}", req.id)
    try:
        args = _decode_args(args_type, _as_map(req.args))
    except msgspec.ValidationError as exc:
        message = f"{req.cmd}: {shorten(_args_path(exc), 300)}"
        allowed = allowed_range(args_type, message)
        if allowed:
            # a number out of its range: the InputError the in-process engine raises
            return Reply(req.id, False, error=ErrorBody(
                "bad_input", message + allowed, {"reason": message + allowed}))
        return protocol_error("bad_args", message, req.id)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return protocol_error("bad_request", f"request body is not a valid msgpack request "
                                             f"{{id, cmd, args}}: {shorten(str(exc), 300)}",
                              req.id)
    except RecursionError:
        return protocol_error("bad_request", "request body is nested too deeply", req.id)
    return Decoded(req.id, req.cmd, args)


class _WireAddRequest(AddRequest, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """:class:`AddRequest` as it arrives: ``torrent`` may be msgpack bin or a base64 str
    (docs/api.md), which one msgspec type cannot say, so it is read on its own."""

    torrent: msgspec.Raw = msgspec.Raw(b"\xc0")


class _WireAddArgs(_Args, frozen=True, forbid_unknown_fields=True):
    request: _WireAddRequest


_args_decoders: dict[type[_Args], msgspec.msgpack.Decoder[Any]] = {
    t: msgspec.msgpack.Decoder(_WireAddArgs if t is AddArgs else t)
    for t in set(COMMANDS.values())}
_bytes_decoder = msgspec.msgpack.Decoder(bytes | None)
_str_decoder = msgspec.msgpack.Decoder(str)


def _decode_args(args_type: type[_Args], data: bytes) -> _Args:
    """The typed arguments in ``data`` (a msgpack map), checked strictly."""
    args = _args_decoders[args_type].decode(data)
    if not isinstance(args, _WireAddArgs):
        return args
    wire = args.request
    try:
        torrent = _bytes_decoder.decode(wire.torrent)
    except msgspec.ValidationError as exc:
        try:
            text = _str_decoder.decode(wire.torrent)
        except msgspec.ValidationError:
            raise msgspec.ValidationError(f"{str(exc).partition(' - at ')[0]} (or a base64 "
                                          "`str`) - at `$.request.torrent`") from None
        try:
            torrent = base64.b64decode(text, validate=True)
        except ValueError:
            raise msgspec.ValidationError("Invalid base64 encoded string - at "
                                          "`$.request.torrent`") from None
    fields = {f: getattr(wire, f) for f in wire.__struct_fields__}
    fields["torrent"] = torrent
    return AddArgs(AddRequest(**fields))


def _as_map(args: dict[str, msgspec.Raw]) -> bytes:
    """The msgpack map of ``args`` again (its raw values are slices of the request)."""
    n = len(args)
    head = bytes([0x80 | n]) if n < 16 else (b"\xde" + n.to_bytes(2, "big") if n < 65536
                                             else b"\xdf" + n.to_bytes(4, "big"))
    parts: list[Any] = [head]
    for key, value in args.items():
        parts += [_encoder.encode(key), value]
    return b"".join(parts)


def _readable_id(body: bytes) -> int | None:
    """The id of a request that failed validation, when one can still be read (the rest
    of the body is skipped, not decoded)."""
    try:
        rid = _id_decoder.decode(body).id
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return None
    return rid if type(rid) is int and 0 <= rid <= MAX_ID else None


def _args_path(exc: msgspec.ValidationError) -> str:
    return str(exc).replace("`$.", "`args.").replace("`$`", "`args`")


def encode_request(req_id: int, cmd: str, args: dict[str, Any]) -> list[bytes]:
    return [VERSION, encode(Request(req_id, cmd, args))]


def encode_reply(reply: Reply) -> list[bytes]:
    return [VERSION, encode(reply)]


def parse_reply(frames: list[bytes]) -> Reply:
    """A reply from the daemon; raises ProtocolError for anything else."""
    if len(frames) != 2 or frames[0] != VERSION:
        raise errors.ProtocolError(f"the daemon answered with an unexpected frame "
                                   f"({len(frames)} frames, version {frames[0][:40]!r}); is "
                                   "it another tidegate version?", "bad_version")
    try:
        return _reply_decoder.decode(frames[1])
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.ProtocolError(f"unreadable reply from the daemon: "
                                   f"{shorten(str(exc) or type(exc).__name__, 300)}") from None


def result_of(cmd: str, reply: Reply) -> Any:
    """The typed result of a successful reply, or raise the error it carries."""
    if not reply.ok:
        raise error_from_body(reply.error or ErrorBody("internal", "error without a body"))
    kind = RESULT_TYPES.get(cmd)
    if kind is None:
        return None
    try:
        return msgspec.convert(reply.result, kind)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise errors.ProtocolError(f"reply to {cmd} does not match the protocol: "
                                   f"{shorten(str(exc) or type(exc).__name__, 300)}") from None


Publication = Delta | EventFrame | Beat


def encode_publication(topic: bytes, body: Any) -> list[bytes]:
    return [topic, VERSION, encode(body)]


def parse_publication(frames: list[bytes]) -> Publication:
    """One PUB message; raises ProtocolError if it is not ours or not this version."""
    if len(frames) != 3 or frames[1] != VERSION:
        raise errors.ProtocolError("publication of another protocol version", "bad_version")
    topic, _, body = frames
    try:
        if topic == TOPIC_DELTA:
            return _delta_decoder.decode(body)
        if topic == TOPIC_EVENT:
            return _event_decoder.decode(body)
        if topic == TOPIC_BEAT:
            return _beat_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.ProtocolError(f"unreadable {topic!r} publication: "
                                   f"{shorten(str(exc) or type(exc).__name__, 300)}") from None
    raise errors.ProtocolError(f"unknown topic {topic[:32]!r}", "bad_frame")


def diff(old: Snapshot, new: Snapshot, epoch: str) -> Delta:
    """The delta from ``old`` to ``new``; cost follows what changed.

    The engine keeps an unchanged torrent as the same object between snapshots,
    so a changed one is found by identity, without comparing values.
    """
    sites = None if old.sites is new.sites else list(new.sites.values())
    web = None if old.web == new.web else new.web
    tor = None if old.tor == new.tor else new.tor
    before = old.torrents
    if before is new.torrents:
        return Delta(epoch, new.seq, old.seq, new.time, [], [], new.stats, new.running, sites,
                     web, tor)
    changed = [t for tid, t in new.torrents.items() if before.get(tid) is not t]
    removed = [tid for tid in before if tid not in new.torrents]
    return Delta(epoch, new.seq, old.seq, new.time, changed, removed, new.stats, new.running,
                 sites, web, tor)


def apply(snapshot: Snapshot, delta: Delta) -> dict[str, TorrentState]:
    """The torrents of ``snapshot`` with ``delta`` applied (a new dict)."""
    torrents = dict(snapshot.torrents)
    for tid in delta.removed:
        torrents.pop(tid, None)
    for t in delta.changed:
        torrents[t.id] = t
    return torrents

