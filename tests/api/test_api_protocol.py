"""The engine API's wire protocol (engine/api/protocol.py), without sockets.

Every way a request can be malformed gets its own error code and a message that
names the fault; every error code survives the trip to the client as the same
exception; deltas rebuild snapshots exactly; publications decode to what was sent.
docs/api.md is the written form of what these tests pin down.
"""

from __future__ import annotations

import random
import types
import typing
from types import MappingProxyType
from typing import Any

import msgspec
import pytest

from tidegate.engine import commands as cmds
from tidegate.engine import errors
from tidegate.engine.api import protocol as p
from tidegate.engine.chain.errors import ChainRejected
from tidegate.engine.events import (
    DaemonConnection,
    Event,
    EventsLost,
    Log,
    MetadataReceived,
    PartFailed,
    PartRestarted,
    PeerBanned,
    PieceFailed,
    ResumeDataError,
    ShareLimitReached,
    SiteChanged,
    SiteHosted,
    SiteProgress,
    SiteRefused,
    SiteUpdated,
    StorageMoved,
    StorageMoveFailed,
    TorrentAdded,
    TorrentChecked,
    TorrentCompleted,
    TorrentErrored,
    TorrentPaused,
    TorrentRemoved,
    TorrentResumed,
    TrackerError,
    event_types,
)
from tidegate.engine.state import (
    FileState,
    PeerState,
    Phase,
    SessionStats,
    Snapshot,
    TorrentDetails,
    TorrentState,
    TrackerState,
)

pytestmark = pytest.mark.timeout(60)

LIMIT = 4096
"""max_size handed to parse_request in these tests."""


def pack(value: Any) -> bytes:
    return msgspec.msgpack.encode(value)


def parse(body: bytes, max_size: int = LIMIT) -> p.Decoded | p.Reply:
    return p.parse_request([p.VERSION, body], max_size)


def refused(result: p.Decoded | p.Reply) -> p.ErrorBody:
    """The error of a refused request (fails the test if it was accepted)."""
    assert isinstance(result, p.Reply), f"accepted, expected a refusal: {result!r}"
    assert result.ok is False and result.result is None
    assert result.error is not None
    assert result.error.code in p.ERROR_CODES
    return result.error


def request(cmd: str, args: Any = None, req_id: int = 7, **extra: Any) -> bytes:
    body: dict[str, Any] = {"id": req_id, "cmd": cmd, **extra}
    if args is not None:
        body["args"] = args
    return pack(body)


# ---------------------------------------------------------------- valid requests

TID = "ab" * 20

VALID_ARGS: dict[str, dict[str, Any]] = {
    "hello": {},
    "snapshot": {},
    "add": {"request": {"uri": TID, "paused": True, "torrent": b"d4:infod...ee",
                        "file_priorities": [1, 4, 7], "trackers": ["udp://t:1"]}},
    "pause": {"torrent_id": TID},
    "resume": {"torrent_id": TID},
    "remove": {"torrent_id": TID, "delete_data": True},
    "recheck": {"torrent_id": TID},
    "reannounce": {"torrent_id": TID},
    "move": {"torrent_id": TID, "folder": "/srv/data"},
    "set_limits": {"torrent_id": TID, "down": 1000, "up": None},
    "set_global_limits": {"down": 0, "up": 5000},
    "set_share_limits": {"torrent_id": TID, "ratio": 1.5, "seed_time": 3600},
    "set_file_priorities": {"torrent_id": TID, "priorities": {0: 7, 3: 0}},
    "set_sequential": {"torrent_id": TID, "on": True},
    "queue_move": {"torrent_id": TID, "where": "top"},
    "add_trackers": {"torrent_id": TID, "urls": ["http://tracker/announce"]},
    "remove_trackers": {"torrent_id": TID, "urls": []},
    "add_peers": {"torrent_id": TID, "peers": ["127.0.0.1:6881", "[::1]:6881"]},
    "flush": {"torrent_id": TID},
    "details": {"torrent_id": TID},
    "save_resume_data": {},
    "session_settings": {},
    "apply_config": {"config": {"rates": {"download": 100}}},
    "category_add": {"name": "tv/hd", "save_path": "/srv/tv"},
    "category_remove": {"names": ["tv", "films"]},
    "set_category": {"ids": [TID], "category": "tv"},
    "add_tags": {"ids": [TID], "tags": ["x", "y"]},
    "remove_tags": {"ids": [TID], "tags": []},
    "site_new": {"name": "blog", "folder": "/srv/www"},
    "site_import": {"name": "blog", "key": "tidegate-site-key-v1 AAAA", "folder": None},
    "site_publish": {"site": "blog", "folder": None},
    "site_follow": {"address": "a" * 56 + ".onion"},
    "site_unfollow": {"site": "blog", "delete_data": True},
    "site_check": {"site": "blog"},
    "site_list": {},
    "watch_list": {},
    "site_log": {"site": "blog"},
    "site_verify": {"site": "blog", "rebuild": "/srv/www"},
    "site_onion": {"site": "blog", "enabled": True, "add_client": "alice",
                   "client_key": "", "remove_client": "bob"},
    "rss_feed_add": {"url": "https://example.org/feed.xml", "interval": 600.0},
    "rss_feed_remove": {"url": "https://example.org/feed.xml"},
    "rss_rule_set": {"name": "shows", "include": "show", "exclude": "cam",
                     "episodes": "1x01-1x10;2x-", "feeds": ["https://example.org/feed.xml"],
                     "category": "tv", "save_path": "/srv/tv", "enabled": False},
    "rss_rule_remove": {"name": "shows"},
    "rss_list": {},
    "rss_refresh": {"url": ""},
    "set_alt_speed": {"on": True},
    "torrent_read": {"torrent_id": TID, "file_index": 2, "offset": 1 << 40, "length": 1 << 20},
    "site_files": {"site": "blog", "start": 5000},
    "site_read": {"site": "blog", "path": "img/a.png", "offset": 10, "length": 1 << 20},
    "site_write": {"site": "blog", "path": "a.txt", "data": b"\x00\xff", "offset": None,
                   "truncate": True},
    "site_delete": {"site": "blog", "path": "a.txt"},
    "handler_register": {"site": "blog", "prefix": "/app/", "target": "http://127.0.0.1:8080",
                         "ttl": 30.0},
    "handler_unregister": {"site": "blog", "prefix": "/app/"},
    "comment_post": {"url": "https://example.org/post", "text": "hello",
                     "parent": "ab" * 32},
    "comment_list": {"url": "https://example.org/post"},
    "comment_import": {"records": ['{"event": {}}']},
    "comment_export": {"url": "https://example.org/post"},
    "comment_status": {},
    "comment_peers": {},
    "shutdown": {},
}


