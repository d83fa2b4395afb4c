"""Every engine command, declared once.

A command is a frozen msgspec Struct: its fields are its arguments (with the wire types
that bound every number), its generic parameter is its result (``Pause(Command[None])``),
its docstring says what it does for people, and its class variables say what the
callers need to know: the wire name, how long a remote caller waits, whether the reply
waits for the disk, and which face runs it in the CLI and the TUI (or why none does).

From this one list:

* :meth:`engine.Engine.run` and :meth:`engine.node.Node.run` execute a command in-process
  (their implementations are marked with :func:`implements`);
  :meth:`engine.api.RemoteEngine.run` sends it;
* the API server decodes a request's arguments into the command named by ``cmd``
  (:data:`BY_NAME`, the tagged union: the tag is the request's ``cmd``);
* ``tests/api/test_commands.py`` fails when a command has no implementation, no face
  (a construction of the class in ``cli/`` and in ``tui/``) or no row in docs/api.md.

Adding a command is one class here, its implementation, its faces and its docs row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_args

import msgspec

from .command_base import Command, R  # noqa: F401  (R: re-exported, `Command[R]`)
from .commands_apps import APP_COMMANDS, APP_ORDER
from .commands_comments import *  # noqa: F403  (its __all__: Comment*, COMMENT_ORDER)
from .commands_rss import (
    RSS_COMMANDS,
    RssFeedAdd,
    RssFeedRemove,
    RssList,
    RssRefresh,
    RssRuleRemove,
    RssRuleSet,
)
from .commands_schedule import SetAltSpeed
from .commands_stream import TorrentRead
from .commands_watchhooks import WATCH_COMMANDS, WatchList
from .config import Config
from .labels import Ids, Name, Names
from .requests import (
    MAX_FILES,
    MAX_URLS,
    AddRequest,
    FileIndex,
    Priority,
    Rate,
    Ratio,
    SeedTime,
)
from .state import ChainEntryInfo, OnionReply, SiteReport, SiteState, TorrentDetails

LONG_TIMEOUT = 3600.0
"""Seconds a remote caller waits for a command that hashes a whole folder."""

Urls = Annotated[list[str], msgspec.Meta(max_length=MAX_URLS)]
Priorities = Annotated[dict[FileIndex, Priority], msgspec.Meta(max_length=MAX_FILES)]


# ---------------------------------------------------------------- torrents


class Add(Command[str], frozen=True, forbid_unknown_fields=True):
    """Add a torrent; resolves to its id once libtorrent has it."""

    cmd = "add"
    durable = True
    cli = "add"
    tui = "a"
    request: AddRequest


class Pause(Command[None], frozen=True, forbid_unknown_fields=True):
    """Stop a torrent until it is resumed."""

    cmd = "pause"
    durable = True
    cli = "pause"
    tui = "pause/resume (p)"
    torrent_id: str


class Resume(Command[None], frozen=True, forbid_unknown_fields=True):
    """Start a paused (or quarantined, or choose-files) torrent."""

    cmd = "resume"
    durable = True
    cli = "resume"
    tui = "pause/resume (p)"
    torrent_id: str


class Remove(Command[None], frozen=True, forbid_unknown_fields=True):
    """Remove a torrent (and its data with ``delete_data``); a site's torrent only with
    ``force``."""

    cmd = "remove"
    cli = "rm"
    tui = "remove (x / delete)"
    torrent_id: str
    delete_data: bool = False
    force: bool = False


class Recheck(Command[None], frozen=True, forbid_unknown_fields=True):
    """Hash-check a torrent's data again."""

    cmd = "recheck"
    cli = "recheck"
    tui = "verify (v)"
    torrent_id: str


class Reannounce(Command[list[str]], frozen=True, forbid_unknown_fields=True):
    """Announce now; resolves to where (``["2 trackers", "DHT"]``)."""

    cmd = "reannounce"
    cli = "reannounce"
    tui = "reannounce (n)"
    torrent_id: str


