"""Fuzzing the Smart Proxy's HTTP boundary: the sans-IO rules (Host allow-list, Range,
conditionals, Fetch Metadata), then raw bytes at a running proxy's socket, fast path
and aiohttp behind it.

The rules are checked against what they promise, not only for crashes: a Host is
accepted only in one of the exact forms docs/proxy.md lists, a Range gives a span inside
the file or 416. On the socket, every reply must be a well-formed HTTP response that is
not a 5xx, and the server must still answer a normal request afterwards. The proxy under
load (idle connections, slow readers, 10,000 Range headers on a real engine) is
test_proxy_abuse.py.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
from hypothesis import strategies as st

from tests.proxy.test_proxy_fastpath import FILES, Server, get, server  # noqa: F401
from tidegate.engine.chain import SiteKey
from tidegate.engine.proxy.hosts import HostRoute, may_visit, route_host
from tidegate.engine.proxy.ranges import (
    Unsatisfiable,
    etag_matches,
    not_modified,
    parse_http_date,
    parse_range,
    range_applies,
)

from .fuzzkit import TEST_TIMEOUT, Target, budget, fuzz, mutate

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TEST_TIMEOUT)]

ADDRESS = SiteKey.from_seed(b"\x05" * 32).address
LABEL = ADDRESS.removesuffix(".onion")
PORT = 8475

host_text = st.one_of(
    st.sampled_from([f"{LABEL}.localhost:{PORT}", f"{LABEL}.onion", f"{LABEL}.onion:80",
                     f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}",
                     f"{LABEL.upper()}.localhost:{PORT}", f"{LABEL}.localhost.:{PORT}",
                     f"x.{LABEL}.localhost:{PORT}", f"127.1:{PORT}", f"{LABEL}.onion:8080",
                     f"[::1]x:{PORT}", f"[::1:{PORT}", f"localhost:{PORT:06d}",
                     f"localhost:+{PORT}", f"localhost:{PORT}\u00b2"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567.:[]-0123456789", max_size=80),
    st.builds(lambda a, b: a + b, st.sampled_from([LABEL, "127.0.0.1", "[::1]", "localhost"]),
              st.text(max_size=20)),
    st.text(max_size=300))


def test_host_allow_list() -> None:
    target = Target("route_host", ())
    allowed = {f"{LABEL}.localhost:{PORT}": HostRoute("site", ADDRESS),
               f"{LABEL}.onion": HostRoute("site", ADDRESS, onion=True),
               f"{LABEL}.onion:80": HostRoute("site", ADDRESS, onion=True),
               **{f"{n}:{PORT}": HostRoute("loopback") for n in ("127.0.0.1", "localhost",
                                                                  "[::1]")}}

    def body(x: tuple[str, bool, str]) -> None:
        host, absolute, authority = x
        route = target.run(route_host, host, PORT, (host if absolute else authority)
                           if absolute or authority else None)
        if route is not None:
            # only the exact documented forms, and nothing else, ever route
            label = route.address.removesuffix(".onion")
            assert allowed.get(host) == route or (route.kind == "site" and host in (
                f"{label}.localhost:{PORT}", f"{label}.onion", f"{label}.onion:80")), host
            target.note(route.kind)

    fuzz(st.tuples(host_text, st.booleans(), st.one_of(st.just(""), host_text)), body, 0.5)
    target.report(budget(0.5))


range_text = st.one_of(
    st.builds(lambda u, a, b: f"{u}={a}-{b}", st.sampled_from(["bytes", "BYTES", " bytes",
                                                               "bits", ""]),
              st.one_of(st.integers(0, 2**70).map(str), st.just(""), st.text(max_size=5)),
              st.one_of(st.integers(0, 2**70).map(str), st.just(""), st.text(max_size=5))),
    st.text(alphabet="bytes=0123456789-, ²٣", max_size=40),
    st.text(max_size=60))


def test_range_and_conditionals() -> None:
    target = Target("parse_range/conditionals", ())
    etag = '"' + "ab" * 32 + '"'

    def body(x: tuple[str, int, str, str]) -> None:
        header, size, cond, date = x
        span = target.run(parse_range, header, size)
        if isinstance(span, tuple):
            start, end = span
            assert 0 <= start < end <= size, (header, size, span)
        else:
            assert span is None or (isinstance(span, Unsatisfiable) and span.size == size)
        target.run(not_modified, {"If-None-Match": cond}, etag, 1_700_000_000)
        target.run(not_modified, {"If-Modified-Since": date}, etag, 1_700_000_000)
        target.run(range_applies, cond, etag, 1_700_000_000)
        target.run(range_applies, date, etag, 1_700_000_000)
        target.run(etag_matches, cond, etag)
        target.run(parse_http_date, date)
        target.run(may_visit, {"Sec-Fetch-Dest": cond, "Sec-Fetch-Mode": date})

    dates = st.one_of(st.sampled_from(["Tue, 14 Nov 2023 22:13:20 GMT", "Thu, 01 Jan 1970 "
                                       "00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                                       "Mon, 32 Foo 99999999999 99:99:99 GMT"]),
                      st.text(max_size=40))
    strategy = st.tuples(range_text, st.integers(0, 2**50), st.one_of(
        st.just(etag), st.text(max_size=80)), dates)
    fuzz(strategy, body, 0.5)
    target.report(budget(0.5))


# ---------------------------------------------------------------- raw bytes at a socket

STATUS = re.compile(rb"HTTP/\d\.\d (\d{3}) ")
"""aiohttp answers a request line of HTTP/2.0 with HTTP/2.0 (harmless: still HTTP/1 syntax)."""


def _request(method: str, target: str, version: str, headers: list[tuple[str, str]],
             body: bytes) -> bytes:
    head = f"{method} {target} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + body


printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                "-_!#$%&'*+.^`|~", min_size=1, max_size=16)


def often(good: st.SearchStrategy[object], bad: st.SearchStrategy[object]
          ) -> st.SearchStrategy[object]:
    """``good`` nine times in ten."""
    return st.integers(0, 9).flatmap(lambda i: bad if i == 0 else good)


def requests(host: str) -> st.SearchStrategy[bytes]:
    header = st.one_of(
        st.tuples(st.just("Host"), st.sampled_from([host, host.upper(), "evil.com",
                                                    "127.0.0.1:1", ""])),
        st.tuples(st.just("Range"), range_text),
        st.tuples(st.sampled_from(["If-None-Match", "If-Modified-Since", "If-Range"]),
                  often(printable, st.text(max_size=40))),
        st.tuples(st.just("Connection"), st.sampled_from(["keep-alive", "close", "upgrade",
                                                          "Keep-Alive, x"])),
        st.tuples(st.sampled_from(["Content-Length", "Transfer-Encoding", "Expect"]),
                  st.sampled_from(["0", "5", "-1", "chunked", "gzip, chunked", "100-continue",
                                   "99999999999999999999"])),
        st.tuples(st.sampled_from(["Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
                                   "Accept", "Cookie", "X-" + "a" * 30]),
                  often(printable, st.text(max_size=30))),
        st.tuples(often(token, st.text(min_size=1, max_size=12)),
                  often(printable, st.text(max_size=40))))
    request = st.builds(
        _request,
        often(st.sampled_from(["GET", "HEAD"]), st.sampled_from(
            ["POST", "PUT", "OPTIONS", "CONNECT", "get", "G\x00T", "PRI", "DELETE"])),
        st.one_of(st.sampled_from([f"/{n}" for n in FILES] + [
            "/", "/docs", "/docs/", "/../etc/passwd", "/%2e%2e/x", "/index.html?x=1",
            "/.tidegate/head", "/.tidegate/snapshot/3.torrent", "*", f"http://{host}/",
            "http://evil.com/", "/%00", "//index.html", "/a" * 2000, "/%69ndex.html",
            "/docs/index.html?", "/img/../index.html", "/index.html#x"]),
            often(printable, st.text(max_size=50)).map(lambda t: "/" + t)),
        often(st.just("HTTP/1.1"), st.sampled_from(["HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "",
                                                    "HTTP/0.9", "http/1.1"])),
        st.lists(header, max_size=6).map(lambda hs: [("Host", host), *hs]
                                          if not any(k == "Host" for k, _ in hs) else hs),
        st.sampled_from([b"", b"", b"hello", b"0\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n"]))

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        raw = draw(request)
        if draw(st.integers(0, 7)) == 0:
            raw = mutate(raw, lambda lo, hi: draw(st.integers(lo, hi)), draw(st.integers(1, 4)))
        return raw

    return mutated()


def exchange(port: int, raw: bytes, timeout: float = 2.0) -> bytes:
    """Send ``raw`` on a new connection and read until the server closes it (or
    ``timeout``: a request that announced a body the server still waits for). The write
    side is not shut: aiohttp drops a request whose client half-closed (as it should not,
    but that is aiohttp's, with or without the fast path)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        out = bytearray()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)


def test_raw_requests_at_a_running_proxy(server: Server) -> None:  # noqa: F811
    target = Target("proxy socket (fast path + aiohttp)", ())
    statuses: dict[int, int] = {}
    closing = get(server.host, "/style.css", "Connection: close")

    def body(raw: bytes) -> None:
        # a last request that closes the connection, so the exchange ends at once
        # unless a body was announced: the server then rightly waits for it (a mutated
        # request can swallow the closing one as more headers), which is no hang and
        # must not count against the one-second limit (it did, once in CI, at 2.00 s):
        # such an exchange gives up sooner, and the server must then still answer
        announces = re.search(rb"(?i)transfer-encoding|content-length|expect", raw)
        wait = 0.5 if announces else 2.0
        reply = target.run(exchange, server.port, raw + closing, wait)
        codes = [int(m.group(1)) for m in STATUS.finditer(reply)]
        if reply:
            assert STATUS.match(reply), f"not an HTTP response: {reply[:200]!r} to {raw[:200]!r}"
        else:
            alive = exchange(server.port, closing)
            assert alive.startswith(b"HTTP/1.1 200"), f"no answer after {raw[:300]!r}"
        for code in codes:
            statuses[code] = statuses.get(code, 0) + 1
            assert code < 500, f"{code} for {raw[:300]!r}:\n{reply[:500]!r}"
        target.note(str(codes[0]) if codes else "no reply (waits for a body)")

    fuzz(requests(server.host), body, 0.2)
    target.report(budget(0.2))
    print(f"statuses {dict(sorted(statuses.items()))}; answered on the fast path: "
          f"{server.fast.answered}")
    assert not server.bad
    # still serving, both paths
    reply = exchange(server.port, get(server.host, "/index.html", "Connection: close"))
    assert STATUS.match(reply) and reply.endswith(FILES["index.html"])