def test_every_command_has_valid_example_args() -> None:
    assert set(VALID_ARGS) == set(p.COMMANDS)


@pytest.mark.parametrize("cmd", list(p.COMMANDS))
def test_a_valid_request_decodes_to_its_typed_args(cmd: str) -> None:
    result = parse(request(cmd, VALID_ARGS[cmd], req_id=41))
    assert isinstance(result, p.Decoded), result
    assert (result.id, result.cmd) == (41, cmd)
    assert type(result.args) is p.COMMANDS[cmd]
    for name, value in VALID_ARGS[cmd].items():
        got = getattr(result.args, name)
        if isinstance(value, dict) and not isinstance(got, dict):
            got = msgspec.msgpack.decode(p.encode(got))  # a nested struct: as sent
            assert _within(value, got), (value, got)
        else:
            assert got == value


def _within(sent: dict[str, Any], got: dict[str, Any]) -> bool:
    """True if every key sent has its value in ``got`` (nested maps compared the same way)."""
    return all(_within(v, got[k]) if isinstance(v, dict) else got[k] == v
               for k, v in sent.items())


def test_args_may_be_left_out_when_a_command_takes_none() -> None:
    result = parse(pack({"id": 1, "cmd": "hello"}))
    assert isinstance(result, p.Decoded) and result.args == p.NoArgs()


def test_optional_args_take_their_defaults() -> None:
    result = parse(request("remove", {"torrent_id": TID}))
    assert isinstance(result, p.Decoded)
    assert result.args == cmds.Remove(torrent_id=TID, delete_data=False)
    result = parse(request("set_limits", {"torrent_id": TID}))
    assert isinstance(result, p.Decoded)
    assert (result.args.down, result.args.up) == (None, None)


def test_encode_request_is_what_parse_request_reads() -> None:
    frames = p.encode_request(99, "set_sequential", {"torrent_id": TID, "on": False})
    assert frames[0] == p.VERSION == b"tidegate/2"
    result = p.parse_request(frames, LIMIT)
    assert result == p.Decoded(99, "set_sequential", cmds.SetSequential(torrent_id=TID, on=False))


def test_bytes_travel_as_msgpack_bin() -> None:
    raw = bytes(range(256))
    result = parse(request("add", {"request": {"torrent": raw}}))
    assert isinstance(result, p.Decoded) and result.args.request.torrent == raw


def test_id_bounds_are_inclusive() -> None:
    for rid in (0, p.MAX_ID):
        result = parse(request("hello", req_id=rid))
        assert isinstance(result, p.Decoded) and result.id == rid


# ---------------------------------------------------------------- malformed requests

@pytest.mark.parametrize("frames", [[], [p.VERSION], [p.VERSION, b"", b""],
                                    [p.VERSION, pack({"id": 1, "cmd": "hello"}), b"x", b"y"]])
def test_wrong_frame_count_is_bad_frame(frames: list[bytes]) -> None:
    err = refused(p.parse_request(frames, LIMIT))
    assert err.code == "bad_frame"
    assert f"got {len(frames)}" in err.message and "2 frames" in err.message


@pytest.mark.parametrize("version", [b"tidegate/1", b"tidegate/3", b"", b"TIDEGATE/2",
                                     p.VERSION + b"\0", b"\xff\xfe" * 50])
def test_other_version_is_bad_version(version: bytes) -> None:
    result = p.parse_request([version, pack({"id": 1, "cmd": "hello"})], LIMIT)
    err = refused(result)
    assert isinstance(result, p.Reply) and result.id is None
    assert err.code == "bad_version"
    assert "tidegate/2" in err.message
    shown = version[:40].decode("ascii", "replace")
    assert repr(shown) in err.message  # the version received, cut to 40 bytes
    assert len(err.message) < 200