class Move(Command[str], frozen=True, forbid_unknown_fields=True):
    """Move a torrent's data; resolves to the new folder once moved."""

    cmd = "move"
    durable = True
    timeout = LONG_TIMEOUT
    cli = "move"
    tui = "m"
    torrent_id: str
    folder: str


class SetLimits(Command[None], frozen=True, forbid_unknown_fields=True):
    """A torrent's rate limits in bytes/s (0 unlimited, None leaves it)."""

    cmd = "set_limits"
    durable = True
    cli = "limit ID --down/--up"
    tui = "l"
    torrent_id: str
    down: Rate | None = None
    up: Rate | None = None


class SetGlobalLimits(Command[None], frozen=True, forbid_unknown_fields=True):
    """The session's rate limits in bytes/s (0 unlimited, None leaves it)."""

    cmd = "set_global_limits"
    cli = "limit --down/--up"
    tui = "L"
    down: Rate | None = None
    up: Rate | None = None


class SetShareLimits(Command[None], frozen=True, forbid_unknown_fields=True):
    """A torrent's ratio and seed-time (s) limits; -1 follows the config, 0 disables."""

    cmd = "set_share_limits"
    durable = True
    cli = "limit ID --ratio/--seed-time"
    tui = "share limits (r)"
    torrent_id: str
    ratio: Ratio | None = None
    seed_time: SeedTime | None = None


class SetFilePriorities(Command[None], frozen=True, forbid_unknown_fields=True):
    """Priorities (0 skip .. 7 high) of the given file indexes."""

    cmd = "set_file_priorities"
    durable = True
    cli = "prio"
    tui = "detail screen, files tab (space, + / -; f opens it)"
    torrent_id: str
    priorities: Priorities


class SetSequential(Command[None], frozen=True, forbid_unknown_fields=True):
    """Download a torrent's pieces in order (for playing while it downloads), or not."""

    cmd = "set_sequential"
    durable = True
    cli = "sequential"
    tui = "sequential (o)"
    torrent_id: str
    on: bool


class QueueMove(Command[None], frozen=True, forbid_unknown_fields=True):
    """Move a torrent up, down, to the top or bottom of the queue."""

    cmd = "queue_move"
    cli = "queue"
    tui = "queue (K J U B)"
    torrent_id: str
    where: str


class AddTrackers(Command[None], frozen=True, forbid_unknown_fields=True):
    """Add tracker URLs (http, https, udp) to a torrent."""

    cmd = "add_trackers"
    durable = True
    cli = "tracker add"
    tui = "detail screen, trackers tab (a)"
    torrent_id: str
    urls: Urls


class RemoveTrackers(Command[None], frozen=True, forbid_unknown_fields=True):
    """Remove tracker URLs from a torrent."""

    cmd = "remove_trackers"
    durable = True
    cli = "tracker rm"
    tui = "detail screen, trackers tab (d / delete)"
    torrent_id: str
    urls: Urls


class AddPeers(Command[None], frozen=True, forbid_unknown_fields=True):
    """Connect to peers (``IP:PORT``); they are kept and dialled again at every start."""

    cmd = "add_peers"
    durable = True
    cli = "peer add"
    tui = "detail screen, peers tab (a)"
    torrent_id: str
    peers: Urls


class Flush(Command[None], frozen=True, forbid_unknown_fields=True):
    """Resolve once a torrent's written data is on disk."""

    cmd = "flush"
    no_face = "used by `download` and `seed` to know data is on disk before exiting"
    torrent_id: str


class Details(Command[TorrentDetails], frozen=True, forbid_unknown_fields=True):
    """Files, peers, trackers and pieces of one torrent."""

    cmd = "details"
    cli = "show"
    tui = "enter (the detail screen)"
    torrent_id: str


class SaveResumeData(Command[None], frozen=True, forbid_unknown_fields=True):
    """Resolve once every torrent's resume data is on disk."""

    cmd = "save_resume_data"
    no_face = "the engine saves by itself (on every change, on a timer and at stop)"


class SessionSettings(Command[dict[str, Any]], frozen=True, forbid_unknown_fields=True):
    """libtorrent's effective settings (diagnostics)."""

    cmd = "session_settings"
    no_face = "diagnostics for tests and scripts"


