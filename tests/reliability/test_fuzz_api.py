"""Fuzzing the engine API's frames (both directions) and the component bus, sans-IO.

``parse_request`` is what the daemon runs on every frame a client sends: it must answer
every input with a reply (an error code from the protocol's table, a message, the id when
one can be read) and never raise. ``parse_reply``/``result_of``/``parse_publication`` are
what a client runs on what a daemon sends: a ProtocolError or the engine error the reply
names, never anything else. The bus decoders refuse with BusMessageError. A real daemon
under a socket fuzzer is tests/api/test_api_fuzz.py; this file reaches the decoders with far
more inputs, including structure-aware mutations of a valid request for every command.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st

from tidegate.engine.api import bus_messages as bus
from tidegate.engine.api import protocol as p
from tidegate.engine.errors import TidegateError

from . import seeds
from .fuzzkit import TEST_TIMEOUT, Target, budget, fuzz, mutate

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TEST_TIMEOUT)]

MAX_SIZE = 1 << 20

scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**64), 2**64 - 1),
                   st.floats(allow_nan=True), st.text(max_size=30), st.binary(max_size=30))
value = st.recursive(scalar, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(st.text(max_size=10), st.integers()),
                                                kids, max_size=4)), max_leaves=10)


def pack(v: Any) -> bytes:
    try:
        return seeds.msgpack(v)
    except OverflowError:  # ints beyond 64 bits: msgpack cannot say them
        return seeds.msgpack(None)


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes], most: int = 6) -> bytes:
    data = draw(st.sampled_from(corpus))
    return mutate(data, lambda lo, hi: draw(st.integers(lo, hi)), draw(st.integers(1, most)))


def _field_value(cmd: str) -> st.SearchStrategy[dict[str, Any]]:
    """A valid request's args with one field replaced, dropped, or one added."""
    valid = seeds_args()[cmd]
    names = sorted(valid) or ["x"]
    return st.tuples(st.sampled_from(names), st.sampled_from(["replace", "drop", "add"]),
                     value).map(lambda t: _edit(valid, *t))


def _edit(args: dict[str, Any], name: str, how: str, v: Any) -> dict[str, Any]:
    out = dict(args)
    if how == "drop":
        out.pop(name, None)
    elif how == "replace":
        out[name] = v
    else:
        out[name + "_"] = v
    return out


def seeds_args() -> dict[str, dict[str, Any]]:
    from tests.api.test_api_protocol import VALID_ARGS
    return VALID_ARGS


structured_requests = st.sampled_from(sorted(p.COMMANDS)).flatmap(
    lambda cmd: st.tuples(st.just(cmd), _field_value(cmd), st.integers(-1, 2**64 - 1))).map(
    lambda t: pack({"id": t[2], "cmd": t[0], "args": t[1]}))

REQUEST_INPUTS = {
    "mutated frames": (mutated(seeds.request_frames()), 0.4),
    "structured": (structured_requests, 0.4),
    "any msgpack": (value.map(pack), 0.1),
    "random bytes": (st.binary(max_size=200), 0.1),
}


@pytest.mark.parametrize("kind", list(REQUEST_INPUTS))
def test_request_frames(kind: str) -> None:
    strategy, scale = REQUEST_INPUTS[kind]
    target = Target(f"parse_request ({kind})", ())

    def body(frame: bytes) -> None:
        out = target.run(p.parse_request, [p.VERSION, frame], MAX_SIZE)
        if isinstance(out, p.Reply):
            assert not out.ok and out.error is not None
            assert out.error.code in p.ERROR_CODES, out.error.code
            assert out.error.message.strip() and len(out.error.message) <= 1024
            p.encode_reply(out)  # the daemon can always send it
            target.note(out.error.code)
        else:
            assert isinstance(out, p.Decoded) and out.cmd in p.COMMANDS
            assert isinstance(out.args, p.COMMANDS[out.cmd])

    fuzz(strategy, body, scale)
    target.report(budget(scale))


def test_replies_and_publications() -> None:
    """A client reading what a (broken, old, new or hostile) daemon sends."""
    replies = Target("parse_reply/result_of", (TidegateError,))
    pubs = Target("parse_publication", (TidegateError,))
    frames = seeds.reply_bodies()
    publications = seeds.publications()

    def body(x: tuple[bytes, str, int, bytes]) -> None:
        frame, cmd, which, pub_body = x
        reply = replies.run(p.parse_reply, [p.VERSION, frame])
        if reply is not None:
            replies.run(p.result_of, cmd, reply)
        topic = publications[which % len(publications)][0]
        pubs.run(p.parse_publication, [topic, p.VERSION, pub_body])

    strategy = st.tuples(
        st.one_of(mutated(frames), value.map(pack)), st.sampled_from(sorted(p.COMMANDS)),
        st.integers(0, 2), st.one_of(mutated([f[2] for f in publications]), value.map(pack)))
    fuzz(strategy, body, 0.3)
    replies.report(budget(0.3))
    pubs.report(budget(0.3))


def test_bus_messages() -> None:
    target = Target("bus decode", (bus.BusMessageError,))
    bodies = seeds.bus_bodies()
    json_values = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=80)),
        lambda kids: st.one_of(st.lists(kids, max_size=4),
                               st.dictionaries(st.sampled_from(["time", "snapshot", "hosts",
                                                                "hostname", "x"]), kids,
                                               max_size=4)), max_leaves=10)

    def body(x: tuple[bytes, int]) -> None:
        data, which = x
        kind = (bus.SiteUpdate, bus.HostnameRequest)[which]
        msg = target.run(bus.decode, data, kind)
        if msg is not None:
            assert bus.decode(bus.encode(msg), kind) == msg

    import msgspec
    strategy = st.tuples(st.one_of(mutated(bodies), json_values.map(msgspec.json.encode),
                                   st.binary(max_size=100)), st.integers(0, 1))
    fuzz(strategy, body, 0.3)
    target.report(budget(0.3))