def test_version_is_checked_before_size() -> None:
    err = refused(p.parse_request([b"tidegate/9", b"x" * (LIMIT + 1)], LIMIT))
    assert err.code == "bad_version"


def test_oversized_body_is_too_large_and_the_limit_is_inclusive() -> None:
    err = refused(parse(b"\x00" * (LIMIT + 1)))
    assert err.code == "too_large"
    assert f"{LIMIT + 1} bytes" in err.message and f"limit of {LIMIT} bytes" in err.message
    # exactly at the limit the body is read (and found not to be msgpack)
    err = refused(parse(b"\xc1" + b"\x00" * (LIMIT - 1)))
    assert err.code == "bad_request"


@pytest.mark.parametrize("body, words", [
    (b"", ["not a valid msgpack request"]),
    (b"\xc1", ["not a valid msgpack request", "malformed"]),
    (b"\x83\xa2id", ["not a valid msgpack request"]),
    (pack({"id": 1, "cmd": "hello"}) + b"\x00", ["not a valid msgpack request"]),
    (pack([1, "hello", {}]), ["Expected `object`, got `array`"]),
    (pack("hello"), ["Expected `object`, got `str`"]),
    (pack(None), ["Expected `object`, got `None`"]),
])
def test_not_msgpack_or_not_a_map_is_bad_request(body: bytes, words: list[str]) -> None:
    result = parse(body)
    err = refused(result)
    assert err.code == "bad_request"
    assert isinstance(result, p.Reply) and result.id is None
    for word in words:
        assert word in err.message


@pytest.mark.parametrize("body, words", [
    (pack({"cmd": "hello"}), ["missing required field `id`"]),
    (pack({"id": 3}), ["missing required field `cmd`"]),
    (pack({"id": "3", "cmd": "hello"}), ["Expected `int`, got `str`", "`$.id`"]),
    (pack({"id": 3.0, "cmd": "hello"}), ["Expected `int`, got `float`", "`$.id`"]),
    (pack({"id": True, "cmd": "hello"}), ["Expected `int`, got `bool`", "`$.id`"]),
    (pack({"id": None, "cmd": "hello"}), ["got `None`", "`$.id`"]),
    (pack({"id": 3, "cmd": 5}), ["Expected `str`, got `int`", "`$.cmd`"]),
    (pack({"id": 3, "cmd": b"hello"}), ["Expected `str`, got `bytes`", "`$.cmd`"]),
    (pack({"id": 3, "cmd": "hello", "args": [1]}), ["got `array`", "`$.args`"]),
    (pack({"id": 3, "cmd": "hello", "args": None}), ["got `None`", "`$.args`"]),
    (pack({"id": 3, "cmd": "hello", "args": {1: 2}}), ["Expected `str`", "`$.args`"]),
    (pack({"id": 3, "cmd": "hello", "token": "x"}), ["unknown field `token`"]),
])
def test_missing_or_mistyped_envelope_is_bad_request(body: bytes, words: list[str]) -> None:
    err = refused(parse(body))
    assert err.code == "bad_request"
    for word in words:
        assert word in err.message, err.message


@pytest.mark.parametrize("rid", [-1, -(2**63), p.MAX_ID + 1, 2**64 - 1])
def test_id_out_of_range_is_bad_request(rid: int) -> None:
    result = parse(request("hello", req_id=rid))
    err = refused(result)
    assert err.code == "bad_request"
    assert "between 0 and 2**63-1" in err.message
    assert isinstance(result, p.Reply) and result.id is None  # not echoed: it is not an id


@pytest.mark.parametrize("cmd", ["", "Hello", "hello ", "HELLO", "stop", "__class__",
                                 "snapshot\0", "añadir", "x" * 500])
def test_unknown_command_names_it_and_lists_the_known_ones(cmd: str) -> None:
    result = parse(request(cmd, {}, req_id=12))
    err = refused(result)
    assert err.code == "unknown_command"
    assert isinstance(result, p.Reply) and result.id == 12  # the id could be read: echoed
    assert repr(cmd[:64]) in err.message
    assert all(name in err.message for name in p.COMMANDS)
    # a 500-character name is cut (the list of commands grows with them)
    assert len(err.message) < 100 + 64 + len(", ".join(p.COMMANDS))


def _fields(cmd: str) -> list[msgspec.structs.FieldInfo]:
    return list(msgspec.structs.fields(p.COMMANDS[cmd]))


WRONG_BY_TYPE: dict[str, list[Any]] = {
    "str": [7, None, b"bytes", ["x"], {"x": 1}],
    "str | None": [7, b"bytes", ["x"], {"x": 1}, True],
    "bool": [1, 0, "true", None, 1.0],
    "bool | None": [1, 0, "true", 1.0, [True]],
    "int | None": [True, 1.5, "5", [1], {"a": 1}],
    "float | None": ["1.0", True, [1.0]],
    "float": ["1.0", True, [1.0], None],
    "int": ["5", True, 1.5, None, [1]],
    "bytes": ["not base64!", 5, None, [1, 2]],  # a base64 str is a bytes value
    "dict[int, int]": [{"0": 1}, {0: "7"}, {0: True}, [[0, 1]], None],
    "list[str]": ["http://a", [1], [None], None],
    "AddRequest": ["magnet:?", [], {"uri": 5}, {"paused": 1}, {"pasued": True}, None],
    "Config": [[], "x", {"nope": {}}, {"network": {"connections_limit": "x"}}],
}


