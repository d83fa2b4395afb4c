"""The engine's exception hierarchy.

One root (:class:`TidegateError`) so frontends can catch everything the engine
raises on purpose, and subclasses per failure so they can tell a bad input (the
user's fault, or a hostile file) from a fault of ours. Foreign exceptions
(libtorrent's RuntimeError, OSError) are translated into these at the boundary.
"""

from __future__ import annotations

import traceback


class TidegateError(Exception):
    """Root of every error the engine raises deliberately."""


class ConfigError(TidegateError):
    """The configuration file or a configuration value is invalid.

    The message names the file and the key path.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        where = " ".join(part for part in (path and f"in {path}", key and f"at {key}") if part)
        super().__init__(f"{message} ({where})" if where else message)
        self.path = path
        self.key = key


class InputError(TidegateError):
    """Something handed to the engine (a .torrent, magnet, hash, path) is invalid.

    Attributes:
        source: the input as the user gave it (a path, a URI), for the message.
    """

    def __init__(self, source: str, reason: str):
        shown = source if len(source) <= 120 else source[:117] + "..."
        shown = shown if shown.strip() else "(empty input)"
        super().__init__(f"{shown}: {reason}")
        self.source = source
        self.reason = reason


class BadTorrentError(InputError):
    """A .torrent file is unreadable, oversized, malformed or unsafe."""


class BadMagnetError(InputError):
    """A magnet URI or bare info-hash is malformed."""


class UnsafePathError(BadTorrentError):
    """A torrent names a file that would land outside its download folder."""


class UnknownCategoryError(InputError):
    """A command names a category that was never added (``category_add``)."""

    def __init__(self, category: str):
        super().__init__(category, "no such category (add it first: `tidegate category "
                                   "add NAME`)")


class EngineError(TidegateError):
    """A command could not be carried out by the engine."""


class EngineStoppedError(EngineError):
    """The engine is not running (never started, stopped, or crashed)."""


class UnknownTorrentError(EngineError):
    """No torrent matches the given id."""

    def __init__(self, torrent_id: str, message: str = ""):
        super().__init__(message or f"no torrent with id {torrent_id!r}")
        self.torrent_id = torrent_id


class DuplicateTorrentError(EngineError):
    """The torrent is already in the session."""

    def __init__(self, torrent_id: str):
        super().__init__(f"torrent {torrent_id} is already added")
        self.torrent_id = torrent_id


class SiteError(EngineError):
    """A site command could not be carried out (unknown site, missing key, bad folder)."""

    def __init__(self, site: str, message: str):
        super().__init__(f"{site}: {message}")
        self.site = site


class UnknownSiteError(SiteError):
    """No published or followed site matches the given name or address."""

    def __init__(self, site: str):
        super().__init__(site, "no such site (see `tidegate site ls`)")


class SiteTorrentError(EngineError):
    """A command that would remove a torrent a site needs (its snapshot or chain), asked
    without ``force``: the site is left whole, and the message says how to drop it."""

    def __init__(self, torrent_id: str, name: str, site: str, site_name: str, role: str):
        named = f"{site_name!r} ({site})" if site_name else site
        super().__init__(
            f"{name!r} is the {role or 'torrent'} of site {named}: removing it would break "
            f"the site. Stop following it with `tidegate site unfollow {site}` (which "
            f"removes its torrents), or remove the torrent anyway with --force")
        self.torrent_id = torrent_id
        self.site = site


class EngineLockedError(EngineError):
    """Another process already runs an engine on this data directory."""


class CreateError(TidegateError):
    """Torrent creation failed (unreadable path, empty folder, bad piece size)."""


class CancelledError(TidegateError):
    """A long operation was cancelled by the caller."""


class ApiError(TidegateError):
    """Talking to a daemon over the engine API failed."""


class DaemonUnavailableError(ApiError):
    """No daemon answers at the endpoint (not running, unreachable, or our key is refused)."""


class ProtocolError(ApiError):
    """The daemon rejected a request as malformed, unknown, oversized or of another version.

    Attributes:
        code: the protocol's error code (``bad_request``, ``unknown_command``, ...).
    """

    def __init__(self, message: str, code: str = "bad_request"):
        super().__init__(message)
        self.code = code


def describe(exc: BaseException) -> str:
    """``Kind: message (file.py:line)``: enough for a user to report, no traceback."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if frames:
        last = frames[-1]
        where = f" ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    text = str(exc)
    if len(text) > 300:
        text = text[:300] + "…"
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"
