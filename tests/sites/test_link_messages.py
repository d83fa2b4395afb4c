"""The links' wire (sans-IO) and the evidence folder's bounds."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgspec
import pytest

from tidegate.engine.chain import SiteKey
from tidegate.engine.chain.bep44 import SignedItem, bencode_string
from tidegate.engine.sites import evidence
from tidegate.engine.sites.head import SALT, Head
from tidegate.engine.sites.link_messages import (
    MAX_MESSAGE,
    Hello,
    LinkMessageError,
    Push,
    decode,
    encode,
    topic,
)
from tidegate.engine.sites.links import _verified_head


def _push(item: SignedItem) -> Push:
    return Push(node=b"n" * 8, link_port=7001, bt_port=6881, k=item.public, salt=item.salt,
                seq=item.seq, v=item.value, sig=item.sig)


def test_a_push_round_trips_and_its_head_verifies() -> None:
    key = SiteKey.generate()
    head = Head(3, os.urandom(32), os.urandom(32))
    item = SignedItem.sign(key, SALT, 1_700_000_000_000, bencode_string(head.encode()))
    data = encode(_push(item))
    assert len(data) < 1300
    msg = decode(data)
    assert isinstance(msg, Push) and msg == _push(item)
    assert _verified_head(SignedItem(msg.k, msg.salt, msg.seq, msg.v, msg.sig)) == head
    hello = Hello(node=b"n" * 8, link_port=1, bt_port=0, sites=[os.urandom(32)] * 64)
    assert decode(encode(hello)) == hello and len(encode(hello)) < 2500
    assert topic(key.public) == hashlib.sha1(b"tidegate-link-v1" + key.public).digest()


@pytest.mark.parametrize("data", [
    b"", os.urandom(64), b"\x81\xa4type\xa4push", b"x" * (MAX_MESSAGE + 1),
    msgspec.msgpack.encode({"type": "hello", "node": b"n" * 8, "link_port": 0, "bt_port": 0,
                            "sites": []}),  # link port 0
    msgspec.msgpack.encode({"type": "hello", "node": b"n" * 8, "link_port": 1, "bt_port": 0,
                            "sites": [b"k" * 32] * 65}),  # too many sites
    msgspec.msgpack.encode({"type": "hello", "node": b"n" * 8, "link_port": 1, "bt_port": 0,
                            "sites": [], "extra": 1}),  # an unknown key
    msgspec.msgpack.encode({"type": "push", "node": b"n" * 8, "link_port": 1, "bt_port": 0,
                            "k": b"k" * 31, "salt": b"", "seq": 0, "v": b"", "sig": b""}),
    msgspec.msgpack.encode({"type": "push", "node": b"n" * 8, "link_port": 1, "bt_port": 0,
                            "k": b"k" * 32, "salt": b"", "seq": -1, "v": b"", "sig": b""}),
])
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(LinkMessageError):
        decode(data)


def test_pushed_items_that_break_bep44_or_the_head_are_refused_with_their_reason() -> None:
    key = SiteKey.generate()
    value = bencode_string(Head(1, b"x" * 32, b"c" * 32).encode())
    good = SignedItem.sign(key, SALT, 5, value)
    cases = {
        "bad_signature": SignedItem(good.public, SALT, 6, value, good.sig),  # another seq
        "bad_field": SignedItem.sign(key, b"other-salt", 5, value),
    }
    for reason, item in cases.items():
        with pytest.raises(Exception) as info:
            _verified_head(item)
        assert getattr(info.value, "reason", None) == reason
    not_a_head = SignedItem.sign(key, SALT, 5, bencode_string(b"hello"))
    with pytest.raises(Exception) as info:
        _verified_head(not_a_head)
    assert getattr(info.value, "reason", None) == "bad_encoding"


def test_evidence_is_bounded_and_stays_in_the_site_folder(tmp_path: Path) -> None:
    site = tmp_path / "site.onion"
    site.mkdir()
    for i in range(evidence.MAX_KEPT + 10):
        path = evidence.keep(site, b"raw %d" % i, "../../bad reason", "why", "1.2.3.4:5")
        assert path.parent == site / "evidence"
    kept = evidence.kept(site)
    assert len(kept) == evidence.MAX_KEPT
    assert Path(str(kept[0]["path"])).read_bytes() == b"raw 10"
    assert len(list((site / "evidence").iterdir())) == 2 * evidence.MAX_KEPT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.onion"]


SOCKS = {"type": "socks5", "host": "127.0.0.1", "port": 1080}


@pytest.mark.parametrize(("sites", "tor", "extra", "bound"), [
    ({"links": True, "link_listen": "127.0.0.1"}, "clearnet", {}, "127.0.0.1"),
    # the swarm is clear in tor-hosting
    ({"links": True, "link_listen": "127.0.0.1"}, "tor-hosting", {}, "127.0.0.1"),
    ({"links": False}, "clearnet", {}, None),
    ({"links": True}, "tor-all", {}, None),  # no clear net at all
    ({"links": True}, "clearnet", {"proxy": SOCKS}, None),  # a link would bypass the proxy
    # no link_listen: the session's own interface, and links leave from it
    ({"links": True}, "clearnet",
     {"network": {"listen_interfaces": "127.0.0.3:0,[::1]:0"}}, "127.0.0.3"),
    ({"links": True}, "clearnet", {"network": {"listen_interfaces": "0.0.0.0:0"}}, ""),
])
def test_links_are_bound_unless_off_tor_all_or_proxied(
        tmp_path: Path, sites: dict[str, object], tor: str, extra: dict[str, object],
        bound: str | None) -> None:
    from types import SimpleNamespace

    from tidegate.engine.config import from_dict
    from tidegate.engine.sites.service import SitesService

    cfg = from_dict({"sites": sites, "tor": {"mode": tor}, **extra})
    svc = SitesService(SimpleNamespace(config=cfg, post_event=print), tmp_path)  # type: ignore[arg-type]
    svc.registry = SimpleNamespace(sites={})  # type: ignore[assignment]
    svc.handler = SimpleNamespace(judge=None, refuse=None)  # type: ignore[assignment]
    svc._start_links()
    try:
        assert (svc.links is not None) == (bound is not None)
        if svc.links is not None:
            assert svc.links.net.port > 0 and svc.links.net.source == bound
    finally:
        if svc.links is not None:
            svc.links.close()


def test_links_leave_from_the_address_listened_on() -> None:
    """A node bound to one interface (a VPN's) never links from another."""
    import zmq

    from tidegate.engine.sites.link_net import LinkNet

    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    net = LinkNet("127.0.0.2", 0, context=ctx)
    try:
        port = router.bind_to_random_port("tcp://127.0.0.5")
        peer, new = net.connect(("127.0.0.5", port))
        assert peer is not None and new
        assert net.connect(("::1", port)) == (None, False)  # another family: not from here
        net.send(peer, b"hello")
        assert router.poll(5000)
        frames = router.recv_multipart(copy=False)
        assert frames[-1].bytes == b"hello" and frames[-1].get("Peer-Address") == "127.0.0.2"
    finally:
        net.close()
        router.close(0)
        ctx.term()


def test_config_refuses_bad_link_settings() -> None:
    from tidegate.engine.config import from_dict
    from tidegate.engine.config.load import validate
    from tidegate.engine.errors import ConfigError

    for bad in ({"link_listen": "localhost"}, {"link_port": 70000}, {"max_links": 0}):
        with pytest.raises(ConfigError, match="sites.link|sites.max"):
            validate(from_dict({"sites": bad}))
