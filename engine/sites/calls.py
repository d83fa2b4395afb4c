"""Engine commands as the sites thread uses them: bounded waits, site torrents added and
removed the same way by the Blockchain Handler and the Hosting Component."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..errors import DuplicateTorrentError, EngineError, TidegateError
from ..requests import AddRequest

if TYPE_CHECKING:
    from ..services import TorrentService

COMMAND_TIMEOUT = 60.0
"""Seconds the sites thread waits for one engine command."""
RETRY_NUDGE = 5.0
"""Seconds between re-announces of a download that has found no peer yet."""


def wait(fut: Future[Any], what: str) -> Any:
    """The command's result, or EngineError naming ``what`` after :data:`COMMAND_TIMEOUT`."""
    try:
        return fut.result(COMMAND_TIMEOUT)
    except TimeoutError:
        raise EngineError(f"{what}: the engine did not answer within {COMMAND_TIMEOUT:g} s") \
            from None


def site_torrent(site: str, role: str, **fields: Any) -> AddRequest:
    """An add request for a site's torrent: seeded without end (share limits off), marked
    as ``site``'s (its address) ``role`` (``snapshot <seq>`` or ``chain``)."""
    return AddRequest(ratio_limit=0.0, seed_time_limit=0, site=site, site_role=role,
                      **fields)


def add_torrent(engine: TorrentService, request: AddRequest, what: str) -> str:
    """Add a torrent; one already in the session counts as added (its id)."""
    try:
        return str(wait(engine.add(request), what))
    except DuplicateTorrentError as exc:
        return str(exc.torrent_id)


def remove_torrent(engine: TorrentService, torrent_id: str, delete_data: bool) -> None:
    """Remove a torrent if the session has it; failures are left to the next look."""
    if torrent_id and torrent_id in engine.snapshot.torrents:
        try:
            wait(engine.remove(torrent_id, delete_data, force=True), "remove")
        except TidegateError:
            pass
