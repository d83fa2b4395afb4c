"""One declaration per command (engine/commands.py), checked against everything that
must follow it: the implementations, the wire table, the CLI's and the TUI's faces and
docs/api.md. A command added without one of them fails here, naming what is missing."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tidegate.engine import Engine
from tidegate.engine import commands as cmds
from tidegate.engine.api import RemoteEngine
from tidegate.engine.api import protocol as p
from tidegate.engine.interface import EngineAPI
from tidegate.engine.node import Node

ROOT = Path(__file__).resolve().parents[2]
ALL = {c.__name__: c for c in cmds.ALL}


def constructed(folder: str) -> set[str]:
    """Names of the command classes some module under ``folder`` constructs
    (``cmds.Pause(...)``), found in its syntax tree."""
    found: set[str] = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in ALL:
                    found.add(name)
    return found


def test_every_command_declares_a_wire_name_a_result_and_a_summary() -> None:
    assert len(cmds.ALL) == len(set(cmds.ALL)) == len(cmds.BY_NAME) > 25
    for c in cmds.ALL:
        assert re.fullmatch(r"[a-z_]+", c.cmd), c
        cmds.result_type(c)  # raises when not declared
        assert c.__doc__ and c.__doc__.strip(), f"{c.__name__} says nothing for people"
        assert c.timeout is None or 0 < c.timeout <= 3600


@pytest.mark.parametrize("command", cmds.ALL, ids=lambda c: c.cmd)
def test_every_command_is_implemented_once_with_its_fields_in_order(
        command: type[cmds.Command[Any]]) -> None:
    engine, node = cmds.implementations(Engine), cmds.implementations(Node)
    owners = [o for o, impls in (("Engine", engine), ("Node", node)) if command in impls]
    assert len(owners) == 1, f"{command.cmd} is implemented by {owners or 'nothing'}"
    impl = (engine | node)[command]
    params = list(inspect.signature(impl).parameters)[1:]
    assert params == list(command.__struct_fields__), \
        f"{impl.__qualname__}{params} takes other arguments than {command.__name__}"
    assert (command in cmds.NODE_COMMANDS) == (owners == ["Node"])


def test_the_wire_table_is_the_command_list_plus_the_servers_own() -> None:
    assert {n: t for n, t in p.COMMANDS.items() if n not in p.SERVER_REQUESTS} == \
        cmds.BY_NAME
    assert set(p.SERVER_REQUESTS) == {"hello", "snapshot", "shutdown"}
    for c in cmds.ALL:
        assert p.RESULT_TYPES[c.cmd] == cmds.result_type(c)


def test_each_engine_satisfies_the_interface_by_run() -> None:
    wanted = {n for n, _ in inspect.getmembers(EngineAPI) if not n.startswith("_")}
    assert wanted == {"snapshot", "running", "wait_for", "subscribe", "unsubscribe", "run"}
    for cls in (Engine, Node, RemoteEngine):
        for name in wanted:
            assert hasattr(cls, name), f"{cls.__name__} lacks {name}"
        params = list(inspect.signature(cls.run).parameters)
        assert params == ["self", "cmd"], cls


def test_every_command_has_a_face_in_the_cli_and_the_tui_or_says_why_not() -> None:
    cli, tui = constructed("cli"), constructed("tui")
    missing = []
    for c in cmds.ALL:
        if c.cli and c.__name__ not in cli:
            missing.append(f"{c.cmd}: declares the CLI face {c.cli!r}, which cli/ never runs")
        if c.tui and c.__name__ not in tui:
            missing.append(f"{c.cmd}: declares the TUI face {c.tui!r}, which tui/ never runs")
        if not (c.cli and c.tui) and not c.no_face:
            missing.append(f"{c.cmd}: no {'CLI' if not c.cli else 'TUI'} face and no reason")
    assert not missing, "\n".join(missing)


def test_the_faces_found_above_really_are_there() -> None:
    # the four the structure issue found missing: share limits, trackers, peers, sequential
    for c in (cmds.SetShareLimits, cmds.AddTrackers, cmds.RemoveTrackers, cmds.AddPeers,
              cmds.SetSequential):
        assert c.cli and c.tui, c


def test_cli_faces_name_real_cli_commands() -> None:
    from tidegate.cli.main import build_parser

    parser = build_parser()
    top = next(a.choices for a in parser._actions if isinstance(a.choices, dict))
    for c in cmds.ALL:
        if not c.cli:
            continue
        words = c.cli.split()
        assert words[0] in top, f"{c.cmd}: `tidegate {words[0]}` does not exist"
        if len(words) > 1 and re.fullmatch("[a-z]+", words[1]):
            sub = top[words[0]]
            subs = [a for a in sub._actions if getattr(a, "choices", None)
                    and isinstance(a.choices, dict)]
            assert subs and words[1] in subs[0].choices, \
                f"{c.cmd}: `tidegate {c.cli}` does not exist"


def _api_rows() -> dict[str, str]:
    text = (ROOT / "docs" / "api.md").read_text()
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z_]+)` \|.*$", text, re.M)}


@pytest.mark.parametrize("command", cmds.ALL, ids=lambda c: c.cmd)
def test_docs_api_lists_every_command_with_every_argument(
        command: type[cmds.Command[Any]]) -> None:
    rows = _api_rows()
    assert command.cmd in rows, f"docs/api.md has no row for `{command.cmd}`"
    for field in msgspec.structs.fields(command):
        assert f"`{field.encode_name}:" in rows[command.cmd], \
            f"docs/api.md does not list `{command.cmd}`'s argument `{field.encode_name}`"


def test_docs_api_lists_the_durable_commands_exactly() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    para = re.search(r"Replies that change what a torrent's resume file records \((.*?)\)",
                     text, re.S)
    assert para is not None
    listed = set(re.findall(r"`([a-z_]+)`", para.group(1)))
    assert listed == {c.cmd for c in cmds.ALL if c.durable}


def test_docs_api_names_the_protocol_version() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    assert f"protocol `{p.VERSION.decode()}`" in text.splitlines()[0]


def test_a_remote_command_waits_as_long_as_its_declaration_says() -> None:
    sent: list[tuple[str, float | None, dict[str, Any]]] = []

    class Recording(RemoteEngine):
        def call(self, cmd: str, timeout: float | None = None, **args: Any) -> Any:
            sent.append((cmd, timeout, args))

    client = Recording("ipc:///nonexistent/x.sock", timeout=15.0)
    client.run(cmds.SitePublish("blog"))
    client.run(cmds.Pause("ab" * 20))
    client.run(cmds.SiteFollow("a" * 56 + ".onion"))
    assert sent == [("site_publish", 3600.0, {"site": "blog", "folder": None}),
                    ("pause", None, {"torrent_id": "ab" * 20}),
                    ("site_follow", None, {"address": "a" * 56 + ".onion"})]


def test_a_site_command_to_an_engine_without_sites_says_why() -> None:
    engine = Engine.__new__(Engine)
    engine.no_sites = "this engine runs no sites: because"
    fut = engine.run(cmds.SiteCheck("blog"))
    with pytest.raises(Exception, match="because"):
        fut.result(1)
