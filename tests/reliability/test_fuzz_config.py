"""Fuzzing the config file: TOML text in, a checked Config or a ConfigError out.

Three kinds of text: mutations of a full real config, files written from the Config
declaration itself (every section and key, each value of its own type or of another, in
or out of range), and random text. An accepted file is checked again (its values pass
``validate``), and a refusal must name the file; the endpoint and key checks the daemon
applies to the same values are fuzzed alongside.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import strategies as st

from tidegate.engine.api.keys import check_public_key
from tidegate.engine.api.sockets import check_endpoint
from tidegate.engine.config import Config, parse_text, validate
from tidegate.engine.errors import ConfigError
from tidegate.engine.node import Node

from . import seeds
from .fuzzkit import TEST_TIMEOUT, Target, budget, fuzz, mutate

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TEST_TIMEOUT)]


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) \
            else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is JSON's string syntax for these
    if isinstance(v, datetime.date | datetime.time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def to_toml(doc: dict[str, dict[str, Any]]) -> str:
    out = []
    for section, items in doc.items():
        out.append(f"[{json.dumps(section) if not section.isidentifier() else section}]")
        out += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in items.items()]
    return "\n".join(out) + "\n"


any_value = st.one_of(
    st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=30),
    st.sampled_from(["127.0.0.1:9050", "0.0.0.0", "::1", "unix:/run/tor/control",
                     "tcp://127.0.0.1:7010", "ipc:///tmp/x.sock", "managed", "tor-all",
                     "127.0.0.1:\u00b2", "forced", "[::1]:0", "a:65536"]),
    st.lists(st.text(max_size=20), max_size=3),
    st.dates(), st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2))


def _typed(field: msgspec.structs.FieldInfo) -> st.SearchStrategy[Any]:
    """A value of the field's own type, or of any other, around its default."""
    default = field.default if field.default is not msgspec.NODEFAULT else None
    same: st.SearchStrategy[Any]
    if isinstance(default, bool):
        same = st.booleans()
    elif isinstance(default, int):
        same = st.one_of(st.integers(-2, 2**32), st.sampled_from([default, 0, -1, 2**31,
                                                                  2**63 - 1]))
    elif isinstance(default, float):
        same = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([default, 0.0, -1.0]))
    elif isinstance(default, str):
        same = st.one_of(st.just(default), st.text(max_size=40))
    else:
        same = any_value
    return st.integers(0, 3).flatmap(lambda i: any_value if i == 0 else same)


SECTIONS = {f.name: f.type for f in msgspec.structs.fields(Config)}


