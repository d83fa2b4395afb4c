"""Plain HTTP GETs to onion services through tor's SOCKS port, for ``tor.mode = "tor-all"``.

In that mode the DHT is off, so a followed site's head cannot be looked up there. Instead
the Blockchain Handler asks the site's onion service (its address is the site address, and
only the key holder can run it) for the chain (``/.tidegate/head``) and the snapshot's
metainfo (``/.tidegate/snapshot/<seq>.torrent``). Nothing fetched here is trusted: the
caller verifies every entry against the chain it holds and every metainfo against the
info-hash a verified entry names.

The name is resolved by tor (SOCKS5 with a hostname, never a local DNS look-up). Each GET
runs on a small thread pool with one deadline for the whole request and a size limit, so a
slow or hostile server costs a bounded amount of time and memory.
"""

from __future__ import annotations

import http.client
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import SiteError

HEAD_PATH = "/.tidegate/head"
"""The whole verified chain (entries 0..height) in the chain file format."""
SNAPSHOT_PREFIX = "/.tidegate/snapshot/"
"""``<seq>.torrent`` is a snapshot's metainfo; ``<seq>/`` is its BEP 19 web seed root."""
USER_AGENT = ""
"""No User-Agent header: nothing that tells one tidegate from another."""


def snapshot_torrent_path(seq: int) -> str:
    return f"{SNAPSHOT_PREFIX}{seq}.torrent"


def web_seed_url(host: str, seq: int) -> str:
    """The web seed of snapshot ``seq`` on ``host``; libtorrent appends ``site/<path>``."""
    return f"http://{host}{SNAPSHOT_PREFIX}{seq}/"


class OnionHttp:
    """GETs through one SOCKS5 endpoint (tor's), on ``workers`` threads."""

    def __init__(self, socks: tuple[str, int], timeout: float, workers: int = 2):
        self.socks = socks
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="tidegate-onion-http")

    def get(self, host: str, path: str, limit: int) -> Future[bytes]:
        """``http://host/path``; the body, or an exception naming the URL and what failed."""
        return self._pool.submit(self._get, host, path, limit)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _get(self, host: str, path: str, limit: int) -> bytes:
        url = f"http://{host}{path}"
        deadline = time.monotonic() + self.timeout
        try:
            return fetch(self.socks, host, path, limit, deadline)
        except SiteError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise SiteError(host, f"{url}: {describe(exc)}") from None


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text


def fetch(socks: tuple[str, int], host: str, path: str, limit: int, deadline: float) -> bytes:
    """One GET over a SOCKS5 connection made for it (tor isolates streams by connection)."""
    from python_socks import ProxyType
    from python_socks.sync import Proxy

    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    proxy = Proxy(ProxyType.SOCKS5, socks[0], socks[1], rdns=True)
    sock = proxy.connect(dest_host=host, dest_port=80, timeout=left)
    conn = http.client.HTTPConnection(host, 80)
    conn.sock = sock
    try:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("Accept", "*/*")
        conn.endheaders()
        resp = conn.getresponse()
        if resp.status != 200:
            raise SiteError(host, f"http://{host}{path}: HTTP {resp.status} {resp.reason}")
        length = resp.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise SiteError(host, f"http://{host}{path}: {length} bytes, more than the "
                                  f"{limit} allowed")
        chunks: list[bytes] = []
        got = 0
        while True:
            if time.monotonic() > deadline:  # each read is bounded by the socket timeout
                raise TimeoutError
            chunk = resp.read(min(1 << 16, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
            if got > limit:
                raise SiteError(host, f"http://{host}{path}: more than the {limit} bytes "
                                      "allowed")
        return b"".join(chunks)
    finally:
        conn.close()
