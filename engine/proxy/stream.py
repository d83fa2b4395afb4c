"""``/torrent/<id>/<file path>``: any file of any torrent, while it downloads.

Each piece a response needs is read through the engine (:meth:`Engine.read_piece`): a
piece already held comes from libtorrent's disk I/O at once; a missing one is asked for
first (a piece deadline) and the response continues when it has arrived and passed its
hash check. The next pieces (``web.readahead_mb``) are asked for in order too, so a player
reading sequentially finds them ready (the span arithmetic is ``torrents/file_reads.py``'s,
shared with the program API's ``torrent_read``). Range requests start anywhere, so a video player
can seek before the download ends. ``/torrent/<id>/`` lists the files.

Served only on the loopback names, with a sandboxing CSP: a file streamed from a torrent
never runs as a page that could read the proxy's other pages.
"""

from __future__ import annotations

import asyncio
import html
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from ..errors import EngineError, UnknownTorrentError
from ..sites.served import content_type
from ..torrents.file_reads import ahead_of, cut, pieces_of
from ..torrents.pieces import StreamFile, StreamInfo
from .ranges import apply_span, parse_range
from .responses import LOCAL_HEADERS, head_response, page

if TYPE_CHECKING:
    from ..services import TorrentService

_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


class Streamer:
    def __init__(self, engine: TorrentService, timeout: float, readahead: int):
        self.engine = engine
        self.timeout = timeout
        self.readahead = readahead

    async def serve(self, request: web.BaseRequest, rest: str) -> web.StreamResponse:
        tid, _, path = rest.partition("/")
        if not _ID.match(tid):
            return page(404, "Not found", "A stream URL is /torrent/<info-hash>/<file path>.")
        try:
            info: StreamInfo = await asyncio.wait_for(
                asyncio.wrap_future(self.engine.stream_info(tid)), self.timeout)
        except UnknownTorrentError:
            return page(404, "Not found", f"No torrent {tid} in this session.")
        except (TimeoutError, EngineError) as exc:
            return page(503, "Not streamable yet", str(exc) or "The engine did not answer.")
        if path == "":
            return self._index(info)
        f = next((x for x in info.files if x.path == path), None)
        if f is None:
            return page(404, "Not found", "This torrent has no file at this path.")
        headers = {**LOCAL_HEADERS, "Content-Type": content_type(f.path),
                   "Accept-Ranges": "bytes", "Cache-Control": "no-store"}
        span = parse_range(request.headers.get("Range"), f.size)
        applied = apply_span(span, f.size, headers)
        if applied is None:
            return web.Response(status=416, headers=headers)
        start, end, status = applied
        if request.method == "HEAD" or start == end:
            return await head_response(request, status, headers, end - start)
        if f.deselected:
            # a finished torrent dropped its peers and libtorrent does not dial them again
            # for a piece deadline: waiting would end in a 504 after web.stream_timeout
            return page(409, "File not selected",
                        f"File {f.index} ({f.path}) is deselected (priority 0) and not "
                        f"downloaded; select it to stream it.")
        if info.paused:
            return page(409, "Torrent paused", "Resume the torrent (or choose its files) to "
                                               "stream it.")
        return await self._send(request, info, f, start, end, status, headers)

    async def _send(self, request: web.BaseRequest, info: StreamInfo, f: StreamFile,
                    start: int, end: int, status: int, headers: dict[str, str]
                    ) -> web.StreamResponse:
        length = info.piece_length
        span = pieces_of(length, f, start, end)
        resp: web.StreamResponse | None = None
        for piece in span:
            done = min(end, (piece + 1) * length - f.offset)  # the file's bytes up to here
            prefetch = [p for p in ahead_of(length, f, done, self.readahead) if p <= span[-1]]
            try:
                data = await asyncio.wait_for(asyncio.wrap_future(
                    self.engine.read_piece(info.torrent_id, piece, 0, prefetch)), self.timeout)
            except (TimeoutError, EngineError) as exc:
                if resp is None:
                    why = str(exc) or f"piece {piece} did not arrive within {self.timeout:g} s"
                    return page(504, "Stream stalled", why)
                if request.transport is not None:
                    request.transport.abort()
                return resp
            if resp is None:
                resp = web.StreamResponse(status=status, headers=headers)
                resp.content_length = end - start
                await resp.prepare(request)
            await resp.write(cut(data, piece, length, f, start, end))
        assert resp is not None
        await resp.write_eof()
        return resp

    @staticmethod
    def _index(info: StreamInfo) -> web.Response:
        rows = "".join(
            f'<li><a href="{quote(f.path)}">{html.escape(f.path)}</a> ({f.size:,} bytes)</li>'
            for f in info.files)
        body = (f"<!doctype html><meta charset=utf-8><title>{html.escape(info.name)}</title>"
                f"<h1>{html.escape(info.name)}</h1><ul>{rows}</ul>")
        return web.Response(body=body.encode(), content_type="text/html", charset="utf-8",
                            headers=LOCAL_HEADERS)
