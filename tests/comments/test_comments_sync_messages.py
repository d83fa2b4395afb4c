"""The sync protocol's values and the peer table (pure: no sockets, no engine)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tidegate.engine.comments.peers import MAX_BACKOFF, DhtTiming, Peer, PeerTable
from tidegate.engine.comments.sync_messages import (
    DEFAULT_NETWORK_ID,
    MAX_PAGE_BYTES,
    Digest,
    SyncProtocolError,
    decode_digest,
    decode_page,
    encode_digest,
    encode_page,
    network_id,
    parse_endpoint,
    parse_query,
    topic,
)


def test_the_topic_is_the_sha1_of_the_network_id() -> None:
    assert DEFAULT_NETWORK_ID == hashlib.sha256(b"tidegate-comments-v1").hexdigest()
    net = network_id("")
    assert net == bytes.fromhex(DEFAULT_NETWORK_ID)
    assert topic(net) == hashlib.sha1(net).digest() and len(topic(net)) == 20
    assert network_id("ab" * 32) == b"\xab" * 32
    with pytest.raises(SyncProtocolError, match="64 hex"):
        network_id("abc")


def _digest(**over: object) -> dict[str, object]:
    d: dict[str, object] = {"network": DEFAULT_NETWORK_ID, "node": "0" * 32, "count": 3,
                            "head": 7, "first": "", "digest": "a" * 64}
    d.update(over)
    return d


def test_a_digest_round_trips_and_bad_ones_name_the_field() -> None:
    d = Digest(**_digest())  # type: ignore[arg-type]
    assert decode_digest(encode_digest(d)) == d
    for bad, word in [(_digest(head=-1), "head"), (_digest(count=2**63), "count"),
                      (_digest(digest="zz"), "digest"), (_digest(network="A" * 64), "network"),
                      (_digest(extra=1), "extra"), (_digest(first="x"), "first")]:
        with pytest.raises(SyncProtocolError, match=word):
            decode_digest(json.dumps(bad).encode())
    for body in (b"", b"\xff\xfe", b"[]", b"{" * 5000):
        with pytest.raises(SyncProtocolError):
            decode_digest(body)


def test_a_page_keeps_each_record_s_exact_bytes() -> None:
    records = [(3, b'{"a" : [1,  2]}'), (9, b'{"event":{"id":"x"}}')]
    head, got = decode_page(encode_page(12, records), 2, 500)
    assert head == 12 and got == records


def test_pages_that_do_not_fit_are_refused() -> None:
    body = encode_page(5, [(3, b"{}"), (2, b"{}")])
    with pytest.raises(SyncProtocolError, match="does not rise"):
        decode_page(body, 0, 500)
    with pytest.raises(SyncProtocolError, match="does not rise"):
        decode_page(encode_page(5, [(3, b"{}")]), 3, 500)  # not after the cursor
    with pytest.raises(SyncProtocolError, match="asked for 1"):
        decode_page(encode_page(5, [(1, b"{}"), (2, b"{}")]), 0, 1)
    with pytest.raises(SyncProtocolError, match="bytes"):
        decode_page(b" " * (MAX_PAGE_BYTES + 1), 0, 500)
    with pytest.raises(SyncProtocolError):
        decode_page(b'{"head": 1, "records": [[1, {]]}', 0, 500)


def test_queries_and_endpoints_are_checked() -> None:
    assert parse_query(None, None) == (0, 500)
    assert parse_query("17", "3") == (17, 3)
    for seq, limit in (("-1", "1"), ("x", "1"), ("0", "0"), ("0", "501")):
        with pytest.raises(SyncProtocolError):
            parse_query(seq, limit)
    assert parse_endpoint("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_endpoint("[::1]:9") == ("::1", 9)
    assert parse_endpoint("example.org:443") == ("example.org", 443)
    for bad in ("", "host", "host:0", "host:70000", ":80", "[zz]:1", "a/b:1", "x" * 400):
        with pytest.raises(SyncProtocolError):
            parse_endpoint(bad)


def test_cursors_survive_a_restart_and_a_damaged_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "sync_cursors.json"
    table = PeerTable(path, ["10.0.0.1:1"], 0.0)
    table.found(["127.0.0.1:5", "127.0.0.1:6"], 0.0)
    table.peers["127.0.0.1:5"].cursor, table.peers["127.0.0.1:5"].first = 42, "f" * 64
    table.save()
    again = PeerTable(path, ["10.0.0.1:1"], 0.0)
    assert again.peers["127.0.0.1:5"].cursor == 42
    assert again.peers["127.0.0.1:5"].first == "f" * 64
    assert again.peers["10.0.0.1:1"].configured and "127.0.0.1:6" not in again.peers
    path.write_bytes(b"\x00garbage")
    damaged = PeerTable(path, [], 0.0)
    assert "cursors start from 0" in damaged.load_error and not damaged.peers
    assert path.with_suffix(".corrupt").exists()


def test_a_failing_peer_backs_off_doubling_up_to_a_bound() -> None:
    p = Peer("127.0.0.1:1")
    waits = []
    for _ in range(12):
        p.failed(100.0, 1.0, "refused")
        waits.append(p.due - 100.0)
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0] and max(waits) == MAX_BACKOFF
    p.succeeded(200.0, 1e9, 1.0)
    assert p.failures == 0 and p.last_error == "" and p.due == 201.0


def test_announces_wait_for_dht_nodes_and_repeat_when_the_dht_comes_back() -> None:
    t = DhtTiming(announce_interval=900.0, lookup_interval=2.0)
    assert t.tick(0.0, 0) == (False, False)  # no nodes: an announce would be lost
    assert t.tick(1.0, 3) == (True, True)
    assert t.tick(2.0, 3) == (False, False)
    assert t.tick(3.0, 3) == (False, True)  # lookups every lookup_interval
    assert t.tick(4.0, 3)[0]  # 3 s after the DHT came back: again, in case none held it
    assert t.tick(9.5, 8)[0]  # the young table grew: announced again early
    assert not t.tick(10.0, 8)[0]
    assert t.tick(11.0, 8)[0]  # 10 s after
    assert t.tick(12.0, 0) == (False, False)  # the network gone
    assert t.tick(13.0, 2) == (True, True)  # and back: at once
    announced = [now for now in range(14, 2000) if t.tick(float(now), 2)[0]]
    assert announced == [16, 23, 43, 943, 1843]  # the early ones, then every 900 s


def test_a_peer_that_pulled_from_us_is_pulled_from_and_a_failing_one_retried_at_once(
        tmp_path: Path) -> None:
    table = PeerTable(tmp_path / "c.json", [], 0.0)
    table.learned("127.0.0.1:7000", 5.0)
    assert table.peers["127.0.0.1:7000"].source == "incoming"
    assert [p.endpoint for p in table.due(5.0)] == ["127.0.0.1:7000"]
    p = table.peers["127.0.0.1:7000"]
    for _ in range(6):
        p.failed(5.0, 1.0, "refused")
    assert not table.due(6.0)  # backed off ...
    table.learned("127.0.0.1:7000", 6.0)
    assert table.due(6.0) == [p]  # ... until it shows up again
    p.is_self = True
    table.learned("127.0.0.1:7000", 7.0)
    assert not table.due(7.0)