class ApplyConfig(Command[None], frozen=True, forbid_unknown_fields=True):
    """Apply a whole configuration live (what libtorrent can change without a restart)."""

    cmd = "apply_config"
    no_face = "the config file is the face: the daemon and the TUI read it at start"
    config: Config


# ---------------------------------------------------------------- categories and tags


class CategoryAdd(Command[None], frozen=True, forbid_unknown_fields=True):
    """Add a category, or give one a new save path (its torrents stay where they are)."""

    cmd = "category_add"
    cli = "category add"
    tui = "category and tags (g): a new category"
    name: Name
    save_path: str = ""


class CategoryRemove(Command[None], frozen=True, forbid_unknown_fields=True):
    """Remove categories; their torrents are left with none."""

    cmd = "category_remove"
    durable = True
    cli = "category rm"
    no_face = "TUI: not yet; the CLI's `tidegate category rm`"
    names: Names


class SetCategory(Command[None], frozen=True, forbid_unknown_fields=True):
    """Put torrents in a category ("" none); its save path, if any, moves their data."""

    cmd = "set_category"
    durable = True
    timeout = LONG_TIMEOUT
    cli = "category set"
    tui = "category and tags (g)"
    ids: Ids
    category: Name


class AddTags(Command[None], frozen=True, forbid_unknown_fields=True):
    """Give torrents tags."""

    cmd = "add_tags"
    durable = True
    cli = "tag --add"
    tui = "category and tags (g)"
    ids: Ids
    tags: Names


class RemoveTags(Command[None], frozen=True, forbid_unknown_fields=True):
    """Take tags from torrents (no tags: all of them)."""

    cmd = "remove_tags"
    durable = True
    cli = "tag --remove"
    tui = "category and tags (g)"
    ids: Ids
    tags: Names


# ---------------------------------------------------------------- sites

SITE_TUI_GAP = ("TUI: not yet; the sites screen (S) follows, publishes, checks and unfollows, "
                "the CLI's `tidegate site` does the rest")


class SiteNew(Command[SiteState], frozen=True, forbid_unknown_fields=True):
    """Create a site: a new key and its GENESIS; ``folder`` is what it publishes."""

    cmd = "site_new"
    cli = "site new"
    no_face = SITE_TUI_GAP
    name: str
    folder: str | None = None


class SiteImport(Command[SiteState], frozen=True, forbid_unknown_fields=True):
    """Own a site again from the text of its key file."""

    cmd = "site_import"
    cli = "site import"
    no_face = SITE_TUI_GAP
    name: str
    key: str
    folder: str | None = None


class SitePublish(Command[SiteState], frozen=True, forbid_unknown_fields=True):
    """Snapshot a site's folder, append an UPDATE, seed it and announce it."""

    cmd = "site_publish"
    timeout = LONG_TIMEOUT
    cli = "site publish"
    tui = "sites screen (p)"
    site: str
    folder: str | None = None


class SiteFollow(Command[SiteState], frozen=True, forbid_unknown_fields=True):
    """Follow a site by address (or BEP 46 link): fetch, verify and seed each new snapshot."""

    cmd = "site_follow"
    cli = "site follow"
    tui = "sites screen (f)"
    address: str


class SiteUnfollow(Command[None], frozen=True, forbid_unknown_fields=True):
    """Stop following (or owning) a site; its data is kept unless ``delete_data``."""

    cmd = "site_unfollow"
    cli = "site unfollow"
    tui = "sites screen (u)"
    site: str
    delete_data: bool = False


class SiteCheck(Command[None], frozen=True, forbid_unknown_fields=True):
    """Look a site's head up now instead of at the next poll."""

    cmd = "site_check"
    cli = "site check"
    tui = "sites screen (c)"
    site: str


class SiteList(Command[list[SiteState]], frozen=True, forbid_unknown_fields=True):
    """Every site (also in every snapshot's ``sites``)."""

    cmd = "site_list"
    cli = "site ls"
    no_face = "the TUI's sites screen (S) shows `Snapshot.sites`, current without asking"


