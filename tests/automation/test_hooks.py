"""Event hooks on real engines: a real download's completion runs a real program with
its arguments as they are (no shell) and the torrent's facts in its environment; a hook
that fails or hangs is logged and killed, never the engine's end; at most
``hooks.max_running`` run at once; hooks are off by default and no ``apply_config``
sets or changes them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.conftest import EngineFactory, make_payload, make_torrent, port_of, start_seed
from tidegate.engine.automation.hooks import HookRunner
from tidegate.engine.config.watchhooks import HooksConfig
from tidegate.engine.errors import ConfigError
from tidegate.engine.events import Log
from tidegate.engine.requests import AddRequest

RECORDER = """\
import json, os, sys, time
out = sys.argv[1]
record = {"argv": sys.argv[2:], "start": time.time(),
          "env": {k: v for k, v in os.environ.items() if k.startswith("TIDEGATE_")}}
sleep = float(os.environ.get("HOOK_SLEEP", "0"))
time.sleep(sleep)
record["end"] = time.time()
with open(out, "a") as f:
    f.write(json.dumps(record) + "\\n")
sys.stderr.write("recorded " + record["env"].get("TIDEGATE_EVENT", "") + "\\n")
sys.exit(int(os.environ.get("HOOK_EXIT", "0")))
"""

METACHARACTERS = ["; rm -rf x", "$(touch pwned)", "`touch pwned2`", "a b", "*", "|",
                  "&& echo hi", "'quoted'", '"double"', "\\n", ""]


def recorder(tmp_path: Path) -> Path:
    script = tmp_path / "hook.py"
    script.write_text(RECORDER)
    return script


def records(out: Path, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists():
            lines = out.read_text().splitlines()
            if len(lines) >= n:
                return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"{n} hook runs expected in {out}; got "
                         f"{out.read_text() if out.exists() else 'none'}")


def logs(stream: Any, want: str, timeout: float = 20.0) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        e = stream.get(timeout=0.2)
        if isinstance(e, Log):
            seen.append(e.message)
            if want in e.message:
                return seen
    raise AssertionError(f"no log saying {want!r}: {seen}")


def test_completion_hook_of_a_real_download_gets_literal_args_and_the_torrents_env(
        make_engine: EngineFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # where a shell would have run `rm -rf x`, `touch pwned`
    (tmp_path / "x").mkdir()
    out = tmp_path / "ran.jsonl"
    folder = make_payload(tmp_path / "src", "Some Name; $(id)", sizes=(1_500_000, 10))
    created = make_torrent(folder)
    seed, leech = make_engine("seed"), make_engine("leech")
    start_seed(seed, created, folder)
    leech.category_add("films", str(tmp_path / "films")).result(10)
    argv = [sys.executable, str(recorder(tmp_path)), str(out), *METACHARACTERS]
    runner = HookRunner(leech, HooksConfig(on_complete=argv, on_add=argv)).start()
    try:
        tid = leech.add(AddRequest(torrent=created.data, category="films",
                                   peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
        leech.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 30)
        got = records(out, 2)
    finally:
        runner.stop()
    by_event = {r["env"]["TIDEGATE_EVENT"]: r for r in got}
    assert set(by_event) == {"add", "complete"}
    for r in got:
        assert r["argv"] == METACHARACTERS
        assert r["env"]["TIDEGATE_HASH"] == tid
        assert r["env"]["TIDEGATE_NAME"] == "Some Name; $(id)"
        assert r["env"]["TIDEGATE_PATH"] == str(tmp_path / "films")
        assert r["env"]["TIDEGATE_CATEGORY"] == "films"
    assert (tmp_path / "x").is_dir()
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert (tmp_path / "films" / "Some Name; $(id)" / "file0.bin").stat().st_size == 1_500_000


def test_a_failing_or_hanging_hook_is_logged_and_never_stops_the_engine(
        make_engine: EngineFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine("e")
    events = engine.subscribe()
    out = tmp_path / "ran.jsonl"
    script = recorder(tmp_path)
    monkeypatch.setenv("HOOK_EXIT", "3")
    runner = HookRunner(engine, HooksConfig(on_add=[sys.executable, str(script), str(out)],
                                            timeout=30)).start()
    try:
        a = make_torrent(make_payload(tmp_path / "a", "a", sizes=(1000,)))
        engine.add(AddRequest(torrent=a.data, save_path=str(tmp_path / "dl"))).result(10)
        said = logs(events, "exited with status 3")
        assert "recorded add" in said[-1]  # the tail of its stderr
    finally:
        runner.stop()
    monkeypatch.setenv("HOOK_EXIT", "0")
    monkeypatch.setenv("HOOK_SLEEP", "60")
    runner = HookRunner(engine, HooksConfig(on_add=[sys.executable, str(script), str(out)],
                                            timeout=0.5)).start()
    try:
        b = make_torrent(make_payload(tmp_path / "b", "b", sizes=(1000,)))
        started = time.monotonic()
        engine.add(AddRequest(torrent=b.data, save_path=str(tmp_path / "dl"))).result(10)
        logs(events, "killed after 0.5 s")
        assert time.monotonic() - started < 30
        assert len(records(out, 1)) == 1  # the hung one never wrote its record
    finally:
        runner.stop()
    missing = HookRunner(engine, HooksConfig(on_add=[str(tmp_path / "no-such-program")])
                         ).start()
    try:
        c = make_torrent(make_payload(tmp_path / "c", "c", sizes=(1000,)))
        engine.add(AddRequest(torrent=c.data, save_path=str(tmp_path / "dl"))).result(10)
        logs(events, "could not start")
    finally:
        missing.stop()
    assert engine.running and len(engine.snapshot.torrents) == 3


def test_at_most_max_running_hooks_run_at_once(make_engine: EngineFactory, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine("e")
    out = tmp_path / "ran.jsonl"
    monkeypatch.setenv("HOOK_SLEEP", "0.6")
    runner = HookRunner(engine, HooksConfig(on_add=[sys.executable, str(recorder(tmp_path)),
                                                    str(out)], max_running=2)).start()
    try:
        for i in range(5):
            t = make_torrent(make_payload(tmp_path / f"p{i}", f"p{i}", sizes=(1000,)))
            engine.add(AddRequest(torrent=t.data, save_path=str(tmp_path / "dl"))).result(10)
        got = records(out, 5, timeout=30)
    finally:
        runner.stop()
    spans = sorted((r["start"], r["end"]) for r in got)
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most <= 2, spans  # (5 hooks of 0.6 s each, added within a few ms)


def test_hooks_are_off_by_default_and_restored_torrents_run_no_add_hook(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    assert HookRunner(make_engine("off"), HooksConfig()).start().enabled is False
    out = tmp_path / "ran.jsonl"
    t = make_torrent(make_payload(tmp_path / "p", "p", sizes=(1000,)))
    first = make_engine("node")
    first.add(AddRequest(torrent=t.data, save_path=str(tmp_path / "dl"))).result(10)
    first.stop()
    engine = make_engine("node")
    runner = HookRunner(engine, HooksConfig(on_add=[sys.executable, str(recorder(tmp_path)),
                                                    str(out)])).start()
    try:
        engine.wait_for(lambda s: t.info_hash_v1 in s.torrents, 10)
        time.sleep(1.0)
    finally:
        runner.stop()
    assert not out.exists()


def test_apply_config_cannot_set_or_change_hooks(make_engine: EngineFactory,
                                                 tmp_path: Path) -> None:
    hooks = {"on_complete": ["/usr/bin/true", "from-the-file"]}
    engine = make_engine("e", hooks=hooks)
    cfg = engine.config
    changed = msgspec.structs.replace(cfg, hooks=HooksConfig(on_complete=["/bin/sh", "-c",
                                                                          "evil"]))
    with pytest.raises(ConfigError, match=r"\[hooks\] is read from the config file only"):
        engine.apply_config(changed).result(5)
    # a config that leaves [hooks] (and [watch]) out keeps the file's
    bare = msgspec.structs.replace(cfg, hooks=HooksConfig())
    new_rates = msgspec.structs.replace(cfg.rates, download=123_000)
    engine.apply_config(msgspec.structs.replace(bare, rates=new_rates)).result(5)
    assert engine.config.rates.download == 123_000
    assert engine.config.hooks.on_complete == ["/usr/bin/true", "from-the-file"]


def test_hooks_config_is_checked() -> None:
    from tidegate.engine.config import from_dict

    assert from_dict({}).hooks == HooksConfig()
    for bad, says in (({"on_add": [""]}, "first item"), ({"max_running": 0}, "max_running"),
                      ({"timeout": 0}, "timeout"), ({"on_add": "a string"}, "array"),
                      ({"shell": True}, "shell")):
        with pytest.raises(ConfigError, match=says):
            from_dict({"hooks": bad})


def test_error_hook_of_a_real_failed_write(make_engine: EngineFactory, tmp_path: Path) -> None:
    out = tmp_path / "ran.jsonl"
    folder = make_payload(tmp_path / "src", "payload", sizes=(600_000,))
    created = make_torrent(folder)
    seed, leech = make_engine("seed"), make_engine("leech")
    start_seed(seed, created, folder)
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "payload").write_bytes(b"a file where the torrent's folder must go")
    runner = HookRunner(leech, HooksConfig(on_error=[sys.executable, str(recorder(tmp_path)),
                                                     str(out), "failed"])).start()
    try:
        tid = leech.add(AddRequest(torrent=created.data, save_path=str(dest),
                                   peers=(f"127.0.0.1:{port_of(seed)}",))).result(10)
        ran = records(out, 1, timeout=30)[0]  # a retried write may fail again
    finally:
        runner.stop()
    assert ran["argv"] == ["failed"]
    assert ran["env"]["TIDEGATE_EVENT"] == "error"
    assert ran["env"]["TIDEGATE_HASH"] == tid
    assert ran["env"]["TIDEGATE_PATH"] == str(dest)
    assert ran["env"]["TIDEGATE_ERROR"]
    assert leech.running