def _section(name: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A few keys of one section (drawing all of them makes every input slow to build)."""
    fields = {f.name: f for f in msgspec.structs.fields(SECTIONS[name])}
    keys = st.lists(st.sampled_from([*fields, "no_such_key"]), max_size=3, unique=True)
    return keys.flatmap(lambda ks: st.fixed_dictionaries(
        {k: _typed(fields[k]) if k in fields else any_value for k in ks})).map(
        lambda d: (name, d))


structured = st.lists(st.sampled_from([*SECTIONS, "nosection"]), max_size=3, unique=True).flatmap(
    lambda names: st.tuples(*[_section(n) if n in SECTIONS else st.just((n, {"a": 1}))
                              for n in names])).map(lambda pairs: to_toml(dict(pairs)))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    raw = mutate(seeds.CONFIG.encode(), lambda lo, hi: draw(st.integers(lo, hi)),
                 draw(st.integers(1, 8)))
    return raw.decode("utf-8", "replace")


CONFIG_INPUTS = {
    "from the declaration": (structured, 0.3),
    "mutated real file": (mutated(), 0.6),
    "random text": (st.text(max_size=200), 0.1),
}


@pytest.mark.parametrize("kind", list(CONFIG_INPUTS))
def test_config_text(kind: str) -> None:
    strategy, scale = CONFIG_INPUTS[kind]
    target = Target(f"config parse_text ({kind})", (ConfigError,))

    def body(text: str) -> None:
        out = target.run(parse_text, text, path="/fuzz/config.toml")
        if out is None:
            return
        cfg, _raw = out
        assert validate(cfg) is cfg
        assert cfg.web.listen in ("127.0.0.1", "::1") or cfg.web.listen.startswith("127.")

    fuzz(strategy, body, scale)
    target.report(budget(scale))


def test_config_errors_name_the_file() -> None:
    for text in ("[x", "[web]\nlisten = '0.0.0.0'", "a = " + "[" * 10_000, "[network]\nx=1"):
        with pytest.raises(ConfigError) as caught:
            parse_text(text, path="/fuzz/config.toml")
        assert "/fuzz/config.toml" in str(caught.value)


def test_endpoints_and_curve_keys() -> None:
    target = Target("check_endpoint/check_public_key", (ConfigError,))

    def body(text: str) -> None:
        ep = target.run(check_endpoint, text, "api.endpoint")
        if ep is not None:
            assert ep.startswith(("ipc://", "tcp://", "inproc://")), ep
        key = target.run(check_public_key, text, "api.authorized_keys")
        if key is not None:
            assert len(key) == 40

    strategy = st.one_of(
        st.builds(lambda a, b: a + b, st.sampled_from(["tcp://", "ipc://", "inproc://",
                                                       "udp://", "tcp://*:", "ipc:///"]),
                  st.text(max_size=120)),
        st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                ".-:+=^!/*?&<>()[]{}@%$#", min_size=38, max_size=42),
        st.text(max_size=60))
    fuzz(strategy, body, 0.3)
    target.report(budget(0.3))


# ---------------------------------------------------------------- every numeric key's extremes

def _numeric_keys() -> list[tuple[str, str, type]]:
    """(section, key, int or float) of every number in the Config declaration."""
    out = []
    for section in msgspec.structs.fields(Config):
        for f in msgspec.structs.fields(section.type):
            if f.type in (int, float):
                out.append((section.name, f.name, f.type))
    return out


NUMERIC_KEYS = _numeric_keys()
EXTREMES: dict[type, list[Any]] = {
    int: [0, -1, 2**31, 2**63 - 1, -(2**63)],
    float: [0.0, -1.0, 1e308, math.inf, -math.inf, math.nan, 1e-300],
}


def test_every_numeric_key_has_a_range_check() -> None:
    from tidegate.engine.config import _CHECKS
    checked = {key for key, _ok, _why in _CHECKS}
    missing = [f"{s}.{k}" for s, k, _t in NUMERIC_KEYS if f"{s}.{k}" not in checked]
    assert not missing, missing


def _extreme_cases() -> list[tuple[str, Any]]:
    return [(f"{s}.{k}", v) for s, k, t in NUMERIC_KEYS for v in EXTREMES[t]]


def _config_text(key: str, value: Any) -> str:
    from ..conftest import LOOPBACK, merge
    section, name = key.split(".")
    return to_toml(merge(LOOPBACK, {section: {name: value}}))


def test_every_numeric_key_at_its_extremes_refuses_or_runs(tmp_path: Path) -> None:
    """Each numeric key at 0, -1, huge, inf, NaN: refused naming the key and the file, or
    an engine (with sites, as the daemon runs it) that starts and answers commands."""
    from tidegate.engine import AddRequest
    from tidegate.engine.config import LoadedConfig
    from tidegate.engine.paths import resolve_paths

    started = refused = 0
    for i, (key, value) in enumerate(_extreme_cases()):
        try:
            cfg, _raw = parse_text(_config_text(key, value), path="/fuzz/config.toml")
        except ConfigError as exc:
            assert key in str(exc) and "/fuzz/config.toml" in str(exc), (key, value, exc)
            refused += 1
            continue
        home = tmp_path / f"h{i}"
        engine = Node(LoadedConfig(cfg, resolve_paths({"TIDEGATE_HOME": str(home)}),
                                   frozenset(), True))
        try:
            engine.start(timeout=20)
            tid = engine.add(AddRequest(uri="magnet:?xt=urn:btih:" + "ab" * 20, paused=True,
                                        save_path=str(home / "dl"))).result(10)
            engine.wait_for(lambda s, t=tid: t in s.torrents, 10)
            engine.details(tid).result(10)
            assert engine.running and engine.crash is None, (key, value)
        except Exception as exc:
            raise AssertionError(f"{key} = {value!r} was accepted but the engine does not "
                                 f"work: {exc!r}") from exc
        finally:
            engine.stop(timeout=5)
        started += 1
    print(f"extremes: {refused} refused, {started} ran")
    assert refused and started


@pytest.mark.parametrize("key, value", [
    ("performance.send_buffer_watermark_kib", 2**63 - 1),
    ("network.connections_limit", 2**31),
    ("seeding.ratio_limit", math.inf),
])
def test_the_daemon_refuses_a_value_the_engine_cannot_run_with(key: str, value: Any) -> None:
    import shutil
    import subprocess

    from tests.helpers.daemon_util import TIDEGATE, env_for, short_home
    home = short_home()
    try:
        config = home / "config.toml"
        config.write_text(_config_text(key, value))
        r = subprocess.run(TIDEGATE + ["daemon", "--json"], env=env_for(home),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and not r.stdout, (key, r.stdout)
        assert key in r.stderr and str(config) in r.stderr, r.stderr
        assert "Traceback" not in r.stderr, r.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)
