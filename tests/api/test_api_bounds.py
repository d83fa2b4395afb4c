"""Numbers given to commands: refused when the engine cannot keep them, never discovered at
the next start (issue 20: a ratio of ``inf`` was saved as JSON null and the torrent was
quarantined at the next start).

Over the wire (every numeric argument of every command, from the declarations), through a
real daemon and the CLI, and in-process; and a bad value already in a resume file resets
that setting with a warning instead of dropping the torrent.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import libtorrent as lt
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EngineFactory, build_engine, make_payload, make_torrent
from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tidegate.engine import AddRequest, Engine
from tidegate.engine import commands as cmds
from tidegate.engine.api import protocol as p
from tidegate.engine.api.numbers import NumericField, numeric_fields
from tidegate.engine.errors import InputError, ProtocolError
from tidegate.engine.events import Log

BAD_FLOATS = [math.inf, -math.inf, math.nan, 1e308, -1e308, -2.0, 1e6 + 1]
BAD_INTS = [-2, 2**31, 2**63 - 1, -(2**63), 2**64 - 1]
TID = "ab" * 20

BASE_ARGS: dict[str, dict[str, Any]] = {
    "add": {"request": {"uri": "magnet:?xt=urn:btih:" + TID}},
    "set_limits": {"torrent_id": TID},
    "set_global_limits": {},
    "set_share_limits": {"torrent_id": TID},
    "set_file_priorities": {"torrent_id": TID, "priorities": {}},
    "rss_feed_add": {"url": "https://example.org/feed.xml"},
    "torrent_read": {"torrent_id": TID, "file_index": 0, "offset": 0, "length": 0},
    "site_files": {"site": "blog"},
    "site_read": {"site": "blog", "path": "a.txt"},
    "site_write": {"site": "blog", "path": "a.txt", "data": b"x"},
    "handler_register": {"site": "blog", "prefix": "/app/", "target": "http://127.0.0.1:1"},
}
"""Valid arguments of each command with numbers, the numbers left out (or 0 where required)."""


def _numeric_commands() -> list[tuple[str, NumericField]]:
    return [(cmd, f) for cmd, t in p.COMMANDS.items() if cmd != "apply_config"
            for f in numeric_fields(t)]


def _with(args: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``args`` (a deep copy) with ``value`` placed at a numeric field's path."""
    out = copy.deepcopy(args)
    key = path.startswith("key in ")
    item = path.endswith("[...]")
    parts = path.removeprefix("key in ").removesuffix("[...]").split(".")[1:]
    node = out
    for part in parts[:-1]:
        node = node[part]
    last = parts[-1]
    if key:
        node[last] = {value: 1}
    elif item:
        node[last] = {0: value} if isinstance(node.get(last), dict) else [value]
    else:
        node[last] = value
    return out


def test_every_numeric_argument_declares_a_finite_range() -> None:
    found = _numeric_commands()
    assert {cmd for cmd, _ in found} == set(BASE_ARGS), "a command gained numbers: add it"
    for cmd, field in found:
        assert field.lo is not None and field.hi is not None, (cmd, field)
        assert math.isfinite(field.lo) and math.isfinite(field.hi), (cmd, field)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_numeric_commands()),
       st.one_of(st.floats(), st.integers(-(2**63), 2**64 - 1),
                 st.sampled_from(BAD_FLOATS + BAD_INTS)))
def test_wire_refuses_numbers_out_of_range(item: tuple[str, NumericField], value: Any) -> None:
    cmd, field = item
    frames = p.encode_request(7, cmd, _with(BASE_ARGS[cmd], field.path, value))
    parsed = p.parse_request(frames, 1 << 20)
    assert field.lo is not None and field.hi is not None
    ok = (isinstance(value, int) or field.kind == "float") and \
        field.lo <= value <= field.hi and (field.kind == "float" or isinstance(value, int))
    if isinstance(parsed, p.Decoded):
        assert ok, (cmd, field.path, value)
        return
    assert not ok, (cmd, field.path, value, parsed)
    assert parsed.error is not None
    message = parsed.error.message
    shown = field.path.removeprefix("key in ").split("[")[0].split(".")[-1]
    assert shown in message, message
    if field.kind == "float" or isinstance(value, int):
        # out of range: the InputError the in-process engine raises, with the range
        assert parsed.error.code == "bad_input", parsed.error
        assert f"allowed: {field.kind} from" in message, message
    else:
        assert parsed.error.code in ("bad_args", "bad_input"), parsed.error


