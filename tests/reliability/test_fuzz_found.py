"""What the fuzzers found, pinned: each input below once crashed a parser with an
exception other than its documented error (docs/RELIABILITY.md lists them)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import fastbencode
import pytest

from tidegate.engine.api import protocol as p
from tidegate.engine.config import parse_text
from tidegate.engine.errors import ConfigError, InputError, ProtocolError
from tidegate.engine.requests import parse_peer
from tidegate.engine.sites.merkle import decode_layers
from tidegate.engine.units import decimal, port_number

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("text, key", [
    ("a = " + "[" * 100_000 + "]" * 100_000, None),  # RecursionError in tomllib
    ("a = " + "{b = " * 5000 + "1" + "}" * 5000, None),
    ("[rates]\ndownload = " + "9" * 5000, None),  # int() refuses > 4,300 digits
    ('[tor]\nsocks = "127.0.0.1:\u00b2"', "tor.socks"),  # "²".isdigit() but int("²") fails
    ('[network]\ndht_nodes = ["a:\u00b2"]', "network.dht_nodes[0]"),
    ('[network]\ndht_nodes = ["a:' + "9" * 5000 + '"]', "network.dht_nodes[0]"),
    ('[tor]\ncontrol = "127.0.0.1:\u0663"', "tor.control"),  # was taken as port 3
])
def test_config_text_that_crashed_the_loader(text: str, key: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text(text, path="config.toml")
    assert caught.value.key == key and len(str(caught.value)) < 600


def test_config_errors_quote_hostile_values_shortened() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text(f'[network]\nencryption = "{"x" * 100_000}"', path="c.toml")
    assert "network.encryption" in str(caught.value) and len(str(caught.value)) < 600
    with pytest.raises(ConfigError) as caught:
        parse_text(f'[{"y" * 100_000}]\na = 1', path="c.toml")
    assert len(str(caught.value)) < 600


@pytest.mark.parametrize("text", ["1.2.3.4:\u00b2", "1.2.3.4:" + "9" * 5000, "[::1]:\u0663",
                                  "1.2.3.4:00000080"])
def test_peer_ports_that_crashed_parse_peer(text: str) -> None:
    with pytest.raises(InputError):
        parse_peer(text)


def test_decimal_and_port_number() -> None:
    assert decimal("0") == 0 and decimal("00080") == 80 and decimal("123", 2) is None
    assert decimal("\u00b2") is None and decimal("\u0663") is None and decimal("") is None
    assert decimal("9" * 5000) is None and decimal("-1") is None and decimal(" 1") is None
    assert port_number("65535") == 65535 and port_number("65536") is None
    assert port_number("0") is None and port_number("0", 0) == 0


def test_api_request_nested_too_deeply_is_bad_request() -> None:
    body = (b"\x83" + p.encode("id") + p.encode(5) + p.encode("cmd") + p.encode("hello")
            + p.encode("args") + b"\x81\xa1a" + b"\x91" * 100_000 + b"\xc0")
    reply = p.parse_request([p.VERSION, body], 1 << 30)
    assert isinstance(reply, p.Reply) and reply.error is not None
    assert reply.error.code == "bad_request" and "nested too deeply" in reply.error.message


def test_api_reply_and_publication_nested_too_deeply_are_protocol_errors() -> None:
    deep = b"\x91" * 100_000 + b"\xc0"
    with pytest.raises(ProtocolError):  # {"id": 1, "ok": true, "result": [[[...]]]}
        p.parse_reply([p.VERSION, b"\x83\xa2id\x01\xa2ok\xc3\xa6result" + deep])
    with pytest.raises(ProtocolError):
        p.result_of("site_list", p.Reply(1, True, _nested(5000)))
    with pytest.raises(ProtocolError):
        p.parse_publication([p.TOPIC_BEAT, p.VERSION, deep])


def _nested(depth: int) -> object:
    value: object = None
    for _ in range(depth):
        value = [value]
    return value


def test_a_layers_file_of_the_wrong_shape_is_a_value_error() -> None:
    """The proxy's Verifier treats ValueError as "no usable layers: hash the file"; an
    AttributeError went up to aiohttp as a 500."""
    for layers in ([1], 5, b"x"):
        with pytest.raises(ValueError):
            decode_layers(fastbencode.bencode({b"piece length": 16384,
                                               b"piece layers": layers}))


def test_a_bus_message_of_invalid_utf8_does_not_stop_the_sites_thread(tmp_path: Path) -> None:
    """``{"hostname": "\\xff..."}`` on the Blockchain Handler's bus socket raised
    UnicodeDecodeError out of ``Inbox.recv`` and ended the sites thread: every later site
    command hung. Now it is dropped and counted like any malformed message."""
    import tempfile

    import zmq

    from tests.helpers.sites_util import site_engine

    short = Path(tempfile.mkdtemp(prefix="tgbus", dir="/tmp"))
    endpoint = f"ipc://{short}/chain.sock"
    engine = site_engine(tmp_path / "e", bus={"blockchain_endpoint": endpoint})
    engine.start()
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    try:
        assert engine.site_list().result(10) == []
        push.connect(endpoint)
        for bad in (b'{"hostname": "\xff.onion"}', b'{"hostname": "' + b"[" * 50_000 + b'"}',
                    b'{"hostname": "a.onion"}'):
            push.send(bad)
        time.sleep(1.0)
        site = engine.site_new("after", str(tmp_path)).result(20)  # the thread still runs
        assert site.name == "after"
        assert engine.site_list().result(10)[0].address == site.address
    finally:
        push.close(0)
        ctx.term()
        engine.stop()
        shutil.rmtree(short, ignore_errors=True)


def test_add_takes_a_torrent_as_bin_or_base64_str_and_nothing_else() -> None:
    """The daemon decodes arguments typed from raw msgpack (a frame of millions of values is
    refused at the first wrong one); ``torrent`` keeps both documented spellings."""
    import base64

    def add(torrent: object) -> p.Decoded | p.Reply:
        body = p.encode({"id": 3, "cmd": "add", "args": {"request": {"torrent": torrent,
                                                                       "paused": True}}})
        return p.parse_request([p.VERSION, body], 1 << 20)

    for sent in (b"d4:infoe", base64.b64encode(b"d4:infoe").decode()):
        out = add(sent)
        assert isinstance(out, p.Decoded) and out.args.request.torrent == b"d4:infoe"
        assert out.args.request.paused is True
    for bad, words in ((5, "got `int`"), ("not base64!", "Invalid base64"), ([None], "array")):
        out = add(bad)
        assert isinstance(out, p.Reply) and out.error is not None
        assert out.error.code == "bad_args" and words in out.error.message
        assert "args.request.torrent" in out.error.message


def test_every_bytes_field_of_a_command_is_known() -> None:
    """The bin-or-base64 rule (docs/api.md) is implemented for a command's own bytes fields
    and for ``AddRequest.torrent`` (protocol._decode_args): a bytes field nested anywhere
    else would not get it, so a new one must be looked at (and added here)."""
    import typing

    import msgspec

    found = []

    def walk(t: object, where: str, depth: int = 0) -> None:
        if depth > 6:
            return
        if typing.get_origin(t) is typing.Annotated:
            t = typing.get_args(t)[0]
        if t is bytes:
            found.append(where)
        for arg in typing.get_args(t):
            walk(arg, where, depth + 1)
        if isinstance(t, type) and issubclass(t, msgspec.Struct):
            for f in msgspec.structs.fields(t):
                walk(f.type, f"{where}.{f.name}", depth + 1)

    for cmd, args in p.COMMANDS.items():
        walk(args, cmd)
    assert found == ["add.request.torrent", "site_write.data"]


def test_a_commands_bytes_field_takes_bin_or_base64_and_keeps_its_bounds() -> None:
    """site_write's ``data`` (found by the test above when it was new: it took only bin)."""
    import base64

    def request(data: object) -> list[bytes]:
        return [p.VERSION, p.encode({"id": 7, "cmd": "site_write", "args": {
            "site": "blog", "path": "a.txt", "data": data, "offset": None,
            "truncate": False}})]

    as_bin = p.parse_request(request(b"\x00\xffhello"), 1 << 20)
    as_text = p.parse_request(request(base64.b64encode(b"\x00\xffhello").decode()), 1 << 20)
    assert isinstance(as_bin, p.Decoded) and isinstance(as_text, p.Decoded)
    assert as_bin.args == as_text.args and as_bin.args.data == b"\x00\xffhello"
    for bad, says in (("not base64!", "base64"), (12, "base64"),
                      (b"x" * ((512 << 10) + 1), "data")):
        out = p.parse_request(request(bad), 4 << 20)
        assert not isinstance(out, p.Decoded), bad
        assert says in str(out), out


def test_bounded_argument_lists() -> None:
    body = p.encode({"id": 1, "cmd": "add_trackers",
                     "args": {"torrent_id": "ab" * 20, "urls": [""] * 10_001}})
    out = p.parse_request([p.VERSION, body], 1 << 20)
    assert isinstance(out, p.Reply) and out.error is not None and out.error.code == "bad_args"
    assert "length <= 10000" in out.error.message


@pytest.mark.parametrize("key", ["-rP4mm=B?T@Q+3:5#$fG>aKLL7<NS!Sr=)zFQ0mT",
                                 "--P4mm=B?T@Q+3:5#$fG>aKLL7<NS!Sr=)zFQ0mT",
                                 "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"])
def test_a_server_key_starting_with_a_dash_is_a_value(key: str) -> None:
    """One daemon key in 85 starts with ``-``; argparse took it for an option and refused
    ``--server-key KEY`` (found by the security test, whose random daemon key did)."""
    from tidegate.cli.main import build_parser, join_key_values

    for cmd in (["ls", "--connect", "tcp://127.0.0.1:7010", "--server-key", key],
                ["tui", "--server-key", key]):
        args = build_parser().parse_args(join_key_values(cmd))
        assert args.server_key == key
