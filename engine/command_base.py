"""The base of every engine command (:class:`Command`), apart from the list of commands.

:mod:`engine.commands` declares the commands and lists them (``ALL``); commands of a part
that lives in its own module (``engine/commands_<part>.py``) subclass :class:`Command`
from here, so that ``commands`` may import them for its list without an import cycle.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

import msgspec

R = TypeVar("R")


class Command(msgspec.Struct, Generic[R], frozen=True, forbid_unknown_fields=True):
    """One request to the engine; its result is ``R``."""

    cmd: ClassVar[str]
    """The wire name (``cmd`` of a request, docs/api.md)."""
    timeout: ClassVar[float | None] = None
    """Seconds a remote caller waits; None: the client's default."""
    durable: ClassVar[bool] = False
    """The reply comes once what the command changed is on disk (docs/RELIABILITY.md)."""
    cli: ClassVar[str] = ""
    """The CLI command that runs it (``tidegate <cli> ...``)."""
    tui: ClassVar[str] = ""
    """How the TUI runs it: a key's action or a screen's control."""
    no_face: ClassVar[str] = ""
    """Why a user has no face for it (an internal or diagnostic command)."""