# ------------------------------------------------------------------ in-process engine

def _seeded(make_engine: EngineFactory, tmp_path: Path) -> tuple[Engine, str]:
    engine = make_engine("e")
    payload = make_payload(tmp_path / "data", sizes=(200_000, 10))
    created = make_torrent(payload, fmt="v1")
    tid = engine.add(AddRequest(torrent=created.data, save_path=created.save_path,
                                paused=True)).result(10)
    engine.wait_for(lambda s: tid in s.torrents, 10)
    return engine, tid


def _refused(fut: Any, *words: str) -> None:
    with pytest.raises(InputError) as caught:
        fut.result(10)
    for word in words:
        assert word in str(caught.value), (words, str(caught.value))


def test_engine_refuses_numbers_it_cannot_keep(make_engine: EngineFactory,
                                               tmp_path: Path) -> None:
    engine, tid = _seeded(make_engine, tmp_path)
    for bad in BAD_FLOATS:
        _refused(engine.set_share_limits(tid, ratio=bad), "ratio", "1000000")
    for bad_int in BAD_INTS + [1.5, math.inf, math.nan]:  # type: ignore[list-item]
        _refused(engine.set_share_limits(tid, seed_time=bad_int), "seed_time", "2147483647")
        _refused(engine.set_limits(tid, down=bad_int), "down", "2147483647")
        _refused(engine.set_limits(tid, up=bad_int), "up", "2147483647")
        _refused(engine.set_global_limits(down=bad_int), "down", "2147483647")
        _refused(engine.set_file_priorities(tid, {0: bad_int}), "priority", "7")
        _refused(engine.set_file_priorities(tid, {bad_int: 1}), "index")
        _refused(engine.add(AddRequest(uri="magnet:?xt=urn:btih:" + "cd" * 20,
                                       seed_time_limit=bad_int)), "seed_time_limit")
    for bad in BAD_FLOATS:
        _refused(engine.add(AddRequest(uri="magnet:?xt=urn:btih:" + "cd" * 20,
                                       ratio_limit=bad)), "ratio_limit")
    _refused(engine.read_piece(tid, -1), "piece")
    _refused(engine.torrent_read(tid, -1, 0, 1), "file_index")
    _refused(engine.torrent_read(tid, 0, 2**62 + 1, 1), "offset")
    _refused(engine.torrent_read(tid, 0, 0, -1), "length")
    _refused(engine.dht_get(b"k" * 32, b"", timeout=math.inf), "timeout")
    _refused(engine.add_dht_node("127.0.0.1", 70000), "port")
    assert engine.running
    assert "cd" * 20 not in engine.snapshot.torrents

    # the largest values are kept, and read back after a restart
    engine.set_share_limits(tid, ratio=1e6, seed_time=2**31 - 1).result(10)
    engine.set_limits(tid, down=2**31 - 1).result(10)
    engine.stop()
    again = build_engine(tmp_path / "e").start()
    try:
        snap = again.wait_for(lambda s: tid in s.torrents, 10)
        t = snap.torrents[tid]
        assert (t.ratio_limit, t.seed_time_limit) == (1e6, 2**31 - 1)
    finally:
        again.stop()


# ------------------------------------------------------------------ resume files

def _edit_extras(resume: Path, text: bytes | None) -> None:
    entry = lt.bdecode(resume.read_bytes())
    if text is None:
        del entry[b"tidegate"]
    else:
        entry[b"tidegate"] = text
    resume.write_bytes(lt.bencode(entry))


