"""What the network can send the Smart Proxy of a real daemon, and what it must not do to
it: requests for other protocols (WebSocket, h2c, CONNECT) get a refusal and the proxy
keeps serving, and nothing a request does writes to the daemon's stderr (a pipe here
that nobody reads until the daemon has stopped, as under a careless supervisor)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
import subprocess
import time
from pathlib import Path

from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tidegate.engine import commands as cmds

UPGRADES = {
    "websocket": (b"GET / HTTP/1.1\r\nHost: %(host)s\r\nConnection: Upgrade\r\n"
                  b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n", b"501"),
    "h2c": (b"GET / HTTP/1.1\r\nHost: %(host)s\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"501"),
    "connect": (b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\nSSH-2.0-x\r\n",
                b"405"),
    # the same after a request aiohttp answered (the connection is aiohttp's by then)
    "websocket after a range": (b"GET / HTTP/1.1\r\nHost: %(host)s\r\nRange: bytes=0-1\r\n\r\n"
                                b"GET / HTTP/1.1\r\nHost: %(host)s\r\nConnection: Upgrade\r\n"
                                b"Upgrade: websocket\r\n\r\n", b"501"),
    "connect after a range": (b"GET / HTTP/1.1\r\nHost: %(host)s\r\nRange: bytes=0-1\r\n\r\n"
                              b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
                              b"405"),
}


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send ``raw``, read until the proxy closes the connection."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    raise AssertionError(f"the proxy did not close the connection: {out[:200]!r}")


def statuses(reply: bytes) -> list[bytes]:
    return re.findall(rb"HTTP/1\.[01] (\d{3}) ", reply)


def test_upgrades_and_connect_are_refused_without_a_word_on_stderr(
        daemons: list[DaemonProc]) -> None:
    d = DaemonProc(short_home())
    daemons.append(d.start())
    client = d.client()
    try:
        port = client.wait_for(lambda s: s.web.port > 0, 10).web.port
        host = b"127.0.0.1:%d" % port
        sent = 0
        for round_ in range(100):  # 500 requests, ~8x what once froze the proxy
            for name, (raw, status) in UPGRADES.items():
                reply = exchange(port, raw % {b"host": host})
                assert statuses(reply)[-1:] == [status], (round_, name, reply[:300])
                assert b"connection: close" in reply.lower(), (name, reply[:300])
                sent += 1
        assert sent == 500
        # the proxy still serves, the API still answers, the refusals are counted
        page = exchange(port, b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host)
        assert statuses(page) == [b"200"] and b"Sites served here" in page
        web = client.wait_for(lambda s: s.web.refused >= sent, 10).web
        assert web.refused >= sent
    finally:
        client.stop()
    started = time.monotonic()
    assert d.stop(timeout=30) == 0
    assert time.monotonic() - started < 30
    assert "Traceback" not in d.stderr and "Error" not in d.stderr, d.stderr[-2000:]
    assert len(d.stderr) < 2000, d.stderr[-2000:]


ABSOLUTE_TARGETS = {
    # target, Host header -> status (b"4": refused, 421 by the proxy or 400 by aiohttp's
    # parser, with no content)
    ("HTTP://evil.example/", "%(loop)s"): b"4",
    ("Http://evil.example:%(port)d/", "%(loop)s"): b"4",
    ("ftp://%(loop)s/", "%(loop)s"): b"4",
    ("FTP://evil.example/", "%(loop)s"): b"4",
    ("file:///etc/passwd", "%(loop)s"): b"4",
    ("gopher://%(loop)s/", "%(loop)s"): b"4",
    ("https://%(loop)s/", "%(loop)s"): b"4",
    ("HTTPS://%(loop)s/", "%(loop)s"): b"4",
    ("*", "%(loop)s"): b"4",
    ("HTTP://%(loop)s/", "%(loop)s"): b"200",  # the same host in any case of scheme
    ("http://%(loop)s/", "%(loop)s"): b"200",
    ("hTtP://%(loop)s/?x", "%(loop)s"): b"200",
}


def test_absolute_form_targets_of_any_scheme_and_case_are_checked(
        daemons: list[DaemonProc]) -> None:
    d = DaemonProc(short_home())
    daemons.append(d.start())
    client = d.client()
    try:
        port = client.wait_for(lambda s: s.web.port > 0, 10).web.port
    finally:
        client.stop()
    names = {"port": port, "loop": f"127.0.0.1:{port}"}
    got = {}
    for (target, host), want in ABSOLUTE_TARGETS.items():
        raw = (f"GET {target % names} HTTP/1.1\r\nHost: {host % names}\r\n"
               "Connection: close\r\n\r\n").encode()
        reply = exchange(port, raw)
        got[target] = (statuses(reply), want)
        if want == b"200":
            assert b"Sites served here" in reply, reply[:300]
        else:
            assert b"Sites served" not in reply and b"<" not in reply, reply[:300]
    assert all(len(s) == 1 and s[0] in (b"400", b"421") if w == b"4" else s == [w]
               for s, w in got.values()), got
    assert d.stop(timeout=30) == 0


def test_a_fifo_in_place_of_the_layers_file_hangs_nothing(tmp_path: Path,
                                                          daemons: list[DaemonProc]) -> None:
    """Large files are checked piece by piece against the snapshot's ``layers`` file; a
    FIFO planted there once hung every large-file read (``open`` waits for a writer)."""
    big = os.urandom(1 << 20)  # 64 pieces of 16 KiB: read in the thread pool
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.html").write_bytes(b"<h1>big</h1>")
    (source / "big.bin").write_bytes(big)
    d = DaemonProc(short_home())
    daemons.append(d.start())
    client = d.client()
    fifo: Path | None = None
    try:
        port = client.wait_for(lambda s: s.web.port > 0, 10).web.port
        address = client.run(cmds.SiteNew("big", str(source))).result(30).address
        client.run(cmds.SitePublish("big")).result(60)
        client.wait_for(lambda s: address in s.sites and s.sites[address].hosting.seq == 1, 60)
        (layers,) = d.home.rglob(f"{address}/snapshots/1/layers")
        layers.unlink()
        os.mkfifo(layers)
        fifo = layers
        host = f"{address.removesuffix('.onion')}.localhost:{port}"
        for extra in ("", "Range: bytes=100000-299999\r\n") * 3:  # more than the 4 readers
            raw = f"GET /big.bin HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
            reply = exchange(port, raw.encode(), timeout=20)
            head, _, body = reply.partition(b"\r\n\r\n")
            if extra:
                assert statuses(head) == [b"206"] and body == big[100000:300000], head
            else:
                assert statuses(head) == [b"200"] and body == big, head
        assert stat.S_ISFIFO(layers.lstat().st_mode)  # still there, never opened
    finally:
        if fifo is not None:  # a reader stuck in open() (the bug) is let go
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        client.stop()
    assert d.stop(timeout=30) == 0


def run_cli(d: DaemonProc, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(TIDEGATE + list(args), env=env_for(d.home), capture_output=True,
                          text=True, timeout=60)


def test_idle_connections_cannot_take_the_descriptors_the_api_needs(
        daemons: list[DaemonProc]) -> None:
    """With the common soft limit of 1,024 descriptors, 1,100 idle connections to the
    proxy once made libzmq abort the daemon on the next API connection ("Too many open
    files"). The proxy now refuses connections past its cap (503, closed), counts them,
    and the API, the proxy and the stop still work."""
    limit, hostile = 1024, 1100
    d = DaemonProc(short_home(), prefix=["prlimit", f"--nofile={limit}:{limit}", "--"])
    daemons.append(d.start())
    client = d.client()
    try:
        port = client.wait_for(lambda s: s.web.port > 0, 10).web.port
    finally:
        client.stop()
    held: list[socket.socket] = []
    try:
        for _ in range(hostile):
            with contextlib.suppress(OSError):  # a connect the kernel's backlog dropped
                held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        time.sleep(0.5)
        # a new API connection (the CLI) works, and the daemon says what it refused
        deadline = time.monotonic() + 30
        while True:
            shown = run_cli(d, "proxy", "--json")
            assert shown.returncode == 0, (shown.stderr, d.p.poll() if d.p else None)
            web = json.loads(shown.stdout)
            if web["busy"] >= len(held) - web["max_connections"] or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.5)
        cap = web["max_connections"]
        assert 16 <= cap < limit // 2, web
        assert web["busy"] >= hostile - cap - 5, web
        ls = run_cli(d, "ls")
        assert ls.returncode == 0 and "no torrents" in ls.stderr, ls.stderr
        # the refused ones got a 503 and were closed; the admitted ones are still open
        refused = 0
        for s in held:
            s.settimeout(0.05)
            with contextlib.suppress(TimeoutError):
                try:
                    got = s.recv(200)
                except ConnectionResetError:
                    got = b""
                assert got == b"" or got.startswith(b"HTTP/1.1 503 "), got
                refused += 1
        assert refused >= hostile - cap - 5 and len(held) - refused <= cap, (refused, cap)
        # at the cap a new visitor is refused; once some idle ones leave, it is served
        over = exchange(port, b"")  # answered before anything is read
        assert statuses(over) == [b"503"], over
        for s in held:
            s.close()
        held.clear()
        deadline = time.monotonic() + 10
        while True:
            page = exchange(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                  b"Connection: close\r\n\r\n" % port)
            if statuses(page) == [b"200"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert statuses(page) == [b"200"], page
    finally:
        for s in held:
            s.close()
    assert d.stop(timeout=30) == 0
    assert "Too many open files" not in d.stderr and "Traceback" not in d.stderr, d.stderr