def _plain(t: Any) -> str:
    """The type without its bounds (sizes, numeric ranges): the type is what counts."""
    origin = typing.get_origin(t)
    if origin is typing.Annotated:
        return _plain(typing.get_args(t)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_plain(a) for a in typing.get_args(t))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_plain(a) for a in typing.get_args(t))}]"
    return "None" if t is type(None) else str(t.__name__)


def _type_name(field: msgspec.structs.FieldInfo) -> str:
    return _plain(field.type)


WRONG_CASES = [(cmd, f.name, value)
               for cmd in p.COMMANDS for f in _fields(cmd)
               for value in WRONG_BY_TYPE[_type_name(f)]]


def test_every_arg_type_has_wrong_values() -> None:
    names = {_type_name(f) for cmd in p.COMMANDS for f in _fields(cmd)}
    assert names <= set(WRONG_BY_TYPE), names - set(WRONG_BY_TYPE)
    assert len(WRONG_CASES) > 100


@pytest.mark.parametrize("cmd, field, value", WRONG_CASES)
def test_a_mistyped_arg_is_bad_args_naming_its_path(cmd: str, field: str, value: Any) -> None:
    args = dict(VALID_ARGS[cmd], **{field: value})
    result = parse(request(cmd, args, req_id=77))
    err = refused(result)
    assert err.code == "bad_args", err
    assert isinstance(result, p.Reply) and result.id == 77
    assert err.message.startswith(f"{cmd}: ")
    assert f"`args.{field}" in err.message, err.message
    assert "`$" not in err.message  # the path is spelled from `args`, as the client sent it


def test_nested_paths_are_named_in_full() -> None:
    cases = [
        ("add", {"request": {"paused": 1}}, "`args.request.paused`"),
        ("add", {"request": {"file_priorities": [1, "7"]}}, "`args.request.file_priorities[1]`"),
        ("add", {"request": {"trackers": ["udp://a", 3]}}, "`args.request.trackers[1]`"),
        ("add", {"request": {"uri": TID, "nope": 1}}, "`args.request`"),
        ("apply_config", {"config": {"network": {"connections_limit": "x"}}},
         "`args.config.network.connections_limit`"),
        ("apply_config", {"config": {"network": {"nope": 1}}}, "`args.config.network`"),
        ("add_peers", {"torrent_id": TID, "peers": ["1.2.3.4:5", None]}, "`args.peers[1]`"),
        ("set_file_priorities", {"torrent_id": TID, "priorities": {"1": 7}},
         "`key` in `args.priorities`"),
    ]
    for cmd, args, path in cases:
        err = refused(parse(request(cmd, args)))
        assert err.code == "bad_args"
        assert path in err.message, (cmd, err.message)


@pytest.mark.parametrize("cmd", [c for c in p.COMMANDS
                                 if any(f.required for f in _fields(c))])
def test_a_missing_required_arg_is_bad_args_naming_it(cmd: str) -> None:
    required = [f.name for f in _fields(cmd) if f.required]
    args = {k: v for k, v in VALID_ARGS[cmd].items() if k != required[-1]}
    err = refused(parse(request(cmd, args)))
    assert err.code == "bad_args"
    assert f"missing required field `{required[-1]}`" in err.message


@pytest.mark.parametrize("cmd", list(p.COMMANDS))
def test_an_unknown_extra_arg_is_bad_args_naming_it(cmd: str) -> None:
    args = dict(VALID_ARGS[cmd], torrent_idd="typo")
    result = parse(request(cmd, args, req_id=5))
    err = refused(result)
    assert err.code == "bad_args"
    assert isinstance(result, p.Reply) and result.id == 5
    assert err.message == f"{cmd}: Object contains unknown field `torrent_idd`"


def test_types_are_strict_except_int_for_float() -> None:
    # an int where a float is expected is the one conversion made (msgpack has no 1.0 for 1)
    result = parse(request("set_share_limits", {"torrent_id": TID, "ratio": 2}))
    assert isinstance(result, p.Decoded) and result.args.ratio == 2.0
    assert isinstance(result.args.ratio, float)
    for cmd, args in [("set_limits", {"torrent_id": TID, "down": 2.0}),
                      ("set_sequential", {"torrent_id": TID, "on": 1}),
                      ("set_share_limits", {"torrent_id": TID, "seed_time": "60"})]:
        assert refused(parse(request(cmd, args))).code == "bad_args"


def test_an_unknown_field_inside_add_request_is_refused() -> None:
    # a typo must not be ignored: `pasued` would otherwise start the download
    err = refused(parse(request("add", {"request": {"uri": TID, "pasued": True}})))
    assert err.code == "bad_args"
    assert "unknown field `pasued`" in err.message and "`args.request`" in err.message


