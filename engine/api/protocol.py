"""The engine API's wire protocol, sans-IO: bytes in, typed values out.

Nothing here opens a socket. The server and the client both use these functions, so a
frame means the same thing on both sides; docs/api.md is the written form.

The protocol's ideas live in one module each: the messages (:mod:`.messages`), errors on
the wire (:mod:`.wire_errors`), snapshot deltas (:mod:`.delta`); this module is the codec
and the command table, and re-exports the others' names for callers that speak the whole
protocol (``from tidegate.engine.api import protocol as p``).

Framing (ZeroMQ multipart messages, every body msgpack):

* request, client DEALER -> daemon ROUTER: ``[VERSION, Request]``
* reply, daemon -> client: ``[VERSION, Reply]``
* publication, daemon PUB -> client SUB: ``[topic, VERSION, body]`` with topic
  ``delta`` (:class:`Delta`), ``event`` (:class:`EventFrame`) or ``beat`` (:class:`Beat`).

The command table is :mod:`engine.commands`: a request's ``cmd`` is the tag that names the
command Struct its ``args`` decode into (plus ``hello``, ``snapshot`` and ``shutdown``, the
server's own). msgpack was chosen by measurement (docs/api.md): as fast as msgspec's JSON,
20% smaller, and bytes (.torrent files, piece maps) travel as they are.
"""

from __future__ import annotations

import base64
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from .. import commands, errors
from ..commands import Command
from ..requests import AddRequest
from ..safetext import shorten
from ..state import enc_hook
from .delta import apply, diff
from .messages import (
    TOPIC_BEAT,
    TOPIC_DELTA,
    TOPIC_EVENT,
    TOPICS,
    VERSION,
    AnyEvent,
    Beat,
    Delta,
    ErrorBody,
    EventFrame,
    FullSnapshot,
    Hello,
    Reply,
    Request,
    _Envelope,
    _IdOnly,
)
from .numbers import allowed_range
from .wire_errors import ERROR_CODES, error_body, error_from_body, protocol_error

__all__ = [
    "COMMANDS", "ERROR_CODES", "RESULT_TYPES", "TOPICS", "TOPIC_BEAT", "TOPIC_DELTA",
    "TOPIC_EVENT", "VERSION", "AnyEvent", "Beat", "Decoded", "Delta", "ErrorBody",
    "EventFrame", "FullSnapshot", "Hello", "NoArgs", "Publication", "Reply", "Request",
    "apply", "diff", "encode", "encode_publication", "encode_reply", "encode_request",
    "error_body", "error_from_body", "parse_publication", "parse_reply", "parse_request",
    "protocol_error", "result_of",
]


# ---------------------------------------------------------------- the command table

class NoArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Arguments of the server's own requests: none."""


SERVER_REQUESTS = ("hello", "snapshot", "shutdown")
"""Requests the server answers itself; every other is an engine command."""

COMMANDS: dict[str, type[msgspec.Struct]] = {
    "hello": NoArgs, "snapshot": NoArgs,
    **{c.cmd: c for c in commands.ALL},
    "shutdown": NoArgs,
}
"""Every request and the Struct its arguments decode into (docs/api.md lists them)."""

RESULT_TYPES: dict[str, Any] = {
    "hello": Hello,
    "snapshot": FullSnapshot,
    **{c.cmd: commands.result_type(c) for c in commands.ALL},
}
"""The type of each request's result (``None`` for most commands)."""


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
    """A request that passed every check: its name and its typed arguments (for an engine
    command, the :class:`~engine.commands.Command` to run)."""

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


class _WireAdd(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    request: _WireAddRequest


def _bytes_fields(t: type[msgspec.Struct]) -> tuple[str, ...]:
    """The command's own ``bytes`` fields (``Annotated`` or not): each read as bin or a
    base64 ``str`` (docs/api.md), like ``AddRequest.torrent``."""
    out = []
    for f in msgspec.structs.fields(t):
        base = typing.get_args(f.type)[0] if typing.get_origin(f.type) is typing.Annotated \
            else f.type
        if base is bytes:
            out.append(f.name)
    return tuple(out)


def _wire_type(t: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """What a command's arguments decode into off the wire: its bytes fields kept raw."""
    if t is commands.Add:
        return _WireAdd
    names = _bytes_fields(t)
    if not names:
        return t
    fields: list[Any] = []
    for f in msgspec.structs.fields(t):
        kind = msgspec.Raw if f.name in names else f.type
        if f.required:  # still required: a missing field is named as missing
            fields.append((f.name, kind))
        else:
            default = msgspec.Raw(b"\xc0") if f.name in names else (
                f.default if f.default_factory is msgspec.NODEFAULT
                else msgspec.field(default_factory=f.default_factory))
            fields.append((f.name, kind, default))
    return msgspec.defstruct(f"_Wire{t.__name__}", fields, frozen=True,
                             forbid_unknown_fields=True)


_wire_types = {t: _wire_type(t) for t in set(COMMANDS.values())}
_args_decoders: dict[type[msgspec.Struct], msgspec.msgpack.Decoder[Any]] = {
    t: msgspec.msgpack.Decoder(w) for t, w in _wire_types.items()}
_bytes_decoder = msgspec.msgpack.Decoder(bytes)
_bytes_or_nil_decoder = msgspec.msgpack.Decoder(bytes | None)
_str_decoder = msgspec.msgpack.Decoder(str)


def _bin_or_base64(raw: msgspec.Raw, where: str, nil: bool = False) -> bytes | None:
    try:
        return (_bytes_or_nil_decoder if nil else _bytes_decoder).decode(raw)
    except msgspec.ValidationError as exc:
        try:
            text = _str_decoder.decode(raw)
        except msgspec.ValidationError:
            raise msgspec.ValidationError(f"{str(exc).partition(' - at ')[0]} (or a base64 "
                                          f"`str`) - at `$.{where}`") from None
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            raise msgspec.ValidationError("Invalid base64 encoded string - at "
                                          f"`$.{where}`") from None


def _decode_args(args_type: type[msgspec.Struct], data: bytes) -> msgspec.Struct:
    """The typed arguments in ``data`` (a msgpack map), checked strictly: for an engine
    command, the command itself."""
    args = _args_decoders[args_type].decode(data)
    if isinstance(args, _WireAdd):
        wire = args.request
        fields = {f: getattr(wire, f) for f in wire.__struct_fields__}
        fields["torrent"] = _bin_or_base64(wire.torrent, "request.torrent", nil=True)
        return commands.Add(AddRequest(**fields))
    if type(args) is args_type:
        return args
    values = {f: getattr(args, f) for f in args.__struct_fields__}
    for name in _bytes_fields(args_type):
        values[name] = _bin_or_base64(values[name], name)
    # convert checks the bytes fields' own constraints (a length bound) as decoding would
    return msgspec.convert(values, args_type)


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


def command_args(cmd: Command[Any]) -> dict[str, Any]:
    """A command's arguments as a request carries them (``args``)."""
    return {f: getattr(cmd, f) for f in cmd.__struct_fields__}


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