class SiteLog(Command[list[ChainEntryInfo]], frozen=True, forbid_unknown_fields=True):
    """A site's chain, entry by entry."""

    cmd = "site_log"
    cli = "site log"
    no_face = SITE_TUI_GAP
    site: str


class SiteVerify(Command[SiteReport], frozen=True, forbid_unknown_fields=True):
    """Verify a site's chain and newest snapshot on disk (and, with ``rebuild``, rebuild
    the snapshot from a source folder and compare)."""

    cmd = "site_verify"
    timeout = LONG_TIMEOUT
    cli = "site verify"
    no_face = SITE_TUI_GAP
    site: str
    rebuild: str | None = None


class SiteOnion(Command[OnionReply], frozen=True, forbid_unknown_fields=True):
    """Switch an owned site's onion service on or off, and allow or remove a client."""

    cmd = "site_onion"
    cli = "site onion"
    no_face = SITE_TUI_GAP
    site: str
    enabled: bool | None = None
    add_client: str = ""
    client_key: str = ""
    remove_client: str = ""


ALL: tuple[type[Command[Any]], ...] = (
    Add, Pause, Resume, Remove, Recheck, Reannounce, Move, SetLimits, SetGlobalLimits,
    SetShareLimits, SetFilePriorities, SetSequential, QueueMove, AddTrackers, RemoveTrackers,
    AddPeers, Flush, Details, SaveResumeData, SessionSettings, ApplyConfig, CategoryAdd,
    CategoryRemove, SetCategory, AddTags, RemoveTags,
    SiteNew, SiteImport, SitePublish, SiteFollow, SiteUnfollow, SiteCheck, SiteList, SiteLog,
    SiteVerify, SiteOnion, WatchList,
    RssFeedAdd, RssFeedRemove, RssRuleSet, RssRuleRemove, RssList, RssRefresh,
    SetAltSpeed, TorrentRead, *APP_ORDER, *COMMENT_ORDER,  # noqa: F405
)
"""Every engine command, in the order docs/api.md lists them."""

BY_NAME: dict[str, type[Command[Any]]] = {c.cmd: c for c in ALL}
SITE_COMMANDS = frozenset(c for c in ALL if c.cmd.startswith("site_"))
"""Commands the sites thread runs (a :class:`engine.node.Node`, not the torrent engine)."""
NODE_COMMANDS = (SITE_COMMANDS | RSS_COMMANDS | WATCH_COMMANDS | APP_COMMANDS
                 | frozenset(COMMENT_ORDER))  # noqa: F405
"""Commands the node runs itself: the sites thread's and the automation's."""


def result_type(cmd: type[Command[Any]]) -> Any:
    """The result type a command declares (``Command[R]``'s ``R``)."""
    for base in getattr(cmd, "__orig_bases__", ()):
        args = get_args(base)
        if args:
            return args[0]
    raise TypeError(f"{cmd.__name__} does not declare its result type")


def arguments(cmd: Command[Any]) -> tuple[Any, ...]:
    """The command's arguments in declaration order (how its implementation takes them)."""
    return tuple(getattr(cmd, f) for f in cmd.__struct_fields__)


F = TypeVar("F", bound=Callable[..., Any])


def implements(cmd: type[Command[Any]]) -> Callable[[F], F]:
    """Mark a method as the implementation of ``cmd``: it takes the command's fields as
    positional arguments, in order, and returns a Future of its result."""
    def mark(fn: F) -> F:
        fn.__implements__ = cmd  # type: ignore[attr-defined]
        return fn
    return mark


Implementation = Callable[..., Any]


def implementations(cls: type) -> dict[type[Command[Any]], Implementation]:
    """The methods of ``cls`` (and its bases) marked with :func:`implements`."""
    found: dict[type[Command[Any]], Implementation] = {}
    for klass in reversed(cls.__mro__):
        for member in vars(klass).values():
            cmd = getattr(member, "__implements__", None)
            if cmd is not None:
                found[cmd] = member
    return found
