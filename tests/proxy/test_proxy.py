"""The Smart Proxy with real HTTP clients against real engines on 127.0.0.1.

A publishes sites; B follows them and serves them from its own proxy; every response is
checked byte for byte against the source folder.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import build_engine, make_payload, make_torrent, port_of, start_seed
from tests.helpers.sites_util import joined, site_engine, wait_site, write_site
from tidegate.engine import AddRequest, Engine
from tidegate.engine.chain.keys import SiteKey
from tidegate.engine.events import SiteRefused

BIG = os.urandom(3_000_000)  # 16 KiB pieces: 184 of them, checked one by one
FILES = {
    "index.html": b"<!doctype html><title>home</title><h1>tidegate</h1>\n",
    "docs/index.html": b"<h1>docs</h1>\n",
    "docs/guide.txt": b"guide " * 1000,
    "img/big.bin": BIG,
    "style.css": b"h1 { color: teal }\n",
    "empty.txt": b"",
}


@dataclass
class Pair:
    a: Engine
    b: Engine
    address: str
    source: Path

    @property
    def port(self) -> int:
        return self.b.snapshot.web.port

    @property
    def host(self) -> str:
        return f"{self.address.removesuffix('.onion')}.localhost:{self.port}"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("proxy")
    with joined([site_engine(tmp / "a"), site_engine(tmp / "b")]) as (a, b):
        source = write_site(tmp / "src", FILES)
        address = a.site_new("blog", str(source)).result(30).address
        a.site_publish("blog").result(60)
        wait_site(a, address, lambda s: s.hosting.seq == 1, 30)
        b.site_follow(address).result(30)
        wait_site(b, address, lambda s: s.hosting.seq == 1, 90)
        yield Pair(a, b, address, source)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def request(port: int, path: str, host: str | None, headers: dict[str, str] | None = None,
            method: str = "GET", timeout: float = 30.0) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def consent(engine: Engine, address: str) -> None:
    """The user's own visit link (``tidegate site url <address>``): the next requests for
    the site may make ``engine`` follow it."""
    port, token = engine.snapshot.web.port, engine.snapshot.web.token
    r = request(port, f"/visit/{token}/{address}/", f"127.0.0.1:{port}")
    assert r.status == 303, r
    assert r.headers["location"] == f"http://{address.removesuffix('.onion')}.localhost:{port}/"


def hosted_file(engine: Engine, address: str, name: str) -> Path:
    seq = engine.snapshot.sites[address].hosting.seq
    return (engine.loaded.paths.data_dir / "sites" / address / "snapshots" / str(seq) /
            "site" / name)


# ---------------------------------------------------------------------- serving


def test_followed_site_is_served_byte_exact(pair: Pair) -> None:
    for name, data in FILES.items():
        r = request(pair.port, "/" + name, pair.host)
        assert r.status == 200, (name, r.status, r.body[:200])
        assert r.body == data, name
        assert r.headers["tidegate-height"] == "1"
        assert r.headers["tidegate-snapshot"] == "1"
        assert r.headers["content-length"] == str(len(data))
        assert r.headers["accept-ranges"] == "bytes"
    home = request(pair.port, "/", pair.host)
    assert home.body == FILES["index.html"]
    assert home.headers["content-type"] == "text/html"
    assert request(pair.port, "/docs/", pair.host).body == FILES["docs/index.html"]
    moved = request(pair.port, "/docs", pair.host)
    assert moved.status == 301 and moved.headers["location"] == "/docs/"
    assert request(pair.port, "/style.css", pair.host).headers["content-type"] == "text/css"
    # the chain travels with the snapshot, and is served like any file
    assert request(pair.port, "/.tidegate/chain", pair.host).status == 200


def test_security_headers(pair: Pair) -> None:
    r = request(pair.port, "/index.html", pair.host)
    h = r.headers
    assert h["server"] == "tidegate"  # no version
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["cross-origin-opener-policy"] == "same-origin"
    assert h["cross-origin-resource-policy"] == "same-origin"
    csp = h["content-security-policy"]
    for directive in ("default-src 'self'", "connect-src 'self'", "form-action 'self'",
                      "frame-ancestors 'self'", "base-uri 'self'"):
        assert directive in csp
    assert "*" not in csp and "http:" not in csp
    assert h["x-frame-options"] == "SAMEORIGIN"
    # aiohttp's own error responses name no version either
    with socket.create_connection(("127.0.0.1", pair.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        raw = s.recv(65536)
    assert raw.startswith(b"HTTP/1.") and b"aiohttp" not in raw and b"Python" not in raw


def test_etag_last_modified_and_conditionals(pair: Pair) -> None:
    r = request(pair.port, "/docs/guide.txt", pair.host)
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert etag.startswith('"') and len(etag) == 66
    assert request(pair.port, "/docs/guide.txt", pair.host,
                   {"If-None-Match": etag}).status == 304
    assert request(pair.port, "/docs/guide.txt", pair.host,
                   {"If-Modified-Since": modified}).status == 304
    assert request(pair.port, "/docs/guide.txt", pair.host,
                   {"If-None-Match": '"nope"'}).status == 200
    assert request(pair.port, "/empty.txt", pair.host).headers["etag"] == '"empty"'


def test_ranges_and_head(pair: Pair) -> None:
    size = len(BIG)
    cases = {
        "bytes=0-0": (0, 1), "bytes=16383-16384": (16383, 16385),
        "bytes=1000000-1999999": (1000000, 2000000), "bytes=-5": (size - 5, size),
        f"bytes={size - 10}-": (size - 10, size), f"bytes=5-{size * 2}": (5, size),
    }
    for header, (lo, hi) in cases.items():
        r = request(pair.port, "/img/big.bin", pair.host, {"Range": header})
        assert r.status == 206, header
        assert r.body == BIG[lo:hi], header
        assert r.headers["content-range"] == f"bytes {lo}-{hi - 1}/{size}"
    bad = request(pair.port, "/img/big.bin", pair.host, {"Range": f"bytes={size}-"})
    assert bad.status == 416 and bad.headers["content-range"] == f"bytes */{size}"
    whole = request(pair.port, "/img/big.bin", pair.host, {"Range": "bytes=0-1,5-6"})
    assert whole.status == 200 and whole.body == BIG
    stale = request(pair.port, "/img/big.bin", pair.host,
                    {"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert stale.status == 200 and len(stale.body) == size
    head = request(pair.port, "/img/big.bin", pair.host, method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(size)
    get = request(pair.port, "/img/big.bin", pair.host)
    for k in ("etag", "last-modified", "content-type", "tidegate-height"):
        assert head.headers[k] == get.headers[k]
    part = request(pair.port, "/img/big.bin", pair.host, {"Range": "bytes=10-19"}, "HEAD")
    assert part.status == 206 and part.headers["content-length"] == "10"


def test_onion_addresses_through_the_proxy(pair: Pair) -> None:
    """A browser whose HTTP proxy is tidegate asks for http://<address>/... (absolute
    form, Host is the onion address)."""
    r = request(pair.port, f"http://{pair.address}/docs/guide.txt", pair.address)
    assert r.status == 200 and r.body == FILES["docs/guide.txt"]
    # the request's authority and Host must agree
    assert request(pair.port, f"http://{pair.address}/", "evil.com").status == 421
    assert request(pair.port, "http://evil.com/", pair.address).status == 421
    pac = request(pair.port, "/proxy.pac", f"127.0.0.1:{pair.port}")
    assert b'dnsDomainIs(host, ".onion")' in pac.body and str(pair.port).encode() in pac.body


def test_hostile_hosts_get_421_and_no_content(pair: Pair) -> None:
    from tests.proxy.test_proxy_units import hostile_hosts

    hosts = hostile_hosts(pair.port, pair.address)
    assert len(hosts) == 100
    for host in hosts:
        raw_host = host.encode() if host is not None else None
        with socket.create_connection(("127.0.0.1", pair.port), timeout=5) as s:
            head = b"GET /index.html HTTP/1.1\r\n"
            if raw_host is not None:
                head += b"Host: " + raw_host + b"\r\n"
            s.sendall(head + b"Connection: close\r\n\r\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        status = raw.split(b" ", 2)[1] if raw.startswith(b"HTTP/1.") else b"(none)"
        assert status in (b"421", b"400"), (host, raw[:200])
        assert FILES["index.html"] not in raw, host
        if status == b"421":
            _, _, body = raw.partition(b"\r\n\r\n")
            assert body == b"" and b"Content-Length: 0" in raw, host


def test_traversal_and_unknown_paths_are_404_without_paths(pair: Pair) -> None:
    secret_dir = str(pair.b.loaded.paths.data_dir).encode()
    for path in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                 "/..%2f..%2f..%2fetc%2fpasswd", "/img/..%2f..%2f..%2fsite.json",
                 "/../site.json", "/../layers", "/%2e%2e/chain", "/img/%2e%2e/%2e%2e/key",
                 "/nope.html", "/img/", "/img", "/index.html/", "//etc/passwd",
                 "/docs/../../key", "/%00", "/img/big.bin%00.txt", "/\\..\\..\\key"):
        r = request(pair.port, path, pair.host)
        assert r.status in (404, 400), (path, r.status)
        assert secret_dir not in r.body and b"root:" not in r.body, path
        assert b"snapshots" not in r.body and b"sites/" not in r.body, path


def test_api_is_not_reachable_through_the_proxy(pair: Pair) -> None:
    for host in (pair.host, f"127.0.0.1:{pair.port}"):
        for path in ("/api", "/status", "/shutdown", "/site/new", "/torrent/"):
            r = request(pair.port, path, host)
            assert r.status == (403 if path == "/torrent/" and "127" in host else 404), (
                host, path)  # streaming needs the user's token
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            r = request(pair.port, "/index.html", host, method=method)
            assert r.status == 405 and r.body == b"", method
    sites = pair.b.snapshot.sites
    assert set(sites) == {pair.address}


def test_site_only_listener_serves_one_site_and_nothing_else(pair: Pair) -> None:
    """The onion service target: the site whatever Host says; no other site, no
    streaming, no proxy pages."""
    assert pair.b.proxy is not None
    sock = pair.b.loaded.paths.runtime_dir / "site.sock"
    sock.parent.mkdir(parents=True, exist_ok=True)
    pair.b.proxy.serve_site_at(pair.address, sock).result(10)
    assert oct(sock.stat().st_mode & 0o777) == "0o600"

    def over_unix(path: str, host: str) -> bytes:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(sock))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                      .encode())
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        return raw

    raw = over_unix("/index.html", "127.0.0.1")
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(FILES["index.html"])
    other = SiteKey.generate().address
    raw = over_unix("/index.html", other)
    assert raw.endswith(FILES["index.html"])  # still only this site
    for path in ("/torrent/", "/proxy.pac"):
        assert over_unix(path, f"127.0.0.1:{pair.port}").startswith(b"HTTP/1.1 404")
    pair.b.proxy.close_site(pair.address).result(10)


# ---------------------------------------------------------------------- visits


def test_unknown_site_is_asked_for_and_served(pair: Pair, tmp_path: Path) -> None:
    source = write_site(tmp_path / "second", {"index.html": b"<h1>second</h1>"})
    address = pair.a.site_new("second", str(source)).result(30).address
    pair.a.site_publish("second").result(60)
    wait_site(pair.a, address, lambda s: s.hosting.seq == 1, 30)
    assert address not in pair.b.snapshot.sites
    assert pair.b.proxy is not None and pair.b.proxy.visitor is not None
    asked = pair.b.proxy.visitor.requested
    host = f"{address.removesuffix('.onion')}.localhost:{pair.port}"
    # without the user's token (any local user can reach 127.0.0.1): nothing is followed
    r = request(pair.port, "/", host)
    assert r.status == 403 and b"tidegate site url" in r.body
    wrong = request(pair.port, f"/visit/{'x' * 43}/{address}/", f"127.0.0.1:{pair.port}")
    assert wrong.status == 403 and pair.b.proxy.visitor.requested == asked
    assert address not in pair.b.snapshot.sites
    consent(pair.b, address)
    r = request(pair.port, "/", host, timeout=60)
    assert r.status == 200 and r.body == b"<h1>second</h1>"
    assert pair.b.proxy.visitor.requested == asked + 1
    assert address in pair.b.snapshot.sites  # the hostname message made B follow it
    pair.b.site_unfollow(address, True).result(30)


def test_unknown_site_nobody_has_gets_an_explanation(pair: Pair) -> None:
    assert pair.b.proxy is not None and pair.b.proxy.visitor is not None
    visitor = pair.b.proxy.visitor
    visitor.timeout = 1.0
    address = SiteKey.generate().address
    consent(pair.b, address)
    try:
        r = request(pair.port, "/", f"{address.removesuffix('.onion')}.localhost:{pair.port}")
    finally:
        visitor.timeout = pair.b.config.web.visit_timeout
    assert r.status == 504
    assert b"found no chain" in r.body and b"web.tor_socks" in r.body
    assert r.headers["content-type"].startswith("text/html")
    pair.b.site_unfollow(address, True).result(30)


def test_unknown_site_falls_back_to_tor_socks(pair: Pair) -> None:
    """With web.tor_socks set, a site not held in time is fetched through the SOCKS port
    (here a SOCKS5 server of the test's own standing in for tor's, which is tested for
    real with the onion services), and marked unverified."""
    import threading

    seen: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def socks() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(3)
            conn.sendall(b"\x05\x00")
            head = conn.recv(4)
            length = conn.recv(1)[0]
            seen.append(conn.recv(length))
            conn.recv(2)
            conn.sendall(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
            req = conn.recv(65536)
            seen.append(head + req)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 8\r\nConnection: close\r\n\r\nvia tor!")

    t = threading.Thread(target=socks, daemon=True)
    t.start()
    assert pair.b.proxy is not None and pair.b.proxy.visitor is not None
    visitor = pair.b.proxy.visitor
    visitor.timeout, visitor.tor_socks = 0.5, f"127.0.0.1:{server.getsockname()[1]}"
    address = SiteKey.generate().address
    consent(pair.b, address)
    try:
        r = request(pair.port, f"http://{address}/page?x=1", address)
    finally:
        visitor.timeout, visitor.tor_socks = pair.b.config.web.visit_timeout, ""
        t.join(10)
        server.close()
    assert r.status == 200 and r.body == b"via tor!"
    assert r.headers["tidegate-verified"] == "no"
    assert "content-security-policy" in r.headers
    assert seen[0] == address.encode()  # the name goes to tor, never to local DNS
    assert b"GET /page?x=1 HTTP/1.1" in seen[1]
    pair.b.site_unfollow(address, True).result(30)


# ---------------------------------------------------------------------- tampering


@pytest.mark.slow
def test_tampered_file_gets_502_and_a_recheck(pair: Pair) -> None:
    """Last in the module: it damages B's copy (B repairs it from A)."""
    stream = pair.b.subscribe()
    path = hosted_file(pair.b, pair.address, "img/big.bin")
    assert request(pair.port, "/img/big.bin", pair.host).body == BIG  # cached
    piece = 16 << 10
    with open(path, "r+b") as f:  # one byte of piece 100
        f.seek(100 * piece + 7)
        f.write(bytes([BIG[100 * piece + 7] ^ 0xFF]))
    bad = request(pair.port, "/img/big.bin", pair.host,
                  {"Range": f"bytes={100 * piece}-{101 * piece - 1}"})
    assert bad.status == 502, bad.status
    assert BIG[100 * piece:100 * piece + 64] not in bad.body
    assert b"does not match" in bad.body
    deadline = time.monotonic() + 20
    refused = None
    while refused is None and time.monotonic() < deadline:
        ev = stream.get(1.0)
        if isinstance(ev, SiteRefused) and ev.reason == "bad_piece":
            refused = ev
    assert refused is not None and "piece 100" in refused.message
    # libtorrent rechecks, fetches piece 100 again from A, and the file is served again;
    # meanwhile a whole-file GET sends the verified pieces before 100, then ends. (B dials
    # A again only after libtorrent's min_reconnect_time, 60 s, since they last spoke.)
    deadline = time.monotonic() + 150
    repaired = False
    while not repaired and time.monotonic() < deadline:
        try:
            r = request(pair.port, "/img/big.bin", pair.host)
        except http.client.IncompleteRead as exc:
            assert exc.partial == BIG[:100 * piece]  # nothing unverified was sent
            time.sleep(0.5)
            continue
        repaired = r.status == 200
        if not repaired:
            assert r.status == 502
            time.sleep(0.5)
    assert r.status == 200 and r.body == BIG
    assert path.read_bytes() == BIG
    wait_site(pair.b, pair.address, lambda s: s.hosting.error == "", 30)
    pair.b.unsubscribe(stream)


