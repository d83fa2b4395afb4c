"""The qBittorrent API's HTTP face: one aiohttp handler for ``/api/v2/<group>/<verb>``.

A request passes :mod:`.guard`'s checks, then its parameters (the query string, and a
POST's url-encoded or multipart body, as qBittorrent reads both) go to the endpoint's
function in :mod:`.reads` or :mod:`.writes`. Those raise :class:`ApiError` with
qBittorrent's status and text (400 Bad Request, 404 Not Found, 409 Conflict, 415...).
Endpoints that change something need POST (405 otherwise, as qBittorrent 4.5); those
that only read take GET or POST (cross-seed POSTs ``torrents/info``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from aiohttp import web

from ..errors import TidegateError, UnknownTorrentError
from . import guard
from .auth import Bans, Sessions, check_password, read_hash
from .mapping import qbt_hash
from .sync import SyncState

if TYPE_CHECKING:
    from ..commands import Command
    from ..config import Config
    from ..state import Snapshot, TorrentState

MAX_FORM_FIELDS = 1000
MAX_LOGIN_BODY = 64 * 1024
"""A login (read before anyone is known) is a user name and a password: bytes beyond
this are refused unread."""


class Host(Protocol):
    """What the endpoint needs of the node: its snapshot, its commands, its config."""

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def config(self) -> Config: ...

    def run(self, cmd: Command[Any]) -> Future[Any]: ...

    def glance(self) -> None:
        """A client read or wrote: keep the snapshots fresh while clients poll."""
        ...


class ApiError(Exception):
    """An answer other than 200: qBittorrent's status and text."""

    def __init__(self, status: int, text: str = ""):
        super().__init__(text)
        self.status = status
        self.text = text or {400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                             405: "Method Not Allowed", 409: "Conflict",
                             415: "Unsupported Media Type"}.get(status, "Error")


class Request:
    """One call's parameters, the session and the app."""

    def __init__(self, app: QbtApp, params: dict[str, str], files: list[tuple[str, bytes]],
                 sid: str, address: str):
        self.app = app
        self.params = params
        self.files = files
        self.sid = sid
        self.address = address

    def get(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)

    def need(self, name: str) -> str:
        if name not in self.params:
            raise ApiError(400)
        return self.params[name]

    def flag(self, name: str) -> bool:
        return self.params.get(name, "").strip().lower() == "true"


Reply = str | bytes | dict[str, Any] | list[Any] | None
Endpoint = Callable[[Request], Awaitable[Reply]]


