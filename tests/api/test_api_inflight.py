"""Work in flight per client is bounded (issue 20: 4,096 queued commands grew the daemon
from 75 MB to 912 MB).

A raw client sends 4,096 adds of a 200 KB .torrent without reading a reply; the daemon's
resident memory stays within a bound, the flooder is answered ``busy``, and another client
is served meanwhile.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import libtorrent as lt
import zmq

from tests.helpers.daemon_util import DaemonProc, short_home
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.engine.api import protocol as p
from tidegate.engine.errors import UnknownTorrentError

SENT = 4096
GROWTH_LIMIT_MB = 100


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def big_torrent(pieces: int = 10_000) -> bytes:
    """A valid .torrent of 200 KB (its piece hashes)."""
    return bytes(lt.bencode({b"info": {b"name": b"big", b"piece length": 16384,
                                        b"length": 16384 * pieces,
                                        b"pieces": b"\x01" * 20 * pieces}}))


def test_a_client_that_never_reads_cannot_grow_the_daemon(daemons: list[DaemonProc]) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    other = d.client()
    ctx = zmq.Context()
    flood = ctx.socket(zmq.DEALER)
    flood.setsockopt(zmq.LINGER, 0)
    flood.setsockopt(zmq.SNDHWM, 0)  # everything queues on our side, not refused here
    flood.connect(d.endpoint)
    try:
        other.wait_for(lambda s: s.running, 10)
        time.sleep(0.5)
        base = rss_mb(d.pid)
        peak = base
        request = {"request": {"torrent": big_torrent(), "paused": True,
                               "save_path": str(home / "dl")}}
        for i in range(SENT):
            flood.send_multipart(p.encode_request(i + 1, "add", request))
            if i % 128 == 0:
                peak = max(peak, rss_mb(d.pid))
        # while the flood is being worked through, another client is served
        served = 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                other.run(cmds.Details("ee" * 20)).result(10)
            except UnknownTorrentError:
                served += 1
            peak = max(peak, rss_mb(d.pid))
            time.sleep(0.2)
        assert served >= 10
        # only now the flooder reads what reached it (the daemon drops replies to a client
        # that does not read once its queue is full)
        codes: collections.Counter[str] = collections.Counter()
        while flood.poll(1000):
            reply = p.parse_reply(flood.recv_multipart())
            codes[reply.error.code if reply.error else "ok"] += 1
        peak = max(peak, rss_mb(d.pid))
        print(f"daemon RSS {base:.0f} MB -> peak {peak:.0f} MB; flooder's replies {dict(codes)}")
        assert peak - base < GROWTH_LIMIT_MB, (base, peak, dict(codes))
        assert codes["busy"] > 0
        assert codes["ok"] == 1 and codes["duplicate_torrent"] >= 1
        # the ordinary client (64 requests in flight at most, by count and bytes) is never
        # answered busy, even adding many large torrents at once
        futs = [other.run(cmds.Add(AddRequest(torrent=big_torrent(10_001 + i), paused=True,
                                     save_path=str(home / "dl2"))))
                for i in range(40)]
        assert len({f.result(30) for f in futs}) == 40
        assert d.p is not None and d.p.poll() is None
    finally:
        flood.close(linger=0)
        ctx.term()
        other.stop()
    assert d.stop() == 0
