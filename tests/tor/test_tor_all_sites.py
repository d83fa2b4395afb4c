"""Following a site in ``tor-all`` mode: no DHT, so the chain comes from the site's onion
service over HTTP (``/.tidegate/head``), the snapshot's metainfo too, and the files from
the service as a BEP 19 web seed, all through tor's SOCKS port.

Here a SOCKS5 stand-in (tests/helpers/socks_standin.py) plays tor: it connects ``<address>.onion``
to the unix socket the owner's proxy opened for that site's onion service, as tor would.
tests/tor/test_tor_all.py does the same through a real private Tor network, and proves that
nothing else leaves the engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import pytest

from tests.helpers.sites_util import site_engine, wait_site, write_site
from tests.helpers.socks_standin import SocksStandIn
from tests.sites.test_sites_refusals import refused
from tidegate.engine import Engine
from tidegate.engine.chain import SiteKey, sign_update
from tidegate.engine.chain.codec import decode_chain, encode_chain
from tidegate.engine.chain.entry import Update, decode_entry, entry_hash, magnet_for

BIG = os.urandom(700_000)
FILES = {"index.html": b"<h1>tor-all</h1>\n", "media/big.bin": BIG, "a.txt": b"alpha\n"}


@dataclass
class Setup:
    owner: Engine
    follower: Engine
    socks: SocksStandIn
    address: str
    source: Path
    targets: dict[str, Path]


def follower_engine(home: Path, socks: str) -> Engine:
    # a tor of the user's that is not running: the site traffic needs only its SOCKS port
    return site_engine(home, tor={"mode": "tor-all", "control": f"unix:{home}/no-tor",
                                  "socks": socks, "timeout": 5.0})


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    targets: dict[str, Path] = {}

    def route(host: str, port: int) -> Path | None:
        return targets.get(host) if port == 80 else None

    owner = site_engine(tmp_path / "owner").start()
    follower = None
    try:
        with SocksStandIn(route) as socks:
            source = write_site(tmp_path / "src", FILES)
            address = owner.site_new("blog", str(source)).result(30).address
            owner.site_publish("blog").result(60)
            wait_site(owner, address, lambda s: s.hosting.seq == 1, 30)
            assert owner.proxy is not None
            sock = tmp_path / "onion.sock"
            owner.proxy.serve_site_at(address, sock).result(10)
            targets[address] = sock
            follower = follower_engine(tmp_path / "follower", socks.endpoint).start()
            yield Setup(owner, follower, socks, address, source, targets)
    finally:
        for e in (follower, owner):
            if e is not None and e.running:
                e.stop()


def hosted(engine: Engine, address: str, seq: int) -> Path:
    return engine.loaded.paths.data_dir / "sites" / address / "snapshots" / str(seq) / "site"


def test_a_follower_gets_chain_metainfo_and_files_from_the_onion_service(setup: Setup
                                                                         ) -> None:
    s = setup
    s.follower.site_follow(s.address).result(10)
    site = wait_site(s.follower, s.address, lambda x: x.hosting.seq == 1, 90)
    assert site.height == 1 and site.name == "blog" and not site.equivocating
    for name, data in FILES.items():
        assert (hosted(s.follower, s.address, 1) / name).read_bytes() == data
    # everything went by name through the SOCKS port; nothing else was asked of it
    assert s.socks.requests and {h for h, _ in s.socks.requests} == {s.address}
    assert all(p == 80 for _, p in s.socks.requests)
    assert set(s.socks.other) <= {3}  # libtorrent's UDP ASSOCIATE, refused as tor does
    # three connections to the onion service: the chain, the metainfo and the web seed
    # (the follower has no DHT and no peer address: the files can only have come that way)
    assert len(s.socks.requests) >= 3

    # an update: the next poll finds height 2 over HTTP and fetches only what changed
    (s.source / "a.txt").write_bytes(b"alpha, revised\n")
    s.owner.site_publish("blog").result(60)
    s.follower.site_check(s.address).result(10)
    site = wait_site(s.follower, s.address, lambda x: x.hosting.seq == 2, 90)
    assert site.height == 2
    assert (hosted(s.follower, s.address, 2) / "a.txt").read_bytes() == b"alpha, revised\n"
    assert (hosted(s.follower, s.address, 2) / "media/big.bin").read_bytes() == BIG


def test_the_owner_serves_chain_and_metainfo_only_for_what_it_holds(setup: Setup) -> None:
    """What the reserved paths serve, read straight from the onion target."""
    from tests.tor.test_tor_hosting import over_unix

    s = setup
    sock = s.targets[s.address]
    head = over_unix(sock, "/.tidegate/head")
    assert head.startswith(b"HTTP/1.1 200") and b"Tidegate-Height: 1" in head
    rec_chain = (s.owner.loaded.paths.data_dir / "sites" / s.address / "heads" / "1" /
                 "chain").read_bytes()
    assert head.endswith(rec_chain)
    meta = over_unix(sock, "/.tidegate/snapshot/1.torrent")
    assert meta.startswith(b"HTTP/1.1 200") and meta.endswith(
        (s.owner.loaded.paths.data_dir / "sites" / s.address / "snapshots" /
         "1.torrent").read_bytes())
    for missing in ("/.tidegate/snapshot/0.torrent", "/.tidegate/snapshot/2.torrent",
                    "/.tidegate/snapshot/0/site/index.html", "/.tidegate/nothing",
                    "/.tidegate/snapshot/1/site/../../../key"):
        assert over_unix(sock, missing).startswith(b"HTTP/1.1 404"), missing
    page = over_unix(sock, "/.tidegate/snapshot/1/site/index.html")
    assert page.startswith(b"HTTP/1.1 200") and page.endswith(FILES["index.html"])


def test_forged_rolled_back_forked_chains_and_a_wrong_metainfo_are_refused(
        setup: Setup) -> None:
    """Whoever answers for the address (here a server of the test's, which has the key
    too): a chain with an entry the key did not sign, a shorter chain than the one held,
    a valid new entry whose metainfo is not the torrent it names, then another entry for a
    held seq. Each is refused with its reason; nothing unverified is stored."""
    import http.server
    import threading
    import time

    s = setup
    s.follower.site_follow(s.address).result(10)
    wait_site(s.follower, s.address, lambda x: x.hosting.seq == 1, 90)
    site_dir = s.follower.loaded.paths.data_dir / "sites" / s.address
    held = (site_dir / "chain").read_bytes()
    owner_dir = s.owner.loaded.paths.data_dir / "sites" / s.address
    entries = decode_chain((owner_dir / "heads" / "1" / "chain").read_bytes(), "test")
    key = SiteKey.load(owner_dir / "key")
    e1 = decode_entry(entries[1], key.public)
    assert isinstance(e1, Update)
    t = int(time.time())
    forged = sign_update(SiteKey.generate(), 2, entry_hash(entries[1]), t, e1.magnet, e1.files)
    lying = sign_update(key, 2, entry_hash(entries[1]), t, magnet_for(b"\x07" * 32),
                        e1.files)
    fork = sign_update(key, 2, entry_hash(entries[1]), t + 1, e1.magnet, e1.files)
    answers = {"/.tidegate/snapshot/2.torrent": bytes(
        lt.bencode({b"info": {b"name": b"x", b"length": 1, b"piece length": 16384,
                              b"pieces": b"\x00" * 20}}))}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = answers.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    route_before = s.socks.route
    s.socks.route = lambda h, p: ("127.0.0.1", server.server_address[1])
    events = s.follower.subscribe()
    try:
        for chain, reason in (([*entries, forged.raw], "bad_signature"),
                              (entries[:1], "rollback"),
                              ([*entries, lying.raw], "bad_manifest")):
            answers["/.tidegate/head"] = encode_chain(chain)
            s.follower.site_check(s.address).result(10)
            event = refused(events, reason)
            assert s.address in event.address
        state = s.follower.snapshot.sites[s.address]
        # the lying entry is validly signed, so it is held; its snapshot never is
        assert state.height == 2 and state.hosting.seq == 1 and not state.equivocating
        assert not (site_dir / "snapshots" / "2.torrent").exists()
        answers["/.tidegate/head"] = encode_chain([*entries, fork.raw])
        s.follower.site_check(s.address).result(10)
        refused(events, "equivocation")
        state = wait_site(s.follower, s.address, lambda x: x.equivocating, 10)
        assert state.height == 2 and state.hosting.seq == 1
        assert (site_dir / "chain").read_bytes().startswith(held)
        for name, data in FILES.items():  # still served from the verified snapshot
            assert (hosted(s.follower, s.address, 1) / name).read_bytes() == data
    finally:
        s.socks.route = route_before
        server.shutdown()
        server.server_close()
        thread.join(10)