@pytest.mark.parametrize("extras", [
    b'{"ratio_limit":null,"seed_time_limit":600}',
    b'{"ratio_limit":"inf","seed_time_limit":600}',
    b'{"ratio_limit":1e308,"seed_time_limit":600}',
    b'{"ratio_limit":-7,"seed_time_limit":600}',
    b'{"ratio_limit":2.5,"seed_time_limit":1e300}',
    b'{"ratio_limit":[1],"seed_time_limit":600,"comment":5}',
    b'not json at all',
])
def test_bad_setting_in_resume_file_keeps_the_torrent(make_engine: EngineFactory,
                                                      tmp_path: Path, extras: bytes) -> None:
    engine, tid = _seeded(make_engine, tmp_path)
    engine.set_share_limits(tid, ratio=2.5, seed_time=600).result(10)
    engine.stop()
    resume = next((tmp_path / "e").rglob(f"{tid}.resume"))
    _edit_extras(resume, extras)

    again = build_engine(tmp_path / "e")
    events = again.subscribe()
    again.start()
    try:
        snap = again.wait_for(lambda s: tid in s.torrents, 10)
        t = snap.torrents[tid]
        assert not list((tmp_path / "e").rglob("*.corrupt"))
        warnings = [e.message for e in events.drain() if isinstance(e, Log)
                    and e.level == "warning" and tid in e.message]
        assert warnings, "the reset is reported"
        if extras.startswith(b"{"):
            bad = [k for k in ("ratio_limit", "seed_time_limit", "comment")
                   if k.encode() + b'":' in extras and k in " ".join(warnings)]
            assert bad, warnings
            if b'"seed_time_limit":600' in extras:
                assert t.seed_time_limit == 600  # the good setting is kept
            if b'"ratio_limit":2.5' in extras:
                assert t.ratio_limit == 2.5
            else:
                assert t.ratio_limit == -1.0  # reset to the global default
        # the file is written again with the reset value, and loads without a warning
        again.save_resume_data().result(10)
        saved = msgspec.json.decode(lt.bdecode(resume.read_bytes())[b"tidegate"])
        assert saved["ratio_limit"] is not None and math.isfinite(saved["ratio_limit"])
    finally:
        again.stop()


# ------------------------------------------------------------------ daemon and CLI

def _tg(home: Path, *args: str) -> Any:
    import subprocess
    return subprocess.run(TIDEGATE + list(args), env=env_for(home), capture_output=True,
                          text=True, timeout=60)


def test_daemon_and_cli_refuse_bad_numbers(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    payload = make_payload(home / "data", sizes=(100_000,))
    created = make_torrent(payload, fmt="v1")
    torrent = home / "p.torrent"
    torrent.write_bytes(created.data)
    tid = created.info_hash_v1
    assert tid is not None
    r = _tg(home, "add", str(torrent), "--paused", "-d", created.save_path)
    assert r.returncode == 0, r.stderr

    for flag, value, words in [("--ratio", "inf", ("ratio", "1000000")),
                               ("--ratio", "nan", ("ratio", "1000000")),
                               ("--ratio", "1e308", ("ratio", "1000000")),
                               ("--ratio", "-2", ("ratio", "1000000")),
                               ("--seed-time", "-2", ("seed_time", "2147483647")),
                               ("--seed-time", str(2**40), ("seed_time", "2147483647")),
                               ("--seed-time", "1e308", ("seed-time", "number")),
                               ("--down", "3T", ("down", "2147483647"))]:
        r = _tg(home, "limit", tid[:8], flag, value)
        assert r.returncode != 0, (flag, value, r.stdout)
        assert "Traceback" not in r.stderr, r.stderr
        for word in words:
            assert word in r.stderr, (flag, value, r.stderr)

    client = d.client()
    try:
        with pytest.raises(InputError) as caught:
            client.run(cmds.SetShareLimits(tid, ratio=math.inf)).result(10)
        assert "args.ratio" in str(caught.value) and "1000000" in str(caught.value)
        with pytest.raises(ProtocolError):
            client.run(cmds.SetShareLimits(tid, seed_time=2**70)).result(10)  # past 64 bits
        client.run(cmds.SetShareLimits(tid, ratio=3.0)).result(10)
        assert client.wait_for(lambda s: s.torrents[tid].ratio_limit == 3.0, 10)
    finally:
        client.stop()
    r = _tg(home, "limit", tid[:8], "--ratio", "1.5", "--seed-time", "60")
    assert r.returncode == 0, r.stderr
    assert d.stop() == 0

    # a resume file from an older version (ratio saved as null): the torrent comes back
    resume = next(home.rglob(f"{tid}.resume"))
    _edit_extras(resume, b'{"ratio_limit":null,"seed_time_limit":60}')
    d2 = DaemonProc(home).start()
    daemons.append(d2)
    client = d2.client()
    try:
        snap = client.wait_for(lambda s: tid in s.torrents, 15)
        assert snap.torrents[tid].ratio_limit == -1.0
        assert snap.torrents[tid].seed_time_limit == 60
    finally:
        client.stop()
    assert not list(home.rglob("*.corrupt"))
