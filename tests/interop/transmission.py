"""A fresh transmission-daemon per test, driven over its JSON RPC.

Transmission 3.00 quirks these tests work around (docs/interop.md has the evidence):

* it never dials 127.0.0.0/8 peers a tracker returns, so when it downloads, our seed
  dials it (``Engine.add_peers``);
* after one completed download from 127.0.0.1 its seed refuses further connections from
  that address, so every test starts its own daemon;
* it unchokes, and decides its own interest, only every 10 s (:meth:`rechoke_now`);
* it cannot parse BEP 52 info dicts: no hybrid or v2 torrents (tests/interop/quirks.py).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import fastbencode

from .procs import free_port, require, stop, wait_port, wait_until

# torrent-get "status"
STOPPED, CHECK_WAIT, CHECK, DOWNLOAD_WAIT, DOWNLOAD, SEED_WAIT, SEED = range(7)


class RpcError(AssertionError):
    """transmission answered a call with a result other than ``success``."""

    def __init__(self, method: str, result: str):
        super().__init__(f"transmission {method}: {result}")
        self.result = result


FIELDS = ["id", "hashString", "name", "status", "percentDone", "error", "errorString",
          "haveValid", "sizeWhenDone", "leftUntilDone", "metadataPercentComplete",
          "peersConnected", "trackerStats", "downloadDir", "files"]


class Transmission:
    """transmission-daemon on 127.0.0.1 with its own config folder, RPC port and peer port."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.rpc_port = free_port()
        self.peer_port = free_port()
        self.session_id = ""
        self._nudge = ""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def peer(self) -> str:
        return f"127.0.0.1:{self.peer_port}"

    def start(self) -> Transmission:
        exe = require("transmission-daemon")
        conf = self.folder / "config"
        conf.mkdir(parents=True)
        (self.folder / "downloads").mkdir()
        settings = {
            "rpc-port": self.rpc_port, "rpc-bind-address": "127.0.0.1",
            "rpc-authentication-required": False, "rpc-whitelist-enabled": True,
            "rpc-whitelist": "127.0.0.1", "rpc-host-whitelist-enabled": False,
            "peer-port": self.peer_port, "peer-port-random-on-start": False,
            "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
            "dht-enabled": False, "lpd-enabled": False, "utp-enabled": False,
            "port-forwarding-enabled": False, "blocklist-enabled": False,
            "download-dir": str(self.folder / "downloads"), "incomplete-dir-enabled": False,
            "ratio-limit-enabled": False, "idle-seeding-limit-enabled": False,
            "speed-limit-down-enabled": False, "speed-limit-up-enabled": False,
            "alt-speed-enabled": False, "start-added-torrents": True,
            "scrape-paused-torrents-enabled": True, "message-level": 2,
        }
        (conf / "settings.json").write_text(json.dumps(settings))
        self.log = open(self.folder / "transmission.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([exe, "-f", "-g", str(conf)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_port(self.rpc_port, self.proc, "transmission-daemon")
        wait_port(self.peer_port, self.proc, "transmission-daemon's peer port")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.log.close()

    def rpc(self, method: str, **arguments: Any) -> dict[str, Any]:
        """One RPC call; the CSRF session id is fetched on the first 409."""
        body = json.dumps({"method": method, "arguments": arguments}).encode()
        for _ in range(3):
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.rpc_port}/transmission/rpc", data=body,
                headers={"X-Transmission-Session-Id": self.session_id})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    reply = json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code == 409:
                    self.session_id = e.headers["X-Transmission-Session-Id"]
                    continue
                raise
            if reply["result"] != "success":
                raise RpcError(method, reply["result"])
            return dict(reply["arguments"])
        raise AssertionError("transmission kept answering 409")

    @property
    def version(self) -> str:
        """``3.00 (bb6b5a062e)``."""
        return str(self.rpc("session-get", fields=["version"])["version"])

    def add(self, *, torrent: bytes | None = None, magnet: str | None = None,
            download_dir: str | None = None, paused: bool = False) -> str:
        """Add a torrent (bytes) or a magnet; returns its v1 info-hash (hex)."""
        args: dict[str, Any] = {"paused": paused}
        if torrent is not None:
            args["metainfo"] = base64.b64encode(torrent).decode()
        else:
            args["filename"] = magnet
        if download_dir is not None:
            args["download-dir"] = download_dir
        reply = self.rpc("torrent-add", **args)
        added = reply.get("torrent-added") or reply.get("torrent-duplicate")
        assert added, f"transmission refused the torrent: {reply}"
        return str(added["hashString"])

    def get(self, info_hash: str) -> dict[str, Any]:
        reply = self.rpc("torrent-get", ids=[info_hash], fields=FIELDS)
        assert reply["torrents"], f"transmission has no torrent {info_hash}"
        return dict(reply["torrents"][0])

    def seed(self, torrent: bytes, data_parent: Path, timeout: float = 30) -> str:
        """Seed data already in ``data_parent``: added paused, verified, then started, so
        its first announce says it is a seed; returns once a tracker (if any) took it."""
        ih = self.add(torrent=torrent, download_dir=str(data_parent), paused=True)
        self.rpc("torrent-verify", ids=[ih])

        def verified() -> bool:
            t = self.get(ih)
            assert not t["error"], f"transmission: {t['errorString']}"
            return bool(t["status"] == STOPPED and t["percentDone"] == 1)
        wait_until("transmission to verify the data", verified, timeout, 0.1)
        self.rpc("torrent-start-now", ids=[ih])
        self.wait_announced(ih, timeout)
        return ih

    def wait_announced(self, info_hash: str, timeout: float) -> None:
        """Wait until every tracker of the torrent took an announce (none: at once)."""
        def announced() -> bool:
            t = self.get(info_hash)
            assert not t["error"], f"transmission: {t['errorString']}"
            return all(s["lastAnnounceSucceeded"] for s in t["trackerStats"])
        wait_until("transmission's announce", announced, timeout, 0.1)

    def rechoke_now(self, info_hash: str, seeding: bool, timeout: float = 20) -> None:
        """Make transmission run its choker now, not at its next 10-second pulse, until
        bytes flow for ``info_hash`` (sent when ``seeding``, else received).

        Transmission 3.00 decides both whom it unchokes and which peers it is interested in
        only in ``rechokePulse``, every 10 s (a downloader showed flag ``K``, "unchoked us,
        we are not interested", for 8 s), and starting any torrent runs the pulse at once
        (``tr_peerMgrStartTorrent``): a throw-away torrent with no data is stopped and
        started, at most once a second, whenever a peer is ready (interested in us, or
        holding everything, after the metadata and the check a magnet goes through).
        """
        last = 0.0

        def flowing() -> bool:
            nonlocal last
            t = self.rpc("torrent-get", ids=[info_hash], fields=[
                "peers", "metadataPercentComplete", "status", "uploadedEver",
                "haveValid"])["torrents"][0]
            if (t["uploadedEver"] if seeding else t["haveValid"]) > 0:
                return True
            ready = t["metadataPercentComplete"] == 1 and t["status"] in (DOWNLOAD, SEED) \
                and any(p["peerIsInterested"] if seeding else p["progress"] == 1
                        for p in t["peers"])
            if ready and time.monotonic() - last > 1:
                last = time.monotonic()
                self._run_choker()
            return False
        wait_until("transmission to move bytes", flowing, timeout, 0.05)

    def _run_choker(self) -> None:
        if not self._nudge:
            info = {b"name": b"nudge", b"length": 1, b"piece length": 16384,
                    b"pieces": os.urandom(20)}
            self._nudge = self.add(torrent=fastbencode.bencode({b"info": info}), paused=True)
        self.rpc("torrent-stop", ids=[self._nudge])
        self.rpc("torrent-start-now", ids=[self._nudge])

    def log_has(self, text: str) -> bool:
        """Whether the daemon's log (message level 2, info) holds ``text`` yet."""
        self.log.flush()
        return text in (self.folder / "transmission.log").read_text(errors="replace")

    def wait_complete(self, info_hash: str, timeout: float) -> dict[str, Any]:
        """Wait until every byte is downloaded and verified; the torrent's fields."""
        def done() -> dict[str, Any] | None:
            t = self.get(info_hash)
            assert not t["error"], f"transmission: {t['errorString']}"
            return t if t["percentDone"] == 1 and t["leftUntilDone"] == 0 \
                and t["status"] in (SEED_WAIT, SEED) else None
        return wait_until("transmission to complete the download", done, timeout, 0.2)
