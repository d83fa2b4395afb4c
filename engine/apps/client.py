"""``AppClient``: the program API for apps on sites (docs/program-api.md).

A thin client over the engine's commands: it connects to the running daemon
(:meth:`AppClient.connect`, found as the CLI finds it) or wraps any engine (a
:class:`~engine.api.RemoteEngine`, an embedded :class:`~engine.node.Node`). Every call is
one or a few commands; nothing is cached here but the watchers' threads and the
handler servers, which :meth:`AppClient.close` stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..api.torrent_stream import TorrentFileStream
from ..commands import SitePublish
from ..commands_apps import SiteDelete, SiteFile, SiteFiles, SiteWrite
from ..errors import UnknownSiteError
from ..events import DaemonConnection, EventsLost, SiteChanged
from ..site_names import resolve
from ..state import SiteState
from .serve import AppRequest, AppResponse, Handler, HandlerServer
from .site_stream import SiteFileStream

if TYPE_CHECKING:
    from ..api.client import RemoteEngine
    from ..interface import EngineAPI

__all__ = ["AppClient", "AppRequest", "AppResponse", "SiteChanged", "SiteFile",
           "SiteFileStream", "Watch"]

CALL_TIMEOUT = 60.0
PUBLISH_TIMEOUT = 3600.0
SITE_APPEARS = 5.0
"""Seconds :meth:`AppClient.site` waits for a site missing from the snapshot."""
MAX_PAGES = 1000
"""``files`` reads at most this many pages (5 million files)."""


def _holds(sites: Mapping[str, SiteState], site: str) -> bool:
    try:
        resolve(sites, site)
    except UnknownSiteError:
        return False
    return True


class Watch:
    """A running ``watch``: its thread calls back until :meth:`close`."""

    def __init__(self, engine: EngineAPI, address: str,
                 callback: Callable[[SiteChanged], None],
                 on_gap: Callable[[], None] | None):
        self.address = address
        self.errors = 0
        """Callbacks that raised (each is skipped; the watch goes on)."""
        self._engine = engine
        self._stream = engine.subscribe(1000)
        self._callback, self._on_gap = callback, on_gap
        self._thread = threading.Thread(target=self._run, name="app-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for event in self._stream:
            try:
                if isinstance(event, SiteChanged) and event.address == self.address:
                    self._callback(event)
                elif self._on_gap is not None and (
                        isinstance(event, EventsLost) or
                        (isinstance(event, DaemonConnection) and event.connected)):
                    self._on_gap()  # events may have been missed: read the files again
            except Exception:  # the program's fault; the next event still comes
                self.errors += 1

    def close(self) -> None:
        self._stream.closed = True
        self._engine.unsubscribe(self._stream)
        self._thread.join(5.0)


class AppClient:
    """The program API over any engine.

    Args:
        engine: the daemon's client or an embedded node.
        own: stop ``engine`` in :meth:`close` (set by :meth:`connect`).
    """

    def __init__(self, engine: EngineAPI, own: bool = False):
        self.engine = engine
        self._own = own
        self._watches: list[Watch] = []
        self._servers: list[HandlerServer] = []

    @classmethod
    def connect(cls, endpoint: str | None = None, server_key: str | None = None,
                timeout: float = 10.0) -> AppClient:
        """A client of the running daemon: ``endpoint`` or the config's (``api.endpoint``,
        else this user's ipc socket), with CURVE keys for ``tcp://`` as the CLI has them.
        Raises ``DaemonUnavailableError`` when none answers."""
        from ..api.client import RemoteEngine
        from ..config import load
        from ..daemon import client_keys, default_endpoint, keys_dir

        loaded = load()
        api = loaded.config.api
        endpoint = endpoint or default_endpoint(loaded)
        keys = None
        if endpoint.startswith("tcp://"):
            keys = client_keys(loaded)
            server_key = server_key or api.server_key or _public_key(keys_dir(loaded))
        remote: RemoteEngine = RemoteEngine(endpoint, client_keys=keys, server_key=server_key,
                                            timeout=api.request_timeout,
                                            max_message_size=api.max_message_size)
        return cls(remote.start(timeout), own=True)

    def close(self) -> None:
        """Stop every watch and handler server (ending their leases), then the
        connection when this client made it."""
        for server in self._servers:
            server.close()
        for watch in self._watches:
            watch.close()
        self._servers.clear()
        self._watches.clear()
        if self._own:
            self.engine.stop()  # type: ignore[attr-defined]

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sites

    def site(self, site: str) -> SiteState:
        """A held site's state (name or address). A site the daemon has just made (its
        ``site_new`` reply can come before the snapshot that holds it: the reply and the
        publications travel on two sockets) is waited for up to :data:`SITE_APPEARS`
        seconds before UnknownSiteError."""
        try:  # (at once when the snapshot holds it)
            snap = self.engine.wait_for(lambda s: _holds(s.sites, site), SITE_APPEARS)
        except TimeoutError:
            raise UnknownSiteError(site) from None
        return snap.sites[resolve(snap.sites, site)]

    def watch(self, site: str, callback: Callable[[SiteChanged], None],
              on_gap: Callable[[], None] | None = None) -> Watch:
        """Call ``callback(SiteChanged)`` on a thread of its own each time ``site``'s served
        snapshot changes; ``on_gap()`` when events may have been missed (the daemon
        reconnected, or this reader fell behind). Over a RemoteEngine the watch goes on
        across the daemon's restarts."""
        w = Watch(self.engine, self.site(site).address, callback, on_gap)
        self._watches.append(w)
        return w

    def files(self, site: str) -> list[SiteFile]:
        """Every file of the site's newest verified snapshot (path, size, content type,
        pieces root), sorted by path."""
        return list(self._files(site))

    def _files(self, site: str) -> Iterator[SiteFile]:
        start = 0
        for _ in range(MAX_PAGES):
            page = self.engine.run(SiteFiles(site, start)).result(CALL_TIMEOUT)
            yield from page.files
            if page.next < 0:
                return
            start = page.next

    def open(self, site: str, path: str, start: int = 0,
             end: int | None = None) -> SiteFileStream:
        """Bytes ``[start, end)`` of a site's file as a seekable raw stream of verified
        bytes (wrap it in ``io.BufferedReader`` for reads of any size)."""
        return SiteFileStream(self.engine, site, path, start, end)

    def read(self, site: str, path: str) -> bytes:
        """A whole (small) file, verified."""
        with self.open(site, path) as f:
            out = bytearray()
            while chunk := f.read(f.chunk):
                out += chunk
            return bytes(out)

    def write(self, site: str, path: str, data: bytes) -> int:
        """Write an owned site's file in its source folder; :meth:`publish` publishes it.
        Up to 512 KiB the write is atomic (a new file renamed over the old); a longer one
        is written in place, 512 KiB per command, and cut to its length by the last."""
        from ..commands_apps import MAX_WRITE

        if len(data) <= MAX_WRITE:
            return self.engine.run(SiteWrite(site, path, data)).result(CALL_TIMEOUT)
        size = 0
        for offset in range(0, len(data), MAX_WRITE):
            piece = data[offset:offset + MAX_WRITE]
            last = offset + MAX_WRITE >= len(data)
            size = self.engine.run(SiteWrite(site, path, piece, offset, last)).result(
                CALL_TIMEOUT)
        return size

    def delete(self, site: str, path: str) -> None:
        self.engine.run(SiteDelete(site, path)).result(CALL_TIMEOUT)

    def publish(self, site: str) -> SiteState:
        """Publish the owned site's source folder (a new UPDATE when anything changed)."""
        return self.engine.run(SitePublish(site)).result(PUBLISH_TIMEOUT)

    def open_torrent_file(self, torrent_id: str, file_index: int) -> TorrentFileStream:
        """A torrent's file as a seekable raw stream while it downloads (hash-checked
        pieces only; ``torrent_read``, docs/program-api.md)."""
        return TorrentFileStream(self.engine, torrent_id, file_index)

    def serve(self, site: str, prefix: str, handler: Handler, ttl: float = 30.0,
              port: int = 0) -> HandlerServer:
        """Answer the owned site's requests under ``prefix`` with ``handler`` (on a
        loopback HTTP server of this program, its lease renewed until closed)."""
        server = HandlerServer(self.engine, site, prefix, handler, ttl, port).start()
        self._servers.append(server)
        return server


def _public_key(folder: Path) -> str | None:
    public = folder / "server.key"
    try:
        text = public.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if "public-key" in line:
            return line.split("=", 1)[1].strip().strip('"')
    return None
