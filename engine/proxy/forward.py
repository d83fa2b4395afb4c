"""Forwarding a site's leased paths to the program that registered them.

An owned site's program leases a path prefix (``handler_register``; the table is
:class:`engine.sites.app_handlers.HandlerTable`); a request to the site whose path starts
with it is sent to the program's loopback address and its answer returned. The rules
(docs/program-api.md "Handlers"):

* any method; the path and query as the browser sent them; only the request headers in
  :data:`REQUEST_HEADERS` (no cookies, no hop-by-hop or proxy headers; ``Accept-Encoding``
  is ``identity``), plus ``Tidegate-Site`` (the address) and ``X-Forwarded-Host``;
  a body of at most :data:`MAX_BODY` bytes (more: 413, nothing is sent);
* the answer's status and only the headers in :data:`RESPONSE_HEADERS` (a ``Location``
  only when it stays on the site: a path, not a URL); then the site's security headers
  (its same-origin CSP and the others of ``SITE_HEADERS``, which the program cannot
  loosen) and ``Tidegate-Content: dynamic; program``: the page is not verified content;
* no connection (refused, reset): 502; no answer's headers within
  :data:`ANSWER_TIMEOUT`, or a body stalled as long: 504 (or the stream is cut).
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from ..sites.app_handlers import Lease
from .responses import SITE_HEADERS, page

MAX_BODY = 1 << 20
CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 30.0
CHUNK = 64 << 10
REQUEST_HEADERS = frozenset({
    "accept", "accept-language", "content-type", "range", "if-range", "if-match",
    "if-none-match", "if-modified-since", "if-unmodified-since", "user-agent",
    "cache-control", "pragma",
})
RESPONSE_HEADERS = frozenset({
    "content-type", "cache-control", "etag", "last-modified", "content-range",
    "accept-ranges", "content-language", "content-disposition", "vary", "expires",
    "retry-after", "allow",
})
DYNAMIC = "dynamic; program"


def _answer_headers(raw: aiohttp.typedefs.LooseHeaders) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in raw.items():  # type: ignore[union-attr]
        low = str(name).lower()
        if low in RESPONSE_HEADERS:
            out[str(name)] = str(value)
        elif low == "location" and str(value).startswith("/") and \
                not str(value).startswith("//"):
            out["Location"] = str(value)
    return {**out, **SITE_HEADERS, "Tidegate-Content": DYNAMIC}


async def forward(request: web.BaseRequest, lease: Lease, address: str
                  ) -> web.StreamResponse:
    """Send ``request`` to ``lease.target`` and stream its answer back."""
    if (request.content_length or 0) > MAX_BODY:
        return page(413, "Too large", f"A request to a site's program carries at most "
                    f"{MAX_BODY} bytes.", SITE_HEADERS)
    parts: list[bytes] = []
    size = 0
    while request.body_exists and (chunk := await request.content.read(CHUNK)):
        size += len(chunk)
        if size > MAX_BODY:  # a chunked body announces no length
            return page(413, "Too large", f"A request to a site's program carries at most "
                        f"{MAX_BODY} bytes.", SITE_HEADERS)
        parts.append(chunk)
    body = b"".join(parts)
    headers = {k: v for k, v in request.headers.items() if k.lower() in REQUEST_HEADERS}
    headers.update({"Accept-Encoding": "identity", "Tidegate-Site": address,
                    "X-Forwarded-Host": request.headers.get("Host", ""),
                    "X-Forwarded-Proto": "http"})
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT,
                                    sock_read=ANSWER_TIMEOUT)
    resp: web.StreamResponse | None = None
    try:
        async with aiohttp.ClientSession(
                timeout=timeout, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding")) as session, \
                session.request(request.method, lease.target + request.raw_path,
                                headers=headers, data=body or None, allow_redirects=False,
                                proxy=None) as answer:
            if answer.status < 200:
                return _failed(502, "the program answered with an informational status")
            resp = web.StreamResponse(status=answer.status,
                                      headers=_answer_headers(answer.headers))
            if answer.content_length is not None:
                resp.content_length = answer.content_length
            await resp.prepare(request)
            if request.method != "HEAD":
                async for chunk in answer.content.iter_chunked(CHUNK):
                    await resp.write(chunk)
            await resp.write_eof()
            return resp
    except (TimeoutError, aiohttp.ServerTimeoutError):
        if resp is None:
            return _failed(504, f"the program did not answer within {ANSWER_TIMEOUT:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        if resp is None:
            return _failed(502, f"the program cannot be reached at its address "
                                f"({type(exc).__name__})")
    if request.transport is not None:  # the answer broke off after it began: cut it too
        request.transport.abort()
    return resp if resp is not None else web.Response(status=499)


def _failed(status: int, why: str) -> web.Response:
    title = "Program not answering" if status == 502 else "Program too slow"
    return page(status, title, f"This path of the site is answered by a program on the "
                f"site owner's computer, and {why}.", SITE_HEADERS,
                {"Tidegate-Content": "proxy"})
