"""The comment endpoint's HTTP face (aiohttp): ``GET /``, ``GET /<url-hash>``,
``POST /<url-hash>`` and CORS (docs/comments.md).

CORS: every answer carries ``Access-Control-Allow-Origin: *`` and never
``Allow-Credentials``; a preflight is answered for GET and POST with only
``Content-Type`` allowed. POST is open to any origin because a comment is its own
credential: signed by its author and paid for with proof of work, it means the same
whichever page sends it, and the endpoint keeps no cookies or sessions a page could ride
on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from .event import BadComment, CommentError, NotEnoughWork, as_record, parse_record
from .store import CommentStoreError

if TYPE_CHECKING:
    from ..config.comments import CommentsConfig
    from .store import CommentStore

_HASH = re.compile(r"^[0-9a-f]{64}$")
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {**CORS, "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
             "Access-Control-Allow-Headers": "Content-Type",
             "Access-Control-Max-Age": "86400"}
_ENCODER = msgspec.json.Encoder()


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(body=_ENCODER.encode(value), status=status, headers=CORS,
                        content_type="application/json")


def _refusal(exc: CommentError) -> web.Response:
    body: dict[str, object] = {"error": type(exc).__name__, "reason": str(exc)}
    if isinstance(exc, NotEnoughWork):
        body["required"] = exc.required
    return _json(body, exc.status)


class CommentApp:
    """The handlers, over a store; ``on_error`` hears about faults of ours."""

    def __init__(self, store: CommentStore, config: CommentsConfig,
                 on_error: Callable[[str], None]) -> None:
        self.store = store
        self.config = config
        self.on_error = on_error
        self.served = 0
        self.refused = 0

    def build(self, extra: list[web.RouteDef]) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body,
                              middlewares=[self._guard])
        app.add_routes(extra)
        app.add_routes([web.get("/", self.about), web.get("/{hash}", self.list),
                        web.post("/{hash}", self.post),
                        web.route("OPTIONS", "/{tail:.*}", self.preflight)])
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """CORS on every answer, errors as JSON; a fault of ours is a 500, never a stop."""
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            self.refused += 1
            return _json({"error": exc.reason, "reason": exc.text or exc.reason}, exc.status)
        except Exception as exc:  # ours: reported, answered, the server goes on
            self.on_error(f"comment endpoint: {type(exc).__name__}: {exc}")
            return _json({"error": "internal", "reason": "the node failed; see its log"}, 500)
        for key, value in CORS.items():
            response.headers.setdefault(key, value)
        return response

    async def about(self, request: web.Request) -> web.Response:
        return _json({"service": "tidegate comments", "network": self.config.network,
                      "difficulty": 0 if self.config.allow_authors else self.config.difficulty,
                      "allow_authors": len(self.config.allow_authors),
                      "count": self.store.count(), "max_body": self.config.max_body})

    def _hash(self, request: web.Request) -> str:
        value = request.match_info["hash"]
        if not _HASH.match(value):
            raise web.HTTPBadRequest(reason="Bad Request", text=(
                "the path is / or /<url-hash>: 64 lowercase hex digits, the SHA-256 of "
                "the normalised URL"))
        return value

    async def list(self, request: web.Request) -> web.Response:
        url_hash = self._hash(request)
        comments = self.store.for_url(url_hash)
        self.served += 1
        return _json({"url_hash": url_hash, "comments": [c.summary() for c in comments]})

    async def post(self, request: web.Request) -> web.Response:
        url_hash = self._hash(request)
        length = request.content_length
        if length is not None and length > self.config.max_body:
            self.refused += 1
            return _json({"error": "OversizedComment", "reason": (
                f"the body is {length} bytes, over {self.config.max_body}")}, 413)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.refused += 1
            return _json({"error": "OversizedComment", "reason": (
                f"the body is over {self.config.max_body} bytes")}, 413)
        store = self.store
        raw = as_record(raw)  # a bare Nostr event is taken too
        try:
            comment = parse_record(raw, now=store.clock(), difficulty=store.difficulty,
                                   allow_authors=store.allow_authors)
            if comment.url_hash != url_hash:
                raise BadComment(f"the path names {url_hash}, but the comment is on "
                                 f"{comment.url!r} ({comment.url_hash})")
            store.add(raw)
        except CommentError as exc:
            self.refused += 1
            return _refusal(exc)
        except CommentStoreError as exc:
            self.on_error(str(exc))
            return _json({"error": "CommentStoreError", "reason": str(exc)}, 507)
        self.served += 1
        return _json({"id": comment.id, "url_hash": url_hash}, 201)

    async def preflight(self, request: web.Request) -> web.Response:
        asked = request.headers.get("Access-Control-Request-Headers", "")
        wanted = {h.strip().lower() for h in asked.split(",") if h.strip()}
        if wanted - {"content-type"}:
            # no Allow-Headers for them: the browser refuses the request
            return web.Response(status=204, headers=CORS)
        return web.Response(status=204, headers=PREFLIGHT)
