"""``.torrent`` files named by an ``http://`` or ``https://`` URL, fetched by the caller.

Only those two schemes (redirects too), at most ``limits.max_torrent_file_size`` bytes
(a larger ``Content-Length`` is refused before reading, a body that grows past it while
read is cut off), given up ``timeout`` seconds after the start (checked between reads,
each of which waits at most ``timeout``). Every error is a
:class:`BadTorrentError` naming the URL. The request goes straight to the host (or the
proxy in ``http_proxy``/``https_proxy``): never with ``proxy.type`` set or in tor-all mode,
where the caller refuses instead (:func:`refusal`), since a direct request would show the
user's address where peers and trackers cannot see it.
"""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

from ..errors import BadTorrentError

if TYPE_CHECKING:
    from ..config import Config, LimitsConfig

TIMEOUT = 30.0
"""Seconds a fetch may take, in all."""

_SCHEMES = ("http://", "https://")


def is_url(text: str) -> bool:
    """Is this an ``http://`` or ``https://`` URL (what :func:`fetch` takes)?"""
    return text.strip().lower().startswith(_SCHEMES)  # as engine.metainfo.is_url


def refusal(cfg: Config | None) -> str | None:
    """Why a URL must not be fetched directly under this config, or None when it may."""
    if cfg is None:
        return ("not fetched here: download the .torrent file and give its path "
                "(`tidegate add URL` fetches it)")
    if cfg.tor.mode == "tor-all":
        return ("not fetched: tor.mode is tor-all and tidegate fetches .torrent URLs "
                "directly, not through tor; download it through tor and add the file")
    if cfg.proxy.type != "none":
        return ("not fetched: a proxy is set (proxy.type) and tidegate fetches .torrent URLs "
                "directly, not through it; download it through the proxy and add the file")
    return None


class _SameSchemes(urllib.request.HTTPRedirectHandler):
    """Redirects only to http/https (urllib would also follow one to ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        if not is_url(newurl):
            raise BadTorrentError(req.full_url, f"redirected to a URL that is not http or "
                                                f"https: {newurl[:200]}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, limits: LimitsConfig, timeout: float = TIMEOUT) -> bytes:
    """The body at ``url``, at most ``limits.max_torrent_file_size`` bytes.

    Raises:
        BadTorrentError: not http(s), an HTTP error status, no connection, too large,
            or slower than ``timeout``.
    """
    url = url.strip()
    if not is_url(url):
        raise BadTorrentError(url, "only http:// and https:// URLs are fetched")
    cap = limits.max_torrent_file_size
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(_SameSchemes)
    request = urllib.request.Request(url, headers={"User-Agent": "tidegate",
                                                   "Accept": "application/x-bittorrent, */*"})
    try:
        with opener.open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.strip().isdigit() and int(length) > cap:
                raise BadTorrentError(url, f"{int(length)} bytes is larger than the limit of "
                                           f"{cap} (limits.max_torrent_file_size)")
            data = bytearray()
            while len(data) <= cap:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                # read1: what has arrived (read(n) waits for all n bytes, which a server
                # sending a byte at a time stretches past any deadline)
                chunk = response.read1(min(65536, cap + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
    except urllib.error.HTTPError as exc:
        raise BadTorrentError(url, f"the server answered HTTP {exc.code} "
                                   f"{exc.reason}") from None
    except TimeoutError:
        raise BadTorrentError(url, f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise BadTorrentError(url, f"no answer within {timeout:g} s") from None
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise BadTorrentError(url, f"cannot fetch: {text}") from None
    except (OSError, ssl.SSLError, ValueError, http.client.HTTPException) as exc:
        # reset, a bad URL or port, TLS, a broken answer
        raise BadTorrentError(url, f"cannot fetch: {type(exc).__name__}: {exc}") from None
    if len(data) > cap:
        raise BadTorrentError(url, f"larger than the limit of {cap} bytes "
                                   "(limits.max_torrent_file_size)")
    if not data:
        raise BadTorrentError(url, "the server sent an empty body")
    return bytes(data)

