"""The component bus on real ZeroMQ sockets: inproc, ipc across processes, tcp with CURVE.

Pure checks call engine.api.bus_messages directly (validation, the Deduper);
the rest send over real sockets with bounded waits, on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from tidegate.engine.api import bus_messages as bm
from tidegate.engine.api.bus import (
    HostnameOutbox,
    Inbox,
    Outbox,
    blockchain_inbox,
    hosting_inbox,
    hostname_outbox,
    update_outbox,
)
from tidegate.engine.api.bus_messages import BusMessageError, Deduper, HostnameRequest, SiteUpdate
from tidegate.engine.api.keys import KeyPair, load_or_create
from tidegate.engine.config import from_dict
from tidegate.engine.errors import ConfigError, ProtocolError

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
MAGNET = "magnet:?xt=urn:btih:" + "0123456789abcdef" * 2 + "01234567" + "&dn=site"
MAGNET_V2 = "magnet:?dn=x&xt=urn:btmh:1220" + "ab" * 32


def onion(i: int) -> str:
    """A well-formed v3 onion hostname (56 base32 characters)."""
    digest = hashlib.sha512(str(i).encode()).digest()[:35]
    return base64.b32encode(digest).decode().lower() + ".onion"


def update(t: int = 1_700_000_000, n_hosts: int = 2) -> SiteUpdate:
    return SiteUpdate(time=t, snapshot=MAGNET, hosts=[onion(i) for i in range(n_hosts)])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.term()


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A folder under /tmp short enough for unix socket paths (107 bytes)."""
    folder = tempfile.mkdtemp(prefix="tg", dir="/tmp")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- messages, sans-IO


def test_encode_has_exactly_the_designed_keys() -> None:
    raw = json.loads(bm.encode(update()))
    assert set(raw) == {"time", "snapshot", "hosts"}
    assert raw["hosts"] == [onion(0), onion(1)] and raw["time"] == 1_700_000_000
    assert json.loads(bm.encode(HostnameRequest("site.onion"))) == {"hostname": "site.onion"}
    assert bm.decode(bm.encode(update()), SiteUpdate) == update()
    assert SiteUpdate(time=0, snapshot=MAGNET_V2, hosts=[]).hosts == ()


BAD_UPDATES = [
    (b"not json", "malformed"),
    (b"\xff\xfe{}", "malformed"),
    (b"[1, 2]", "object"),
    (json.dumps({"time": "1", "snapshot": MAGNET, "hosts": []}).encode(), "$.time"),
    (json.dumps({"time": True, "snapshot": MAGNET, "hosts": []}).encode(), "$.time"),
    (json.dumps({"time": 1.5, "snapshot": MAGNET, "hosts": []}).encode(), "$.time"),
    (json.dumps({"time": -1, "snapshot": MAGNET, "hosts": []}).encode(), "`time`"),
    (json.dumps({"time": 2**63, "snapshot": MAGNET, "hosts": []}).encode(), "time"),
    (json.dumps({"time": 1, "snapshot": MAGNET}).encode(), "`hosts`"),
    (json.dumps({"time": 1, "snapshot": MAGNET, "hosts": [], "extra": 1}).encode(), "`extra`"),
    (json.dumps({"time": 1, "snapshot": "http://x/", "hosts": []}).encode(), "`snapshot`"),
    (json.dumps({"time": 1, "snapshot": "magnet:?dn=no-hash", "hosts": []}).encode(),
     "`snapshot`"),
    (json.dumps({"time": 1, "snapshot": "magnet:?xt=urn:btih:123", "hosts": []}).encode(),
     "`snapshot`"),
    (json.dumps({"time": 1, "snapshot": MAGNET, "hosts": "x.onion"}).encode(), "$.hosts"),
    (json.dumps({"time": 1, "snapshot": MAGNET,
                 "hosts": [onion(i) for i in range(65)]}).encode(), "`hosts`"),
    (json.dumps({"time": 1, "snapshot": MAGNET, "hosts": [onion(0), "example.com"]}).encode(),
     "`hosts[1]`"),
    (json.dumps({"time": 1, "snapshot": MAGNET, "hosts": ["abc.onion"]}).encode(), "`hosts[0]`"),
    (json.dumps({"time": 1, "snapshot": MAGNET, "hosts": [1]}).encode(), "$.hosts[0]"),
    (b" " * (bm.MAX_MESSAGE_SIZE + 1), "limit"),
]