# ---------------------------------------------------------------------- streaming


def test_streaming_a_torrent_while_it_downloads(tmp_path: Path) -> None:
    """The seed sends at 1 MiB/s: the stream's bytes arrive, correct, long before the
    download ends, from the middle of the file first (a Range, like a player seeking)."""
    payload = make_payload(tmp_path, sizes=(8_000_000,))
    created = make_torrent(payload, piece_size=256 << 10)
    data = (payload / "file0.bin").read_bytes()
    seed = build_engine(tmp_path / "seed", rates={"upload": 1 << 20,
                                                  "limit_local_peers": True}).start()
    viewer = site_engine(tmp_path / "viewer").start()
    try:
        start_seed(seed, created, payload)
        tid = viewer.add(AddRequest(torrent=created.data, save_path=str(tmp_path / "dl"),
                                    peers=[f"127.0.0.1:{port_of(seed)}"])).result(10)
        port, token = viewer.snapshot.web.port, viewer.snapshot.web.token
        host = f"127.0.0.1:{port}"
        for bad in ("", "x" * 43, token[:-1], token + "x"):  # nothing without the token
            assert request(port, f"/torrent/{bad}/{tid}/", host).status == 403
            assert request(port, f"/torrent/{bad}/{tid}/payload/file0.bin", host).status == 403
        assert request(port, f"/torrent/{tid}/payload/file0.bin", host).status == 403
        listing = request(port, f"/torrent/{token}/{tid}/", host)
        assert listing.status == 200 and b"payload/file0.bin" in listing.body
        lo, hi = 5_000_000, 5_300_000
        r = request(port, f"/torrent/{token}/{tid}/payload/file0.bin", host,
                    {"Range": f"bytes={lo}-{hi - 1}"})
        progress = viewer.snapshot.torrents[tid].progress
        assert r.status == 206 and r.body == data[lo:hi]
        assert progress < 0.9, progress  # served while most of it is still to come
        assert r.headers["content-security-policy"].endswith("sandbox")
        whole = request(port, f"/torrent/{token}/{tid}/payload/file0.bin", host, timeout=120)
        assert whole.status == 200 and whole.body == data
        assert request(port, f"/torrent/{token}/{tid}/payload/nope.bin", host).status == 404
        assert request(port, f"/torrent/{token}/{'0' * 40}/x", host).status == 404
        # only the loopback names stream: a site's origin cannot
        site_host = f"{SiteKey.generate().address.removesuffix('.onion')}.localhost:{port}"
        assert viewer.proxy is not None and viewer.proxy.visitor is not None
        viewer.proxy.visitor.timeout = 0.2
        assert request(port, f"/torrent/{token}/{tid}/payload/file0.bin",
                       site_host).status == 403  # not followed, and no consent to
    finally:
        viewer.stop()
        seed.stop()


def test_embedding_an_unknown_site_does_not_make_the_node_follow_it(pair: Pair) -> None:
    """Any page could embed <img src="http://<address>.localhost:8475/">: only a
    navigation the user started looks a site up (and follows it)."""
    address = SiteKey.generate().address
    host = f"{address.removesuffix('.onion')}.localhost:{pair.port}"
    kinds = (("image", "no-cors"), ("empty", "cors"), ("iframe", "navigate"),
             ("script", "no-cors"))
    for consented, status in ((False, 403), (True, 404)):  # even once the user asked for it
        if consented:
            consent(pair.b, address)
        for dest, mode in kinds:
            started = time.monotonic()
            r = request(pair.port, "/x.png", host, {
                "Sec-Fetch-Dest": dest, "Sec-Fetch-Mode": mode, "Sec-Fetch-Site": "cross-site"})
            assert r.status == status and time.monotonic() - started < 2
    time.sleep(1.0)
    assert address not in pair.b.snapshot.sites