@pytest.mark.parametrize("body", [
    b"\x82\xa2id\x01\xa3cmd\xa3\xff\xfe\xfd",                      # cmd value
    b"\x82\xa2id\x01\xa3\xff\xfe\xfd\xa3abc",                      # a key
    b"\x83\xa2id\x01\xa3cmd\xa5pause\xa4args\x81\xaatorrent_id\xa2\xff\xfe",  # an arg value
])
def test_invalid_utf8_is_bad_request(body: bytes) -> None:
    result = parse(body)
    err = refused(result)
    assert err.code == "bad_request"
    # the id is readable (the rest of a failed body is skipped, not decoded), so it is echoed
    assert "utf-8" in err.message.lower() and isinstance(result, p.Reply) and result.id == 1


# ---------------------------------------------------------------- errors

def _instances() -> list[tuple[str, BaseException]]:
    e = errors
    return [
        ("unknown_torrent", e.UnknownTorrentError("c0ffee" * 6)),
        ("duplicate_torrent", e.DuplicateTorrentError("beef" * 10)),
        ("unsafe_path", e.UnsafePathError("evil.torrent", "escapes the download folder")),
        ("bad_torrent", e.BadTorrentError("x.torrent", "empty file")),
        ("bad_magnet", e.BadMagnetError("magnet:?xt=nope", "no info-hash")),
        ("unknown_category", e.UnknownCategoryError("tv")),
        ("bad_input", e.InputError("1.2.3.4", "not a peer address")),
        ("bad_config", e.ConfigError("must be at least 2", path="/etc/tg.toml",
                                     key="network.connections_limit")),
        ("engine_stopped", e.EngineStoppedError("the engine is not running")),
        ("engine_locked", e.EngineLockedError("held by pid 42")),
        ("unknown_site", e.UnknownSiteError("blog")),
        ("site_torrent", e.SiteTorrentError("ab" * 20, "site", "a" * 56 + ".onion", "blog",
                                            "snapshot 3")),
        ("site_error", e.SiteError("blog", "the key file is missing")),
        ("chain_rejected", ChainRejected("rollback", "announced head 1 is below 2")),
        ("engine_error", e.EngineError("libtorrent: invalid torrent handle used")),
        ("create_error", e.CreateError("empty folder")),
        ("error", e.TidegateError("something general")),
        *[(code, e.ProtocolError(f"refused: {code}", code)) for code in
          ("bad_version", "bad_frame", "bad_request", "bad_args", "unknown_command",
           "too_large", "busy", "internal")],
    ]


def test_every_error_code_is_covered() -> None:
    assert [code for code, _ in _instances()] == list(p.ERROR_CODES)


@pytest.mark.parametrize("code, exc", _instances(), ids=[c for c, _ in _instances()])
def test_error_codes_round_trip_over_the_wire(code: str, exc: BaseException) -> None:
    body = p.error_body(exc)
    assert body.code == code
    assert body.message == str(exc)
    # through the wire as the daemon sends it, and back as the client reads it
    reply = p.parse_reply(p.encode_reply(p.Reply(3, False, error=body)))
    assert reply.id == 3 and reply.ok is False and reply.error == body
    with pytest.raises(p.ERROR_CODES[code]) as caught:
        p.result_of("pause", reply)
    back = caught.value
    assert type(back) is p.ERROR_CODES[code] is type(exc)
    assert str(back) == str(exc)
    for name in ("torrent_id", "source", "reason", "path", "key", "code"):
        if getattr(exc, name, None) is not None:
            assert getattr(back, name) == getattr(exc, name), name


def test_fields_carry_the_attributes() -> None:
    body = p.error_body(errors.UnknownTorrentError("abc"))
    assert body.fields == {"torrent_id": "abc"}
    body = p.error_body(errors.BadMagnetError("magnet:?x", "bad"))
    assert body.fields == {"source": "magnet:?x", "reason": "bad"}
    body = p.error_body(errors.ConfigError("m", key="api.endpoint"))
    assert body.fields == {"key": "api.endpoint"}
    assert p.error_body(errors.ProtocolError("m", "busy")).fields == {}


def test_a_subclass_maps_to_its_nearest_listed_class() -> None:
    class Shaky(errors.InputError):
        pass

    class Shakier(errors.UnknownTorrentError):
        pass

    assert p.error_body(Shaky("x", "y")).code == "bad_input"
    assert p.error_body(Shakier("ab")).code == "unknown_torrent"
    # classes the table does not list fall back to the root, not to "internal"
    assert p.error_body(errors.CancelledError("stop")).code == "error"
    assert p.error_body(errors.DaemonUnavailableError("gone")).code == "error"


def test_a_foreign_exception_is_internal() -> None:
    body = p.error_body(KeyError("handle"))
    assert body.code == "internal"
    assert body.message == "internal error: KeyError('handle')"
    back = p.error_from_body(body)
    assert type(back) is errors.ProtocolError and back.code == "internal"


def test_an_unknown_code_from_a_newer_daemon_is_a_tidegate_error() -> None:
    back = p.error_from_body(p.ErrorBody("quota_exceeded", "over quota", {"torrent_id": "a"}))
    assert type(back) is errors.TidegateError
    assert str(back) == "over quota"


def test_unknown_fields_are_not_set_on_the_exception() -> None:
    back = p.error_from_body(p.ErrorBody("unknown_torrent", "m", {"torrent_id": "a",
                                                                    "__class__": "x"}))
    assert type(back) is errors.UnknownTorrentError and back.torrent_id == "a"


