"""``tor.mode = "tor-all"``, for real: nothing leaves the engine except to tor's SOCKS port.

A private Tor network on 127.0.0.1 (tests/helpers/tornet.py) carries everything. The engine under
test is a real ``tidegate daemon`` with the *default* network settings plus ``tor-all``,
run in a network namespace of the test's own (tests/helpers/netns.py) whose every route leads to
its loopback, so any attempt to reach any address shows as a packet there. The only TCP
port in that namespace is a forwarder to the unix SOCKS socket of a tor client on the
private network; the daemon reaches tor's control port and the test reaches the daemon's
API through unix sockets. A capture of every packet on every interface of the namespace
runs from before the daemon starts until after it has stopped.

Meanwhile the daemon downloads a torrent from a seed on the host's 127.0.0.1 (through tor:
an exit relay of the private network connects to it) with an HTTP tracker (announced
through tor) and a UDP tracker (which tor cannot carry) on the host, follows a site published as an
onion service by another tidegate (chain, metainfo and files from that service) and takes
the site's next update. Then every captured packet must be TCP to or from the
forwarder's port.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import (
    EngineFactory,
    make_payload,
    make_torrent,
    port_of,
    start_seed,
    tree_bytes,
)
from tests.helpers import netns
from tests.helpers.daemon_util import DaemonProc
from tests.helpers.sites_util import onion_owner, wait_site, write_site
from tests.helpers.tornet import LOOPBACK_EXIT_OPTIONS, PortAllocator, TorNet, pid_alive
from tests.interop.opentracker import Opentracker, tracked_hashes
from tidegate.engine import AddRequest, Engine
from tidegate.engine import commands as cmds
from tidegate.engine.interface import EngineAPI

FILES = {"index.html": b"<!doctype html><h1>all through tor</h1>\n",
         "media/clip.bin": bytes(range(256)) * 2400}
BOOTSTRAP = 300.0
UPLOAD = 300.0
THROUGH_TOR = 300.0


def wait_file(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)


def daemon_toml(control: Path, socks_port: int) -> str:
    """The defaults (DHT, LSD, UPnP, NAT-PMP, uTP on; all interfaces) plus tor-all."""
    return (f'[tor]\nmode = "tor-all"\ncontrol = "unix:{control}"\n'
            f'socks = "127.0.0.1:{socks_port}"\ntimeout = 60.0\n'
            "[sites]\npoll_interval = 5.0\n[web]\nport = 0\n")


@pytest.mark.slow
def test_tor_all_download_and_site_update_leave_only_through_tor(
        tmp_path: Path, make_engine: EngineFactory) -> None:
    why = netns.available()
    if why:
        pytest.fail(f"the tor-all leak test cannot run: {why}")
    root = Path(tempfile.mkdtemp(prefix="tga-"))  # short: unix socket paths
    net = TorNet(root / "net")
    owner: Engine | None = None
    daemon: DaemonProc | None = None
    pids: list[int] = []
    trackers: list[Opentracker] = []
    try:
        # ---------------------------------------------------------- the tor side
        net.start()
        sockets = root / "s"
        sockets.mkdir(mode=0o700)
        socks_sock, control_sock = sockets / "socks", sockets / "control"
        client = net.start_client("follower", extra={
            **LOOPBACK_EXIT_OPTIONS, "SocksPort": f"unix:{socks_sock}",
            "ControlSocket": str(control_sock)})
        pids += net.pids + [client.pid]
        net.wait_bootstrapped(BOOTSTRAP)

        # ---------------------------------------------------------- host: owner and seed
        source = write_site(tmp_path / "src", FILES)
        owner, address = onion_owner(net, tmp_path / "owner", source, UPLOAD)
        pids.append(owner.snapshot.tor.pid)

        payload = make_payload(tmp_path / "seeded", sizes=(1_500_000, 7))
        created = make_torrent(payload, "hybrid")
        # trackers on the host: one HTTP (reached through tor), one UDP (tor's SOCKS has
        # no UDP: it must fail without a packet of its own)
        http_tracker = Opentracker(root / "ot-http").allow(
            *tracked_hashes(created.info_hash_v1, created.info_hash_v2)).start()
        udp_tracker = Opentracker(root / "ot-udp").allow(
            *tracked_hashes(created.info_hash_v1, created.info_hash_v2)).start()
        trackers.extend([http_tracker, udp_tracker])
        seed = make_engine("seed")
        start_seed(seed, created, payload)
        seed_port = port_of(seed)

        # ---------------------------------------------------------- the namespace
        with netns.netns("torall") as ns:
            capture_out, ready = root / "packets.jsonl", root / "capture.ready"
            capture = ns.python("tests.helpers.leak_capture", str(capture_out), str(ready))
            forward = None
            try:
                wait_file(ready)
                fwd_port = PortAllocator().take()
                forward = ns.python("tests.helpers.unix_forward", str(fwd_port), str(socks_sock),
                                    str(root / "forward.ready"))
                wait_file(root / "forward.ready")
                home = Path(tempfile.mkdtemp(prefix="tgd", dir="/tmp"))
                (home / "config.toml").write_text(daemon_toml(control_sock, fwd_port))
                daemon = DaemonProc(home, prefix=ns.prefix).start(60)
                api = daemon.client()
                try:
                    _run_through_tor(api, daemon.home, created, seed_port, payload, owner,
                                     address, source, (http_tracker.http, udp_tracker.udp))
                finally:
                    api.stop()
                assert daemon.stop() == 0, daemon.stderr
                time.sleep(1.0)  # anything sent while stopping is captured too
            finally:
                if forward is not None:
                    netns.stop(forward)
                netns.stop(capture)
        packets = [json.loads(line) for line in capture_out.read_text().splitlines()]
        _judge(packets, fwd_port)
    finally:
        if daemon is not None:
            daemon.stop()
            shutil.rmtree(daemon.home, ignore_errors=True)
        if owner is not None and owner.running:
            owner.stop()
        for tracker in trackers:
            tracker.stop()
        net.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert [p for p in pids if pid_alive(p)] == []


def _run_through_tor(api: EngineAPI, home: Path, created: object, seed_port: int,
                     payload: Path, owner: Engine, address: str, source: Path,
                     tracker_urls: tuple[str, str]) -> None:
    from tidegate.engine.metainfo import Created

    assert isinstance(created, Created)
    # tor-all took over the defaults
    s = api.run(cmds.SessionSettings()).result(10)
    assert s["proxy_port"] > 0 and s["proxy_hostnames"] and not s["enable_dht"]
    assert not s["enable_lsd"] and not s["enable_upnp"] and not s["enable_outgoing_utp"]

    # 1. a download from a seed outside: only tor's exit can reach it
    dest = home / "dl"
    peer = f"127.0.0.1:{seed_port}"
    tid = api.run(cmds.Add(AddRequest(torrent=created.data, save_path=str(dest), peers=(peer,),
                             trackers=tracker_urls))).result(30)
    deadline = time.monotonic() + THROUGH_TOR
    while True:
        try:
            api.wait_for(lambda s: tid in s.torrents and s.torrents[tid].complete_on_disk, 20)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise AssertionError(f"download through tor: {api.snapshot.torrents[tid]}"
                                     ) from None
            api.run(cmds.AddPeers(tid, [peer])).result(10)  # a circuit failed: dial again
    assert tree_bytes(dest / payload.name) == tree_bytes(payload)
    http_url, udp_url = tracker_urls
    deadline = time.monotonic() + THROUGH_TOR
    while True:  # the HTTP tracker answers through tor; the UDP one cannot be reached
        view = {t.url: t for t in api.run(cmds.Details(tid)).result(10).trackers}
        if view[http_url].status == "working" and view[http_url].seeds >= 1:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"HTTP tracker through tor: {view}")
        api.run(cmds.Reannounce(tid)).result(10)
        time.sleep(2.0)
    assert view[udp_url].status != "working", view[udp_url]

    # 2. follow the site: chain, metainfo and files from its onion service
    api.run(cmds.SiteFollow(address)).result(30)
    wait_site(api, address, lambda x: x.hosting.seq == 1, THROUGH_TOR)
    hosted = home / "data" / "sites" / address / "snapshots"
    for name, data in FILES.items():
        assert (hosted / "1" / "site" / name).read_bytes() == data

    # 3. the site's next update
    (source / "index.html").write_bytes(b"<h1>updated, still through tor</h1>\n")
    owner.site_publish("blog").result(60)
    wait_site(owner, address, lambda x: x.hosting.seq == 2, 30)
    api.run(cmds.SiteCheck(address)).result(10)
    site = wait_site(api, address, lambda x: x.hosting.seq == 2, THROUGH_TOR)
    assert site.height == 2 and not site.error
    assert (hosted / "2" / "site" / "index.html").read_bytes() == \
        b"<h1>updated, still through tor</h1>\n"
    assert (hosted / "2" / "site" / "media" / "clip.bin").read_bytes() == \
        FILES["media/clip.bin"]


def _judge(packets: list[dict[str, object]], fwd_port: int) -> None:
    """Every packet is TCP between 127.0.0.1 and the forwarder's port; say which are not."""
    assert len(packets) > 100, f"only {len(packets)} packets: did the capture work?"
    leaks = [p for p in packets if not (
        p.get("proto") == 6 and p.get("src") == "127.0.0.1" and p.get("dst") == "127.0.0.1"
        and fwd_port in (p.get("sport"), p.get("dport")))]
    with contextlib.suppress(Exception):
        print(f"{len(packets)} packets captured, {len(leaks)} not to tor's SOCKS port")
    assert leaks == [], f"{len(leaks)} packets did not go to tor's SOCKS port: {leaks[:20]}"