class QbtApp:
    """Sessions, bans, the sync state and the endpoint table, on the service's loop."""

    def __init__(self, host: Host, data_dir: Path, default_save_path: str,
                 port: Callable[[], int], reads: dict[str, Endpoint],
                 writes: dict[str, Endpoint]):
        cfg = host.config.qbt
        self.host = host
        self.data_dir = data_dir
        self.default_save_path = default_save_path
        self.port = port
        self.bans = Bans(cfg.max_auth_fail_count, cfg.ban_duration)
        self.sessions = Sessions(cfg.session_timeout)
        self.sync = SyncState()
        self.sessions.on_end = self.sync.forget
        self.created_tags: set[str] = set()
        """Tags made with ``torrents/createTags`` that no torrent has (kept in memory)."""
        self.reads = reads
        """Endpoints that only read (GET or POST)."""
        self.writes = writes
        """Endpoints that change something (POST only)."""

    @property
    def config(self) -> Config:
        return self.host.config

    # ------------------------------------------------------------------ engine

    async def call(self, cmd: Command[Any]) -> Any:
        return await asyncio.wrap_future(self.host.run(cmd))

    def torrents(self) -> list[TorrentState]:
        """The user's torrents (a site's own torrents are not shown here)."""
        return [t for t in self.host.snapshot.torrents.values() if not t.site]

    def find(self, wanted: str) -> TorrentState:
        """One torrent by qBittorrent hash, v1 or v2 info-hash (404 when none)."""
        key = wanted.strip().lower()
        for t in self.torrents():
            if key and key in (qbt_hash(t), t.id, t.info_hash_v1, t.info_hash_v2):
                return t
        raise ApiError(404)

    def select(self, hashes: str) -> list[TorrentState]:
        """``hashes`` (``|``-separated, or ``all``): the torrents named; unknown ones are
        left out, as qBittorrent does."""
        everyone = self.torrents()
        if hashes.strip().lower() == "all":
            return everyone
        keys = {h.strip().lower() for h in hashes.split("|") if h.strip()}
        return [t for t in everyone
                if keys & {qbt_hash(t), t.id, t.info_hash_v1 or "", t.info_hash_v2 or ""}]

    # ------------------------------------------------------------------ HTTP

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            response = await self._answer(request)
        except ApiError as e:
            response = web.Response(status=e.status, text=e.text)
        except UnknownTorrentError:
            response = web.Response(status=404, text="Not Found")
        except TidegateError as e:
            response = web.Response(status=409, text=str(e)[:300])
        except web.HTTPRequestEntityTooLarge:
            response = web.Response(status=413, text="Payload Too Large")
        response.headers.update(guard.SECURITY_HEADERS)
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config.qbt
        address = request.remote or ""
        if self.bans.banned(address):
            raise ApiError(403, "Your IP address has been banned after too many failed "
                                "authentication attempts.")
        headers = request.headers
        if guard.cross_site(headers.get("Host", ""), headers.get("Origin", ""),
                            headers.get("Referer", "")):
            raise ApiError(401, "Unauthorized")
        if not guard.host_allowed(headers.get("Host", ""), cfg.listen, self.port(),
                                  cfg.server_domains):
            raise ApiError(401, "Unauthorized")
        path = request.path
        if not path.startswith("/api/v2/"):
            raise ApiError(404)
        name = path[len("/api/v2/"):]
        if request.method not in ("GET", "POST"):
            raise ApiError(405)
        if name == "auth/login":
            return await self._login(request, address)
        sid = request.cookies.get("SID", "")
        if not self.sessions.touch(sid):
            raise ApiError(403)
        self.host.glance()  # a client polls: its next read sees the present (pacer)
        endpoint = self.reads.get(name)
        if endpoint is None:
            endpoint = self.writes.get(name)
            if endpoint is None:
                raise ApiError(404)
            if request.method != "POST":
                raise ApiError(405)
        params, files = await _params(request)
        reply = await endpoint(Request(self, params, files, sid, address))
        if name == "auth/logout":
            self.sessions.end(sid)
        return _response(reply)

    async def _login(self, request: web.Request, address: str) -> web.Response:
        if (request.content_length or 0) > MAX_LOGIN_BODY or (
                request.content_length is None and request.can_read_body):
            raise ApiError(400)
        params, _ = await _params(request)
        cfg = self.config.qbt
        stored = await asyncio.get_running_loop().run_in_executor(None, read_hash,
                                                                  self.data_dir)
        username = params.get("username", "")
        password = params.get("password", "")
        ok = bool(stored) and username == cfg.username and await asyncio.get_running_loop(
        ).run_in_executor(None, check_password, password, stored)
        if not ok:
            self.bans.failed(address)
            return web.Response(text="Fails.")
        self.bans.succeeded(address)
        response = web.Response(text="Ok.")
        sid = self.sessions.new()
        response.headers["Set-Cookie"] = f"SID={sid}; HttpOnly; path=/; SameSite=Strict"
        return response


async def _params(request: web.Request) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """The query's and the body's fields; the ``torrents`` files as (file name, bytes)."""
    params = dict(request.query)
    files: list[tuple[str, bytes]] = []
    if request.method == "POST" and request.can_read_body:
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise
        except (ValueError, AssertionError, UnicodeError, web.HTTPException):
            raise ApiError(400) from None  # a malformed body
        if len(form) > MAX_FORM_FIELDS:
            raise ApiError(400)
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = value
                continue
            if isinstance(value, bytes | bytearray):
                data, filename = bytes(value), key
            else:
                data, filename = value.file.read(), value.filename or key
            if key == "torrents":
                files.append((filename, data))
            else:
                params[key] = data.decode("utf-8", "replace")
    return params, files


def _response(reply: Reply) -> web.Response:
    if reply is None:
        return web.Response(status=200)
    if isinstance(reply, bytes):
        return web.Response(body=reply, content_type="application/octet-stream")
    if isinstance(reply, str):
        return web.Response(text=reply)
    return web.Response(body=msgspec.json.encode(reply), content_type="application/json")


def now() -> float:
    return time.time()