def test_attributes_that_were_none_are_none_remotely() -> None:
    back = p.error_from_body(p.error_body(errors.ConfigError("bad value")))
    assert type(back) is errors.ConfigError
    assert back.key is None and back.path is None
    back = p.error_from_body(p.ErrorBody("bad_magnet", "m", {"source": "s"}))
    assert isinstance(back, errors.BadMagnetError)
    assert (back.source, back.reason) == ("s", None)


def test_a_failed_reply_without_a_body_is_internal() -> None:
    with pytest.raises(errors.ProtocolError) as caught:
        p.result_of("hello", p.Reply(1, False))
    assert caught.value.code == "internal"


def test_protocol_error_reply_helper() -> None:
    reply = p.protocol_error("busy", "try later", 9)
    assert reply == p.Reply(9, False, None, p.ErrorBody("busy", "try later", {}))
    assert p.protocol_error("bad_frame", "x").id is None


# ---------------------------------------------------------------- replies and results

def _state(tid: str, **kw: Any) -> TorrentState:
    base: dict[str, Any] = dict(
        id=tid, name=f"name-{tid[:4]}", info_hash_v1=tid, info_hash_v2=None,
        phase=Phase.DOWNLOADING, progress=0.5, total_size=1000, wanted=1000, wanted_done=500,
        download_rate=10, upload_rate=0, num_peers=1, num_seeds=1, swarm_seeds=-1,
        swarm_peers=-1, all_time_download=500, all_time_upload=0, ratio=0.0, eta=50,
        save_path="/data", added_time=1, completed_time=0, seeding_time=0, has_metadata=True,
        paused=False, sequential=False, queue_position=0, download_limit=0, upload_limit=0,
        ratio_limit=-1.0, seed_time_limit=-1, complete_on_disk=False, error="", num_pieces=4,
        pieces_done=2)
    base.update(kw)
    return TorrentState(**base)


def _snap(seq: int, torrents: dict[str, TorrentState], **kw: Any) -> Snapshot:
    return Snapshot(seq=seq, time=float(seq), torrents=MappingProxyType(torrents),
                    stats=SessionStats(download_rate=seq), **kw)


def test_hello_and_full_snapshot_results_are_typed() -> None:
    hello = p.Hello("tidegate/2", "e" * 16, 123, "ipc:///run/x-events.sock", 5, 9)
    reply = p.parse_reply(p.encode_reply(p.Reply(1, True, hello)))
    assert p.result_of("hello", reply) == hello
    snap = _snap(5, {"a" * 40: _state("a" * 40)})
    full = p.FullSnapshot("e" * 16, snap, 9)
    got = p.result_of("snapshot", p.parse_reply(p.encode_reply(p.Reply(2, True, full))))
    assert isinstance(got, p.FullSnapshot)
    assert got.snapshot.torrents == dict(snap.torrents)
    assert (got.epoch, got.event_seq, got.snapshot.seq, got.snapshot.stats) == \
        ("e" * 16, 9, 5, snap.stats)
    assert got.snapshot.torrents["a" * 40].phase is Phase.DOWNLOADING


def test_details_result_keeps_bytes_and_tuples() -> None:
    details = TorrentDetails(
        torrent=_state("c" * 40),
        files=(FileState(index=0, path="a/b", size=5, done=5, priority=4),),
        peers=(PeerState(address="127.0.0.1", port=1, client="x", flags="SE",
                         download_rate=1, upload_rate=2, progress=1.0),),
        trackers=(TrackerState(url="udp://t:1", tier=0, status="ok", seeds=1, leechers=0,
                               next_announce=-1, last_error=""),),
        pieces=b"\x01\x00\x01\x01", piece_length=16384, comment="", creator="tg",
        private=False, magnet="magnet:?xt=urn:btih:" + "c" * 40)
    reply = p.parse_reply(p.encode_reply(p.Reply(4, True, details)))
    assert p.result_of("details", reply) == details


@pytest.mark.parametrize("cmd", [c for c in p.COMMANDS if c not in p.RESULT_TYPES])
def test_commands_without_a_result_return_none(cmd: str) -> None:
    assert p.result_of(cmd, p.Reply(1, True, {"ignored": 1})) is None


def test_a_result_of_the_wrong_shape_is_a_protocol_error() -> None:
    with pytest.raises(errors.ProtocolError, match="reply to hello does not match"):
        p.result_of("hello", p.Reply(1, True, {"protocol": "tidegate/2"}))
    with pytest.raises(errors.ProtocolError, match="reply to add"):
        p.result_of("add", p.Reply(1, True, 5))


def test_parse_reply_refuses_other_versions_and_garbage() -> None:
    body = p.encode(p.Reply(1, True))
    with pytest.raises(errors.ProtocolError) as caught:
        p.parse_reply([b"tidegate/1", body])
    assert caught.value.code == "bad_version" and "tidegate/1" in str(caught.value)
    with pytest.raises(errors.ProtocolError) as caught:
        p.parse_reply([p.VERSION, body, b""])
    assert caught.value.code == "bad_version" and "3 frames" in str(caught.value)
    with pytest.raises(errors.ProtocolError, match="unreadable reply"):
        p.parse_reply([p.VERSION, b"\xc1"])
    with pytest.raises(errors.ProtocolError, match="unreadable reply"):  # invalid UTF-8
        p.parse_reply([p.VERSION, b"\x82\xa2id\x01\xa2ok\xc3\xa1\xff"])


