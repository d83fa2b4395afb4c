"""A private Tor network on loopback carries a 200 KB file through a v3 onion service.

The network (tests/helpers/tornet.py) has 3 directory authorities and 5 relays; an onion-service
tor started here joins it with ``TorNet.client_torrc`` and publishes an ephemeral
ED25519-V3 service for a local HTTP server; a separate client tor fetches the file
through its SOCKS port (SOCKS5, hostname resolved by tor).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import threading
import time
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.tornet import (
    TOR,
    TorNet,
    bootstrap_progress,
    bounded,
    connect_controller,
    format_torrc,
    pid_alive,
    stop_all,
    wait_port,
)

PAYLOAD_SIZE = 200 * 1024
# Bounded waits, generous against the measured times (2 CPUs, loaded or not); their sum
# with teardown stays well under the pytest timeout below.
BOOTSTRAP_TIMEOUT = 240.0  # network + client: measured 19-22 s (first consensus ~17 s)
SERVICE_TIMEOUT = 60.0  # the onion-service tor's own bootstrap: ~0 s once the net is up
PUBLISH_TIMEOUT = 90.0  # ADD_ONION until the first descriptor upload: ~1 s
FETCH_TIMEOUT = 150.0  # all fetch attempts together: 0.6-3 s, 1-2 attempts

# tor's SOCKS5 replies, with the ExtendedErrors SocksPort flag for onion addresses
SOCKS_ERRORS = {
    1: "general failure",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    0xF0: "onion service descriptor not found",
    0xF1: "onion service descriptor invalid",
    0xF2: "onion service introduction failed",
    0xF3: "onion service rendezvous failed",
    0xF4: "onion service client auth missing",
    0xF5: "onion service client auth wrong",
    0xF6: "onion address invalid",
    0xF7: "onion service introduction timed out",
}


class SocksError(OSError):
    pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise SocksError(f"SOCKS proxy closed after {len(buf)}/{n} bytes")
        buf += chunk
    return buf


def socks5_http_get(socks_port: int, host: str, path: str, timeout: float) -> bytes:
    """GET http://host/path through a SOCKS5 proxy on 127.0.0.1, the name resolved by
    the proxy (ATYP 3, domain); returns the body of a 200 response."""
    with socket.create_connection(("127.0.0.1", socks_port), timeout=timeout) as s:
        s.sendall(b"\x05\x01\x00")  # version 5, one method: no authentication
        if _recv_exact(s, 2) != b"\x05\x00":
            raise SocksError("SOCKS5 proxy refused 'no authentication'")
        name = host.encode("ascii")
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", 80))
        ver, rep, _, atyp = _recv_exact(s, 4)
        if ver != 5 or rep != 0:
            raise SocksError(f"SOCKS5 reply {rep:#x}: {SOCKS_ERRORS.get(rep, 'unknown')}")
        if atyp == 1:
            _recv_exact(s, 4 + 2)
        elif atyp == 4:
            _recv_exact(s, 16 + 2)
        elif atyp == 3:
            _recv_exact(s, _recv_exact(s, 1)[0] + 2)
        else:
            raise SocksError(f"SOCKS5 reply with address type {atyp}")
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("ascii"))
        chunks: list[bytes] = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not sep or status.split()[1:2] != [b"200"]:
        raise OSError(f"bad HTTP response: {status!r} ({len(raw)} bytes)")
    return body


def serve_file(data: bytes) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 (a free port) that serves ``data`` at /file."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/file":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def start_onion_tor(net: TorNet, data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A tor started by this test, not by TorNet: ``client_torrc`` plus a ControlPort,
    as a site publisher's managed tor would be."""
    control_port = net.ports.take()
    options = net.client_torrc(data_dir)
    options.update(
        {
            "SocksPort": "0",
            "ControlPort": f"127.0.0.1:{control_port}",
            "CookieAuthentication": "1",
            # stem takes ownership (TAKEOWNERSHIP) when it connects from this pid, so
            # closing our controller, or this process dying, ends this tor too
            "__OwningControllerProcess": str(os.getpid()),
        }
    )
    data_dir.mkdir(mode=0o700, parents=True)
    torrc = data_dir / "torrc"
    torrc.write_text(format_torrc(options))
    (data_dir / "torrc-defaults").write_text("")
    with (data_dir / "stdout.log").open("ab") as out:
        proc = subprocess.Popen(
            [TOR, "-f", str(torrc), "--defaults-torrc", str(data_dir / "torrc-defaults")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, control_port


def wait_tor_bootstrapped(controller: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        pct, summary = bounded(partial(bootstrap_progress, controller), 10.0, what)
        if pct >= 100:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} stuck at {pct}% ({summary}) after {timeout:.0f} s")
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning")  # stem 1.8.2
def test_onion_service_serves_a_file_over_private_tor_network(tmp_path: Path) -> None:
    t0 = time.monotonic()
    data = os.urandom(PAYLOAD_SIZE)
    server = serve_file(data)
    http_port = server.server_address[1]
    started: list[int] = []
    onion: subprocess.Popen[bytes] | None = None
    service_ctl: Any = None
    net: TorNet | None = None
    timings: dict[str, float] = {}
    errors: list[str] = []
    try:
        net = TorNet(tmp_path / "net")
        net.start()
        timings["keys+launch"] = time.monotonic() - t0
        client = net.start_client("client")
        onion_dir = tmp_path / "net" / "onion"
        onion, onion_control = start_onion_tor(net, onion_dir)

        timings["network bootstrap"] = net.wait_bootstrapped(BOOTSTRAP_TIMEOUT)

        try:
            wait_port(onion_control, onion, 30.0)
            service_ctl = connect_controller(onion_control)
            wait_tor_bootstrapped(service_ctl, SERVICE_TIMEOUT, "onion-service tor")
            t = time.monotonic()
            response = service_ctl.create_ephemeral_hidden_service(
                {80: f"127.0.0.1:{http_port}"},
                key_type="NEW",
                key_content="ED25519-V3",
                await_publication=True,
                timeout=PUBLISH_TIMEOUT,
            )
            timings["publication"] = time.monotonic() - t
        except Exception as e:
            raise AssertionError(
                f"onion service failed: {e!r}\n"
                f"{(onion_dir / 'notice.log').read_text()[-4000:]}"
            ) from e
        address = f"{response.service_id}.onion"
        assert len(response.service_id) == 56

        t = time.monotonic()
        deadline = t + FETCH_TIMEOUT
        body = b""
        client_ctl = net.controller("client")
        while True:
            try:
                body = socks5_http_get(client.socks_port, address, "/file", timeout=60.0)
                break
            except OSError as e:
                errors.append(f"{time.monotonic() - t:.1f}s {e!r}")
                if time.monotonic() > deadline:
                    raise AssertionError(
                        "fetch through the onion service failed:\n"
                        + "\n".join(errors)
                        + "\n"
                        + net.log_tails()
                    ) from e
                # Usually 0xF0 once: await_publication returns after the first of the
                # HSDir uploads, and the client may ask another HSDir first. A test network
                # lets a client ask the same HSDir again after 5 s (15 min otherwise).
                # NEWNYM also drops cached descriptors and intro-point failures.
                with contextlib.suppress(Exception):
                    client_ctl.signal("NEWNYM")
                time.sleep(3.0)
        timings["fetch"] = time.monotonic() - t
        timings["fetch attempts"] = len(errors) + 1
        assert len(body) == len(data)
        assert body == data
    finally:
        t_stop = time.monotonic()
        # every tor this test started, also after a failure halfway through
        started += net.pids if net is not None else []
        started += [onion.pid] if onion is not None else []
        if service_ctl is not None:
            with contextlib.suppress(Exception):
                service_ctl.close()
        if onion is not None:
            stop_all([onion])
        if net is not None:
            net.stop()
        server.shutdown()
        server.server_close()
        timings["teardown"] = time.monotonic() - t_stop
    timings["total"] = time.monotonic() - t0
    print("timings:", {k: round(v, 1) for k, v in timings.items()}, "errors:", errors)
    assert len(started) == 3 + 5 + 2  # authorities, relays, client, onion service
    alive = [pid for pid in started if pid_alive(pid)]
    assert alive == [], f"tor processes still alive after teardown: {alive}"
