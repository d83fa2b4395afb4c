"""The proxy's own responses: security headers, error pages, refusals and HEAD replies.

Shared by the request handlers (:mod:`.app`, :mod:`.stream`, :mod:`.visit`), which import
them from here so none of them imports another.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from aiohttp import web

SERVER = "tidegate"
SITE_CSP = ("default-src 'self' data: blob:; script-src 'self' 'unsafe-inline' "
            "'unsafe-eval' blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
            "form-action 'self'; frame-ancestors 'self'; base-uri 'self'; object-src 'none'")
"""Sites load and send only to their own origin: no fetch, image, font, frame or form to
another host (docs/proxy.md lists what CSP cannot stop)."""
LOCAL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
             "media-src 'self'; frame-ancestors 'none'; form-action 'none'; sandbox")
COMMON = {
    "Server": SERVER,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-DNS-Prefetch-Control": "off",
}
SITE_HEADERS = {**COMMON, "Content-Security-Policy": SITE_CSP, "X-Frame-Options": "SAMEORIGIN",
                "Tidegate-Content": "proxy"}
"""Every answer of a site says what it is (``Tidegate-Content``): ``verified`` (a file
checked against the chain), ``dynamic; program`` (a program's answer, not verified:
:mod:`.forward`) or ``proxy`` (the proxy's own page: an error, a redirect)."""
VERIFIED = {"Tidegate-Content": "verified"}
LOCAL_HEADERS = {**COMMON, "Content-Security-Policy": LOCAL_CSP, "X-Frame-Options": "DENY"}


def page(status: int, title: str, text: str, headers: Mapping[str, str] = LOCAL_HEADERS,
         extra: Mapping[str, str] | None = None) -> web.Response:
    body = (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>\n")
    return web.Response(status=status, body=body.encode(), content_type="text/html",
                        charset="utf-8", headers={**headers, **(extra or {})})


def refuse(status: int = 421) -> web.Response:
    """An empty refusal that also ends the connection."""
    resp = web.Response(status=status, headers={"Server": SERVER, "Connection": "close"})
    resp.force_close()
    return resp


async def head_response(request: web.BaseRequest, status: int, headers: dict[str, str],
                        length: int) -> web.StreamResponse:
    """A HEAD reply: a GET's headers, its Content-Length, no body."""
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = length
    try:
        await resp.prepare(request)
        await resp.write_eof()
    except ConnectionError:  # the client went away
        pass
    return resp
