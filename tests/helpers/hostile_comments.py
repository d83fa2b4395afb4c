"""A hostile comment server on 127.0.0.1: it speaks the sync routes, with bad answers.

``HostileCommentPeer(mode, records)`` serves ``GET /sync/digest`` and ``GET /sync/since``:

* ``"records"``: an honest-looking digest and pages holding exactly ``records`` (raw bytes,
  whatever they are: forged, oversized, duplicated ones), seqs 1, 2, 3, ...
* ``"reset"``: as ``"records"``, but its digest names another first record every time (as
  if its store were started anew before each pull, to make pullers take everything again).
* ``"garbage"``: answers that are not JSON.
* ``"huge"``: a digest answer of 10 MiB.
* ``"slow"``: never answers (holds the request until stopped).

It runs its own asyncio loop on a thread; ``close()`` stops it. ``hits`` counts requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading

from aiohttp import web

from tidegate.engine.comments.sync_messages import DEFAULT_NETWORK_ID


class HostileCommentPeer:
    def __init__(self, mode: str, records: list[bytes] | None = None,
                 network: str = DEFAULT_NETWORK_ID):
        self.mode = mode
        self.records = list(records or [])
        self.network = network
        self.hits = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="hostile-comments")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile comment peer did not start")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_get("/sync/digest", self._digest)
        app.router.add_get("/sync/since", self._since)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    async def _hold(self) -> web.Response:
        assert self._stop is not None
        await self._stop.wait()
        return web.Response(status=503)

    async def _digest(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if self.mode == "garbage":
            return web.Response(body=b"\x00\xffnot json{", content_type="application/json")
        if self.mode == "huge":
            return web.Response(body=b" " * (10 * 1024 * 1024), content_type="application/json")
        if self.mode == "slow":
            return await self._hold()
        body = json.dumps({
            "network": self.network, "node": os.urandom(16).hex(), "count": len(self.records),
            "head": len(self.records),
            "first": os.urandom(32).hex() if self.mode == "reset" else "",
            "digest": hashlib.sha256(os.urandom(8)).hexdigest()}).encode()
        return web.Response(body=body, content_type="application/json")

    async def _since(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        after = int(request.query.get("seq", "0"))
        limit = int(request.query.get("limit", "500"))
        chunk = self.records[after:after + limit]
        parts = [b"[" + str(after + i + 1).encode() + b"," + raw + b"]"
                 for i, raw in enumerate(chunk)]
        body = b'{"head":' + str(len(self.records)).encode() + b',"records":[' + \
            b",".join(parts) + b"]}"
        return web.Response(body=body, content_type="application/json")
