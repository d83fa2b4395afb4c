"""Errors on the wire: one table maps each exception class to a code and back.

The daemon replies with :func:`error_body` of what a command raised; the client raises
:func:`error_from_body` of it, the same class the in-process engine would raise, with its
attributes (``torrent_id``, ``site``...) restored.
"""

from __future__ import annotations

from .. import errors
from ..chain.errors import ChainRejected
from .messages import ErrorBody, Reply

ERROR_CODES: dict[str, type[errors.TidegateError]] = {
    "unknown_torrent": errors.UnknownTorrentError,
    "duplicate_torrent": errors.DuplicateTorrentError,
    "unsafe_path": errors.UnsafePathError,
    "bad_torrent": errors.BadTorrentError,
    "bad_magnet": errors.BadMagnetError,
    "unknown_category": errors.UnknownCategoryError,
    "bad_input": errors.InputError,
    "bad_config": errors.ConfigError,
    "engine_stopped": errors.EngineStoppedError,
    "engine_locked": errors.EngineLockedError,
    "unknown_site": errors.UnknownSiteError,
    "site_torrent": errors.SiteTorrentError,
    "site_error": errors.SiteError,
    "chain_rejected": ChainRejected,
    "engine_error": errors.EngineError,
    "create_error": errors.CreateError,
    "error": errors.TidegateError,
    # protocol faults: the request itself was refused
    "bad_version": errors.ProtocolError,
    "bad_frame": errors.ProtocolError,
    "bad_request": errors.ProtocolError,
    "bad_args": errors.ProtocolError,
    "unknown_command": errors.ProtocolError,
    "too_large": errors.ProtocolError,
    "busy": errors.ProtocolError,
    "internal": errors.ProtocolError,
}
"""Error code on the wire -> the exception the client raises (the in-process one)."""

_FIELDS = ("torrent_id", "source", "reason", "path", "key", "site")

_ATTRIBUTES: tuple[tuple[type[errors.TidegateError], tuple[str, ...]], ...] = (
    (errors.UnknownTorrentError, ("torrent_id",)),
    (errors.DuplicateTorrentError, ("torrent_id",)),
    (errors.SiteTorrentError, ("torrent_id", "site")),
    (errors.InputError, ("source", "reason")),
    (errors.ConfigError, ("path", "key")),
    (errors.SiteError, ("site",)),
    (ChainRejected, ("reason",)),
)
"""The attributes each exception class carries (None is a value too)."""


def error_body(exc: BaseException) -> ErrorBody:
    """The wire form of an exception raised by an engine command."""
    if isinstance(exc, errors.ProtocolError):
        return ErrorBody(exc.code, str(exc))
    code = "internal"
    for name, cls in ERROR_CODES.items():
        if type(exc) is cls:
            code = name
            break
    else:
        for name, cls in ERROR_CODES.items():
            if isinstance(exc, cls) and cls is not errors.ProtocolError:
                code = name
                break
    fields = {f: str(getattr(exc, f)) for f in _FIELDS if getattr(exc, f, None) is not None}
    message = str(exc) if code != "internal" else f"internal error: {exc!r}"
    return ErrorBody(code, message, fields)


def error_from_body(body: ErrorBody) -> errors.TidegateError:
    """The exception a remote error stands for, with the daemon's message intact."""
    cls = ERROR_CODES.get(body.code, errors.TidegateError)
    if cls is errors.ProtocolError:
        return errors.ProtocolError(body.message, body.code)
    exc = cls.__new__(cls)
    Exception.__init__(exc, body.message)
    for kind, names in _ATTRIBUTES:
        if issubclass(cls, kind):
            for name in names:
                setattr(exc, name, body.fields.get(name))
    return exc


def protocol_error(code: str, message: str, req_id: int | None = None) -> Reply:
    return Reply(req_id, False, error=ErrorBody(code, message))
