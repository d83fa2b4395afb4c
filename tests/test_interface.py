"""The in-process Engine and the RemoteEngine offer the same interface."""

from __future__ import annotations

import inspect

from tidegate.engine import Engine
from tidegate.engine.api import RemoteEngine
from tidegate.engine.api.protocol import COMMANDS
from tidegate.engine.api.server import HANDLERS
from tidegate.engine.interface import EngineAPI


def _members(cls: type) -> dict[str, inspect.Signature | None]:
    out: dict[str, inspect.Signature | None] = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        out[name] = inspect.signature(member) if callable(member) else None
    return out


def test_both_engines_have_every_method_of_the_interface_with_the_same_parameters() -> None:
    wanted = {n: s for n, s in _members(EngineAPI).items()}
    assert len(wanted) > 20
    for cls in (Engine, RemoteEngine):
        have = _members(cls)
        for name, sig in wanted.items():
            assert name in have, f"{cls.__name__} lacks {name}"
            if sig is not None:
                assert have[name] is not None
                assert list(sig.parameters) == list(have[name].parameters), \
                    f"{cls.__name__}.{name}{have[name]} differs from the interface {sig}"


def test_every_engine_command_is_on_the_wire() -> None:
    methods = {n for n, s in _members(EngineAPI).items() if s is not None}
    methods -= {"wait_for", "subscribe", "unsubscribe"}  # local to each side
    assert methods == set(HANDLERS), "each interface command has a server handler"
    assert set(HANDLERS) <= set(COMMANDS)
    assert set(COMMANDS) - set(HANDLERS) == {"hello", "snapshot", "shutdown"}