# ---------------------------------------------------------------- diff / apply

def test_diff_finds_changed_by_identity_and_removed() -> None:
    a, b, c, d = (ch * 40 for ch in "abcd")
    ta, tb, tc = _state(a), _state(b), _state(c)
    old = _snap(10, {a: ta, b: tb, c: tc})
    tb_equal_copy = _state(b)  # equal value, new object: the engine only makes one on change
    tc_changed = _state(c, progress=0.75)
    td = _state(d)
    new = _snap(11, {a: ta, b: tb_equal_copy, c: tc_changed, d: td}, running=False)
    # remove one too
    new2 = _snap(12, {b: tb_equal_copy, c: tc_changed, d: td})
    delta = p.diff(old, new, "ep")
    assert [t.id for t in delta.changed] == [b, c, d]
    assert delta.changed[1] is tc_changed
    assert delta.removed == []
    assert (delta.epoch, delta.base, delta.seq, delta.time, delta.running) == \
        ("ep", 10, 11, 11.0, False)
    assert delta.stats == new.stats
    delta2 = p.diff(new, new2, "ep")
    assert delta2.changed == [] and delta2.removed == [a]
    assert p.apply(new, delta2) == dict(new2.torrents)


def test_diff_of_identical_snapshots_is_empty() -> None:
    t = {"a" * 40: _state("a" * 40)}
    old = _snap(1, t)
    new = _snap(2, dict(t))
    delta = p.diff(old, new, "ep")
    assert delta.changed == [] and delta.removed == [] and (delta.base, delta.seq) == (1, 2)


def test_apply_does_not_touch_the_old_snapshot() -> None:
    a, b = "a" * 40, "b" * 40
    old = _snap(1, {a: _state(a)})
    new = _snap(2, {b: _state(b)})
    before = dict(old.torrents)
    torrents = p.apply(old, p.diff(old, new, "ep"))
    assert torrents == dict(new.torrents)
    assert dict(old.torrents) == before


def test_a_chain_of_deltas_over_the_wire_rebuilds_every_snapshot() -> None:
    rng = random.Random(20240611)
    ids = [f"{i:040x}" for i in range(60)]
    current: dict[str, TorrentState] = {}
    snaps = [_snap(1, {})]
    for seq in range(2, 120):
        current = dict(current)
        for tid in rng.sample(ids, rng.randint(0, 12)):
            roll = rng.random()
            if tid in current and roll < 0.3:
                del current[tid]
            elif roll < 0.8:
                current[tid] = _state(tid, progress=rng.random(), num_peers=rng.randint(0, 50))
        snaps.append(_snap(seq, current, running=rng.random() < 0.9))
    held = snaps[0]
    for old, new in zip(snaps, snaps[1:], strict=False):
        delta = p.diff(old, new, "ep")
        # exactly the torrents whose object changed, and exactly the ones gone
        assert {t.id for t in delta.changed} == {
            tid for tid, t in new.torrents.items() if old.torrents.get(tid) is not t}
        assert set(delta.removed) == set(old.torrents) - set(new.torrents)
        wire = p.parse_publication(p.encode_publication(p.TOPIC_DELTA, delta))
        assert isinstance(wire, p.Delta) and wire.base == held.seq
        held = Snapshot(seq=wire.seq, time=wire.time, torrents=p.apply(held, wire),
                        stats=wire.stats, running=wire.running)
        assert held.torrents == dict(new.torrents)
        assert (held.seq, held.time, held.stats, held.running) == \
            (new.seq, new.time, new.stats, new.running)


# ---------------------------------------------------------------- publications

def _one_of_each_event() -> list[Event]:
    t = "f" * 40
    return [
        TorrentAdded(seq=1, time=1.0, torrent_id=t, name="n"),
        MetadataReceived(seq=2, torrent_id=t, name="n", awaiting_selection=True),
        TorrentCompleted(seq=3, torrent_id=t, name="n"),
        TorrentErrored(seq=4, torrent_id=t, message="disk full", file="a/b"),
        TrackerError(seq=5, torrent_id=t, url="udp://t:1", message="timed out"),
        StorageMoved(seq=6, torrent_id=t, path="/new"),
        StorageMoveFailed(seq=7, torrent_id=t, message="exists"),
        TorrentRemoved(seq=8, torrent_id=t, data_deleted=True),
        TorrentPaused(seq=9, torrent_id=t, reason="share limit"),
        TorrentResumed(seq=10, torrent_id=t),
        TorrentChecked(seq=11, torrent_id=t, progress=0.25),
        ShareLimitReached(seq=12, torrent_id=t, reason="ratio 2.00"),
        ResumeDataError(seq=13, file="x.resume", message="bad"),
        Log(seq=14, level="warning", message="hi"),
        DaemonConnection(seq=15, connected=False, endpoint="ipc:///x", message="gone"),
        EventsLost(seq=16, count=3),
        SiteUpdated(seq=17, address="a" * 56 + ".onion", name="blog", height=3),
        SiteRefused(seq=18, address="a" * 56 + ".onion", reason="rollback", message="1 < 2"),
        SiteHosted(seq=19, address="a" * 56 + ".onion", snapshot=2),
        SiteProgress(seq=20, address="a" * 56 + ".onion", done=5, total=10),
        PieceFailed(seq=21, torrent_id=t, piece=7),
        PeerBanned(seq=22, torrent_id=t, peer="127.0.0.2:6881", reason="bad data"),
        SiteChanged(seq=23, address="a" * 56 + ".onion", height=4, head="ab" * 32, snapshot=4,
                    changed=["index.html", "a/b.txt"], removed=["old.txt"], truncated=True),
        PartFailed(seq=24, part="proxy", why="its loop raised", attempt=2, retry_in=2.0),
        PartRestarted(seq=25, part="proxy", why="its loop raised", attempt=2),
    ]