BAD_REQUESTS = [
    (b'{"hostname": "example.com"}', "`hostname`"),
    (b'{"hostname": "SITE.ONION"}', "`hostname`"),
    (b'{"hostname": ".onion"}', "`hostname`"),
    (b'{"hostname": "a b.onion"}', "`hostname`"),
    (json.dumps({"hostname": "a" * 250 + ".onion"}).encode(), "`hostname`"),
    (b'{"hostname": 7}', "$.hostname"),
    (b'{"hostname": "site.onion", "time": 1}', "`time`"),
    (b"{}", "`hostname`"),
    (b"null", "object"),
]


@pytest.mark.parametrize(("data", "field"), BAD_UPDATES)
def test_bad_site_updates_raise_protocol_error_naming_the_field(data: bytes, field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        bm.decode(data, SiteUpdate)
    assert field in str(info.value)
    assert info.value.code == "bad_message"


@pytest.mark.parametrize(("data", "field"), BAD_REQUESTS)
def test_bad_hostname_requests_raise_protocol_error_naming_the_field(data: bytes,
                                                                      field: str) -> None:
    with pytest.raises(ProtocolError, match="HostnameRequest") as info:
        bm.decode(data, HostnameRequest)
    assert field in str(info.value)


def test_invalid_messages_cannot_be_built() -> None:
    with pytest.raises(BusMessageError, match="`hosts\\[0\\]`"):
        SiteUpdate(time=1, snapshot=MAGNET, hosts=["nope.onion"])
    with pytest.raises(BusMessageError, match="`time`"):
        SiteUpdate(time=-1, snapshot=MAGNET, hosts=[])
    with pytest.raises(BusMessageError, match="`hostname`"):
        HostnameRequest("example.org")
    assert HostnameRequest("www." + onion(3)).hostname.endswith(".onion")
    assert HostnameRequest("a" * 63 + "." + "b" * 63 + ".onion")


def test_deduper_window_expiry_and_bounded_memory() -> None:
    clock = FakeClock()
    dedup = Deduper(5.0, clock, max_keys=3)
    assert dedup.should_send("a") and not dedup.should_send("a")
    clock.now += 4.9
    assert not dedup.should_send("a"), "still inside the window"
    assert dedup.should_send("b")
    clock.now += 0.1
    assert dedup.should_send("a"), "window over"
    for key in "cdefg":
        dedup.should_send(key)
    assert len(dedup) == 3
    clock.now += 5.0
    dedup.should_send("z")
    assert len(dedup) == 1, "expired keys are forgotten"
    dedup.forget("z")
    assert dedup.should_send("z")
    always = Deduper(0.0, clock)
    assert all(always.should_send("a") for _ in range(3)) and len(always) == 0


# ---------------------------------------------------------------- inproc


def test_inproc_round_trip_of_both_messages(ctx: zmq.Context) -> None:
    cfg = from_dict({"bus": {"hosting_endpoint": "inproc://t-rt-hosting",
                             "blockchain_endpoint": "inproc://t-rt-chain"}})
    # Senders connect before the receivers bind: PUSH queues, nothing is lost.
    updates = update_outbox(cfg, context=ctx)
    names = hostname_outbox(cfg, context=ctx)
    assert updates.send(update(42)) and names.request("site.onion")
    with hosting_inbox(cfg, context=ctx) as hosting, blockchain_inbox(cfg, context=ctx) as chain:
        assert hosting.recv(2.0) == update(42)
        assert chain.recv(2.0) == HostnameRequest("site.onion")
        assert hosting.recv(0) is None and chain.recv(0) is None
        assert (hosting.received, hosting.dropped, chain.received) == (1, 0, 1)
    updates.close()
    names.close()


def test_wire_bytes_are_plain_json_with_exactly_the_designed_keys(ctx: zmq.Context) -> None:
    pull = ctx.socket(zmq.PULL)
    pull.bind("inproc://t-wire")
    pull.rcvtimeo = 2000
    try:
        with Outbox(SiteUpdate, "inproc://t-wire", context=ctx) as out:
            out.send(update(7))
            first = json.loads(pull.recv())
        with Outbox(HostnameRequest, "inproc://t-wire", context=ctx) as out:
            out.send(HostnameRequest("x.onion"))
            second = json.loads(pull.recv())
    finally:
        pull.close()
    assert set(first) == {"time", "snapshot", "hosts"}
    assert first == {"time": 7, "snapshot": MAGNET, "hosts": [onion(0), onion(1)]}
    assert set(second) == {"hostname"} and second["hostname"] == "x.onion"


def test_hostname_requests_are_deduplicated_per_window(ctx: zmq.Context) -> None:
    clock = FakeClock()
    cfg = from_dict({"bus": {"blockchain_endpoint": "inproc://t-dedup",
                             "hostname_dedup_seconds": 5.0}})
    with blockchain_inbox(cfg, context=ctx) as inbox, \
            hostname_outbox(cfg, context=ctx, clock=clock) as proxy:
        assert proxy.deduper.window == 5.0
        sent = [proxy.request("site.onion") for _ in range(10)]
        assert sent == [True] + [False] * 9
        assert inbox.recv(2.0) == HostnameRequest("site.onion")
        assert inbox.recv(0.3) is None, "the 9 repeats within the window were not sent"
        assert (proxy.sent, proxy.deduplicated) == (1, 9)

        clock.now += 4.0
        assert not proxy.request("site.onion")
        clock.now += 1.0  # 5 s after the first send: the window is over
        assert proxy.request("site.onion")
        assert inbox.recv(2.0) == HostnameRequest("site.onion")

        assert proxy.request("other.onion") and proxy.request("third.onion")
        got = {inbox.recv(2.0), inbox.recv(2.0)}
        assert got == {HostnameRequest("other.onion"), HostnameRequest("third.onion")}
        assert inbox.recv(0.2) is None and inbox.received == 4


def test_sends_never_block_a_full_queue_counts_drops(ctx: zmq.Context) -> None:
    with Outbox(SiteUpdate, "inproc://t-nobody", context=ctx, hwm=2) as out:
        results = [out.send(update(i)) for i in range(50)]
        assert results[0] and not results[-1]
        assert out.sent + out.dropped == 50 and out.dropped >= 40
    clock = FakeClock()
    with HostnameOutbox("inproc://t-nobody-2", window=60, clock=clock, context=ctx,
                        hwm=1) as proxy:
        while proxy.request(f"h{proxy.sent}.onion"):
            assert proxy.sent < 50
        # The dropped hostname was not remembered: asking again tries again (and drops again).
        dropped = proxy.dropped
        assert not proxy.request(f"h{proxy.sent}.onion")
        assert proxy.dropped == dropped + 1 and proxy.deduplicated == 0
        with pytest.raises(TypeError):
            proxy.send(update())  # type: ignore[arg-type]


def test_malformed_messages_are_dropped_counted_and_the_next_valid_one_arrives(
        ctx: zmq.Context) -> None:
    with Inbox(SiteUpdate, "inproc://t-bad-u", context=ctx) as updates, \
            Inbox(HostnameRequest, "inproc://t-bad-h", context=ctx) as names:
        push_u, push_h = ctx.socket(zmq.PUSH), ctx.socket(zmq.PUSH)
        push_u.connect("inproc://t-bad-u")
        push_h.connect("inproc://t-bad-h")
        try:
            for data, _ in BAD_UPDATES:
                push_u.send(data)
            push_u.send_multipart([bm.encode(update()), b"trailer"])
            push_u.send(bm.encode(update(99)))
            for data, _ in BAD_REQUESTS:
                push_h.send(data)
            push_h.send(b'{"hostname": "ok.onion"}')

            assert updates.recv(3.0) == update(99)
            assert updates.dropped == len(BAD_UPDATES) + 1
            assert updates.last_error is not None and "multipart" in updates.last_error
            assert names.recv(3.0) == HostnameRequest("ok.onion")
            assert names.dropped == len(BAD_REQUESTS)
            assert names.last_error is not None and "object" in names.last_error
            assert (updates.received, names.received) == (1, 1)
        finally:
            push_u.close()
            push_h.close()


def test_one_thread_per_socket_is_enforced(ctx: zmq.Context) -> None:
    inbox = Inbox(HostnameRequest, "inproc://t-owner", context=ctx)
    claimed, release = threading.Event(), threading.Event()

    def owner() -> None:
        inbox.recv(0)
        claimed.set()
        release.wait(5)

    worker = threading.Thread(target=owner, name="bus-owner")
    worker.start()
    try:
        assert claimed.wait(5)
        with pytest.raises(RuntimeError, match="bus-owner"):
            inbox.recv(0)
        with pytest.raises(RuntimeError, match="one thread"):
            inbox.close()
    finally:
        release.set()
        worker.join(5)
    assert inbox.recv(0) is None, "the owner is gone: this thread may take over"
    inbox.close()
    with pytest.raises(RuntimeError, match="closed"):
        inbox.recv(0)


def test_inbox_fileno_signals_a_waiting_message(ctx: zmq.Context) -> None:
    with Inbox(HostnameRequest, "inproc://t-fd", context=ctx) as inbox, \
            Outbox(HostnameRequest, "inproc://t-fd", context=ctx) as out:
        assert inbox.recv(0) is None
        out.send(HostnameRequest("fd.onion"))
        readable, _, _ = select.select([inbox], [], [], 2.0)
        assert readable == [inbox]
        assert inbox.recv(0) == HostnameRequest("fd.onion")


# ---------------------------------------------------------------- ipc, across processes

SENDER = r"""
import sys, time
from tidegate.engine.api.bus import HostnameOutbox, Outbox
from tidegate.engine.api.bus_messages import SiteUpdate
hosting, chain, stamp, magnet, *hosts = sys.argv[1:]
updates = Outbox(SiteUpdate, hosting)
names = HostnameOutbox(chain, window=60)
updates.send(SiteUpdate(time=int(stamp), snapshot=magnet, hosts=hosts))
for _ in range(3):
    names.request("site.onion")
print("sent", flush=True)
time.sleep(60)
"""


def test_ipc_across_processes(short_dir: str) -> None:
    hosting_ep = f"ipc://{short_dir}/bus/hosting.sock"
    chain_ep = f"ipc://{short_dir}/bus/chain.sock"
    sock_file = Path(short_dir, "bus", "hosting.sock")
    with Inbox(SiteUpdate, hosting_ep) as hosting, Inbox(HostnameRequest, chain_ep) as chain:
        assert stat.S_IMODE(sock_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock_file.parent.stat().st_mode) == 0o700
        proc = subprocess.Popen(
            [sys.executable, "-c", SENDER, hosting_ep, chain_ep, "1700000001", MAGNET,
             onion(1), onion(2)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            got = hosting.recv(10.0)
            if got is None:
                proc.kill()
                pytest.fail(f"nothing received; sender said: {proc.communicate(timeout=5)}")
            assert got == SiteUpdate(time=1_700_000_001, snapshot=MAGNET,
                                     hosts=[onion(1), onion(2)])
            assert chain.recv(5.0) == HostnameRequest("site.onion")
            assert chain.recv(0.3) is None, "the sender's two repeats were de-duplicated"
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate(timeout=5)
        assert proc.returncode == -signal.SIGTERM, err
        assert out == "sent\n"
    assert not sock_file.exists(), "closing the Inbox removes its socket file"


# ---------------------------------------------------------------- tcp with CURVE


@pytest.fixture
def curve(tmp_path: Path) -> dict[str, KeyPair]:
    return {name: load_or_create(tmp_path / "keys", name)
            for name in ("server", "client", "stranger", "other")}


def test_tcp_curve_authorised_client_delivers_unknown_client_does_not(
        curve: dict[str, KeyPair]) -> None:
    server, client, stranger = curve["server"], curve["client"], curve["stranger"]
    cfg = from_dict({"bus": {"hosting_endpoint": "tcp://127.0.0.1:*"},
                     "api": {"authorized_keys": [client.public]}})
    with hosting_inbox(cfg, keys=server) as inbox:
        assert inbox.endpoint.startswith("tcp://127.0.0.1:") and not inbox.endpoint.endswith("*")
        with Outbox(SiteUpdate, inbox.endpoint, keys=stranger, server_key=server.public) as bad:
            assert bad.send(update(1))
            assert inbox.recv(1.0) is None, "an unknown client key must be refused"
            with Outbox(SiteUpdate, inbox.endpoint, keys=client,
                        server_key=server.public) as good:
                assert good.send(update(2))
                assert inbox.recv(5.0) == update(2)
                bad.send(update(3))
                good.send(update(4))
                assert inbox.recv(5.0) == update(4)
                assert inbox.recv(0.5) is None
        assert inbox.received == 2 and inbox.dropped == 0


def test_tcp_inboxes_sharing_a_context_keep_separate_key_lists(
        ctx: zmq.Context, curve: dict[str, KeyPair]) -> None:
    server, client, other = curve["server"], curve["client"], curve["other"]
    with Inbox(HostnameRequest, "tcp://127.0.0.1:*", context=ctx, keys=server,
               authorized_keys=[client.public]) as first, \
            Inbox(HostnameRequest, "tcp://127.0.0.1:*", context=ctx, keys=server,
                  authorized_keys=[other.public]) as second:
        outs = [Outbox(HostnameRequest, inbox.endpoint, context=ctx, keys=keys,
                       server_key=server.public)
                for inbox, keys in ((first, other), (second, client), (first, client),
                                    (second, other))]
        try:
            for i, out in enumerate(outs):
                out.send(HostnameRequest(f"n{i}.onion"))
            assert first.recv(5.0) == HostnameRequest("n2.onion")
            assert second.recv(5.0) == HostnameRequest("n3.onion")
            assert first.recv(0.5) is None and second.recv(0) is None
        finally:
            for out in outs:
                out.close()


def test_tcp_without_curve_is_refused(curve: dict[str, KeyPair]) -> None:
    with pytest.raises(ConfigError, match="CURVE"):
        Inbox(SiteUpdate, "tcp://127.0.0.1:*", authorized_keys=[curve["client"].public])
    with pytest.raises(ConfigError, match="authorized"):
        Inbox(SiteUpdate, "tcp://127.0.0.1:*", keys=curve["server"])
    with pytest.raises(ConfigError, match="CURVE"):
        Inbox(SiteUpdate, "tcp://127.0.0.1:*", keys=curve["server"], authorized_keys=["short"])
    with pytest.raises(ConfigError, match="CURVE"):
        Outbox(SiteUpdate, "tcp://127.0.0.1:1", keys=curve["client"])
    with pytest.raises(ConfigError):
        Outbox(SiteUpdate, "udp://127.0.0.1:1")
