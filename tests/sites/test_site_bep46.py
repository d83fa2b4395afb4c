"""BEP 46: a site is also a mutable torrent that any BEP 46 reader can follow.

The reader here is not tidegate: a plain libtorrent session joins the private DHT, gets the
item with libtorrent's own ``dht_get_mutable_item(key, b"")``, checks the signature per
BEP 44 by hand, and downloads the snapshot the ``ih`` names from the tidegate swarm.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import fastbencode
import libtorrent as lt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.helpers.sites_util import joined, site_engine, wait_site, write_site

FILES = {"index.html": b"<h1>mutable</h1>\n" * 300, "img/x.bin": bytes(range(256)) * 64}


def plain_session() -> Any:
    return lt.session({
        "listen_interfaces": "127.0.0.1:0", "enable_dht": True, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False, "dht_bootstrap_nodes": "",
        "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False, "dht_enforce_node_id": False,
        "dht_prefer_verified_node_ids": False, "dht_block_ratelimit": 100_000,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": int(lt.alert_category.dht | lt.alert_category.dht_operation
                          | lt.alert_category.status | lt.alert_category.error)})


def get_item(ses: Any, public: bytes, timeout: float) -> Any:
    """libtorrent's own lookup of the BEP 46 item; the first alert that holds one."""
    deadline = time.monotonic() + timeout
    ses.dht_get_mutable_item(public, b"")
    while time.monotonic() < deadline:
        ses.wait_for_alert(500)
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_mutable_item_alert) and a.item:
                return a.item, a.seq, bytes(a.signature), bytes(a.salt)
            if isinstance(a, lt.dht_mutable_item_alert) and a.authoritative:
                ses.dht_get_mutable_item(public, b"")  # not there yet: ask again
    raise AssertionError("libtorrent found no BEP 46 item")


def test_a_plain_libtorrent_session_follows_the_site_as_a_bep46_torrent(tmp_path: Path) -> None:
    source = write_site(tmp_path / "src", FILES)
    owner = site_engine(tmp_path / "owner")
    follower = site_engine(tmp_path / "follower")
    by_magnet = site_engine(tmp_path / "by-magnet")
    ses = plain_session()
    with joined([owner, follower, by_magnet]):
        for e in (owner, follower, by_magnet):
            e.add_dht_node("127.0.0.1", ses.listen_port()).result(5)
            ses.add_dht_node(("127.0.0.1", e.snapshot.stats.listen_port))
        address = owner.site_new("blog", str(source)).result(30).address
        assert owner.site_publish("blog").result(60).height == 1
        state = wait_site(owner, address, lambda s: s.hosting.seq == 1, 60)
        public = bytes.fromhex(state.magnet.removeprefix("magnet:?xs=urn:btpk:"))
        assert len(public) == 32 and state.magnet == f"magnet:?xs=urn:btpk:{public.hex()}"
        follower.site_follow(address).result(10)
        wait_site(follower, address, lambda s: s.hosting.seq == 1, 90)

        # a BEP 46 link is a way to follow, too: it names the same site
        assert by_magnet.site_follow(state.magnet).result(10).address == address

        t0 = time.monotonic()
        item, seq, sig, salt = get_item(ses, public, 60)
        took = time.monotonic() - t0
        assert salt == b"" and isinstance(item, dict) and set(item) == {b"ih"}
        ih = item[b"ih"]
        assert isinstance(ih, bytes) and len(ih) == 20 and seq == 1
        # BEP 44 by hand: sig over "3:seqi<seq>e1:v<bencoded v>" (no salt)
        Ed25519PublicKey.from_public_bytes(public).verify(
            sig, b"3:seqi%de1:v" % seq + bytes(fastbencode.bencode(item)))
        update_magnet = owner.site_log("blog").result(10)[-1].magnet
        assert f"urn:btih:{ih.hex()}" in update_magnet

        # and the snapshot downloads from the tidegate swarm by that info-hash alone
        params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{ih.hex()}")
        params.save_path = str(tmp_path / "plain")
        handle = ses.add_torrent(params)
        for e in (owner, follower):
            handle.connect_peer(("127.0.0.1", e.snapshot.stats.listen_port))
        deadline = time.monotonic() + 60
        while not handle.status().is_seeding and time.monotonic() < deadline:
            time.sleep(0.2)
        assert handle.status().is_seeding, handle.status().state
        for name, data in FILES.items():
            assert (tmp_path / "plain" / "site" / name).read_bytes() == data
        print(f"libtorrent found the BEP 46 item in {took:.2f} s and downloaded the snapshot")
    del ses