def test_every_event_type_is_exercised() -> None:
    assert {type(e) for e in _one_of_each_event()} == set(event_types())


@pytest.mark.parametrize("event", _one_of_each_event(), ids=lambda e: type(e).__name__)
def test_events_round_trip_with_their_type_tag(event: Event) -> None:
    frames = p.encode_publication(p.TOPIC_EVENT, p.EventFrame("ep", event))
    assert frames[0] == b"event" and frames[1] == p.VERSION
    raw = msgspec.msgpack.decode(frames[2])
    assert raw["event"]["type"] == type(event).__name__  # the tag another frontend reads
    back = p.parse_publication(frames)
    assert isinstance(back, p.EventFrame) and back.epoch == "ep"
    assert type(back.event) is type(event) and back.event == event


def test_delta_and_beat_round_trip() -> None:
    a = "a" * 40
    delta = p.diff(_snap(1, {}), _snap(2, {a: _state(a)}), "ep")
    frames = p.encode_publication(p.TOPIC_DELTA, delta)
    assert frames[:2] == [b"delta", p.VERSION]
    assert p.parse_publication(frames) == delta
    beat = p.Beat("ep", 2, 17)
    frames = p.encode_publication(p.TOPIC_BEAT, beat)
    assert frames[:2] == [b"beat", p.VERSION]
    assert p.parse_publication(frames) == beat


@pytest.mark.parametrize("topic", [b"deltas", b"", b"Beat", b"snapshot", b"x" * 100])
def test_unknown_topic_is_refused(topic: bytes) -> None:
    with pytest.raises(errors.ProtocolError) as caught:
        p.parse_publication([topic, p.VERSION, p.encode(p.Beat("ep", 1, 1))])
    assert caught.value.code == "bad_frame"
    assert f"unknown topic {topic[:32]!r}" in str(caught.value)


@pytest.mark.parametrize("frames", [
    [b"beat", b"tidegate/1", p.encode(p.Beat("ep", 1, 1))],
    [b"beat", b"", p.encode(p.Beat("ep", 1, 1))],
    [b"beat", p.encode(p.Beat("ep", 1, 1))],
    [b"beat", p.VERSION, p.encode(p.Beat("ep", 1, 1)), b""],
])
def test_other_versions_and_shapes_are_refused(frames: list[bytes]) -> None:
    with pytest.raises(errors.ProtocolError) as caught:
        p.parse_publication(frames)
    assert caught.value.code == "bad_version"


@pytest.mark.parametrize("topic, body", [
    (b"beat", b"\xc1"),
    (b"beat", msgspec.msgpack.encode({"epoch": "ep"})),
    (b"delta", p.encode(p.Beat("ep", 1, 1))),
    (b"event", p.encode(p.EventFrame("ep", Log(level="x", message="y")))[:-3]),
    (b"event", msgspec.msgpack.encode({"epoch": "ep", "event": {"type": "Nope"}})),
    (b"beat", b"\x83\xa5epoch\xa2\xff\xfe\xacsnapshot_seq\x01\xa9event_seq\x01"),
])
def test_unreadable_publications_are_refused(topic: bytes, body: bytes) -> None:
    with pytest.raises(errors.ProtocolError, match=f"unreadable {topic!r} publication"):
        p.parse_publication([topic, p.VERSION, body])


def test_tor_state_travels_in_deltas_only_when_it_changed() -> None:
    from types import MappingProxyType

    from tidegate.engine.api.replica import applied as _applied
    from tidegate.engine.state import OnionState, SessionStats, TorState

    stats = SessionStats()
    base = Snapshot(seq=1, time=1.0, torrents=MappingProxyType({}), stats=stats)
    tor = TorState(mode="tor-hosting", connected=True, control="managed", pid=42,
                   version="0.4.9.11", onions=MappingProxyType(
                       {"a" * 56 + ".onion": OnionState(state="uploaded", descriptors=2,
                                                        clients=1)}))
    new = Snapshot(seq=2, time=2.0, torrents=base.torrents, stats=stats, tor=tor)
    delta = p.diff(base, new, "e")
    back = p.parse_publication(p.encode_publication(p.TOPIC_DELTA, delta))
    assert isinstance(back, p.Delta) and back.tor == tor
    assert _applied(base, back).tor == tor
    same = Snapshot(seq=3, time=3.0, torrents=base.torrents, stats=stats, tor=tor)
    assert p.diff(new, same, "e").tor is None
    assert _applied(new, p.diff(new, same, "e")).tor == tor
