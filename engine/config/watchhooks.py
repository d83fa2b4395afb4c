"""The ``[watch]`` and ``[hooks]`` sections: watch folders and event hooks (docs/automation.md).

Both are read from the config file only. :func:`keep_file_only` is how a live
``apply_config`` (the API's, or anything in-process) is kept from setting or changing
them: a program that runs hooks must never be reachable from a remote API (the way
qBittorrent's CVE-2023-30801 came in).
"""

from __future__ import annotations

from typing import Literal, TypeVar

import msgspec

from ..errors import ConfigError

C = TypeVar("C", bound=msgspec.Struct)

MAX_FOLDERS = 64
MAX_ARGS = 256


class WatchFolder(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One watch folder (``[[watch.folders]]``)."""

    path: str
    """The folder to watch (``~`` is expanded). Its ``.torrent`` files and ``.magnet`` files
    (text holding a magnet URI) are added once, then moved to ``<path>/.added/`` (or
    renamed, ``done = "rename"``); a bad one is renamed ``NAME.invalid`` with the error in
    ``NAME.error.txt`` beside it."""
    category: str = ""
    """Category given to what is added from here ("" none; it must exist:
    ``tidegate category add``)."""
    save_path: str = ""
    """Download folder for what is added from here ("" the category's or the default)."""
    done: Literal["move", "rename"] = "move"
    """What happens to an added file: moved to ``<path>/.added/``, or renamed
    ``NAME.added`` in place."""

    def __post_init__(self) -> None:
        if not self.path.strip() or "\0" in self.path:
            raise ValueError("a watch folder's path must be a folder name")


class WatchConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Watch folders: torrents dropped in a folder are added (docs/automation.md)."""

    folders: list[WatchFolder] = msgspec.field(default_factory=list)
    """The folders watched (none by default)."""
    interval: float = 2.0
    """Seconds between two looks at the folders. A file is added once its size and
    modification time are the same at two looks (so one still being written is waited
    for)."""
    max_per_poll: int = 200
    """Files added (or refused) at most per look; the rest wait for the next ones."""

    def __post_init__(self) -> None:
        if not 0.05 <= self.interval <= 86400:
            raise ValueError("watch.interval must be between 0.05 and 86400 seconds")
        if not 1 <= self.max_per_poll <= 100_000:
            raise ValueError("watch.max_per_poll must be between 1 and 100000")
        if len(self.folders) > MAX_FOLDERS:
            raise ValueError(f"at most {MAX_FOLDERS} watch folders")


def _check_command(name: str, argv: list[str]) -> None:
    if len(argv) > MAX_ARGS:
        raise ValueError(f"hooks.{name} has more than {MAX_ARGS} arguments")
    if argv and not argv[0].strip():
        raise ValueError(f"hooks.{name}: the first item must name the program")
    if any("\0" in a for a in argv):
        raise ValueError(f"hooks.{name}: an argument holds a NUL character")


class HooksConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Programs run on torrent events (off by default; docs/automation.md). Each is a list:
    the program, then its arguments, run as they are, never through a shell. Its
    environment carries ``TIDEGATE_EVENT``, ``TIDEGATE_HASH``, ``TIDEGATE_NAME``,
    ``TIDEGATE_PATH`` and ``TIDEGATE_CATEGORY``. Read from the config file only: no API
    can set or change them."""

    on_complete: list[str] = msgspec.field(default_factory=list)
    """Run when a torrent completes (``["/usr/local/bin/done.sh", "--x"]``; [] none)."""
    on_add: list[str] = msgspec.field(default_factory=list)
    """Run when a torrent is added ([] none)."""
    on_error: list[str] = msgspec.field(default_factory=list)
    """Run when a torrent stops on an error ([] none)."""
    max_running: int = 2
    """Hooks running at once; more wait their turn (up to ``max_queued``)."""
    max_queued: int = 1000
    """Hooks waiting to run at most; past that a new one is dropped (and logged)."""
    timeout: float = 600.0
    """Seconds a hook may run; then it and what it started are killed."""

    def __post_init__(self) -> None:
        for name in ("on_complete", "on_add", "on_error"):
            _check_command(name, getattr(self, name))
        if not 1 <= self.max_running <= 64:
            raise ValueError("hooks.max_running must be between 1 and 64")
        if not 1 <= self.max_queued <= 100_000:
            raise ValueError("hooks.max_queued must be between 1 and 100000")
        if not 0.1 <= self.timeout <= 86400:
            raise ValueError("hooks.timeout must be between 0.1 and 86400 seconds")


FILE_ONLY = ("hooks", "watch")
"""Sections only the config file sets: a live ``apply_config`` keeps them."""


def keep_file_only(new: C, current: C) -> C:
    """``new`` (a :class:`~.sections.Config`) with the file-only sections of ``current``.

    A section left at its default in ``new`` (a caller that does not know of it) is
    kept as it is; one that names anything else is refused, naming the section.
    """
    for name in FILE_ONLY:
        wanted, now = getattr(new, name), getattr(current, name)
        if wanted != now and wanted != type(wanted)():
            raise ConfigError(f"[{name}] is read from the config file only: apply_config "
                              "cannot set or change it (edit the file and restart)",
                              key=name)
    return msgspec.structs.replace(new, **{n: getattr(current, n) for n in FILE_ONLY})
