"""aria2c with its JSON-RPC on 127.0.0.1, one process per test.

aria2 1.36 speaks UDP trackers only with its DHT on (``--enable-dht``: "It also enables
UDP tracker support"), so the DHT is on, bound to 127.0.0.1 with no entry point and a
routing table file in the test's folder. ``--stop-with-process`` ends it with pytest even
if a finalizer never runs.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from .procs import free_port, require, stop, wait_port, wait_until


class Aria2:
    """One aria2c process serving JSON-RPC; downloads are added and watched through it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.rpc_port = free_port()
        self.peer_port = free_port()
        self.dht_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def peer(self) -> str:
        return f"127.0.0.1:{self.peer_port}"

    def start(self) -> Aria2:
        exe = require("aria2c")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = open(self.folder / "aria2.out", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, "--no-conf", "--enable-rpc", f"--rpc-listen-port={self.rpc_port}",
             "--rpc-listen-all=false", f"--listen-port={self.peer_port}",
             "--enable-dht=true", f"--dht-listen-port={self.dht_port}",
             f"--dht-file-path={self.folder / 'dht.dat'}", "--enable-dht6=false",
             "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--disable-ipv6=true",
             "--file-allocation=none", "--check-certificate=false",
             f"--dir={self.folder / 'downloads'}", f"--stop-with-process={os.getpid()}",
             f"--log={self.folder / 'aria2.log'}", "--log-level=info",
             "--console-log-level=warn", "--summary-interval=0", "--bt-save-metadata=false",
             # else a .torrent given over RPC is written as <hash>.torrent into --dir
             "--rpc-save-upload-metadata=false"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_port(self.rpc_port, self.proc, "aria2c")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.log.close()

    def rpc(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": "t", "method": f"aria2.{method}",
                           "params": list(params)}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.rpc_port}/jsonrpc", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            reply = json.loads(r.read())
        assert "error" not in reply, f"aria2 {method}: {reply['error']}"
        return reply["result"]

    @property
    def version(self) -> str:
        return str(self.rpc("getVersion")["version"])

    def add_torrent(self, torrent: bytes, **options: str) -> str:
        """Add a .torrent (bytes) with per-download options; returns its gid."""
        return str(self.rpc("addTorrent", base64.b64encode(torrent).decode(), [], options))

    def add_magnet(self, magnet: str, **options: str) -> str:
        return str(self.rpc("addUri", [magnet], options))

    def status(self, gid: str) -> dict[str, Any]:
        return dict(self.rpc("tellStatus", gid))

    def seed(self, torrent: bytes, data_parent: Path, timeout: float = 30) -> str:
        """Seed data already in ``data_parent``: hash-check it, then seed without end."""
        gid = self.add_torrent(torrent, dir=str(data_parent), **{
            "check-integrity": "true", "seed-ratio": "0.0", "bt-hash-check-seed": "true"})

        def seeding() -> bool:
            s = self.status(gid)
            assert s["status"] not in ("error", "removed"), f"aria2: {s.get('errorMessage')}"
            return bool(s["status"] == "active" and s.get("seeder") == "true")
        wait_until("aria2 to check and seed", seeding, timeout, 0.2)
        return gid

    def download(self, *, torrent: bytes | None = None, magnet: str | None = None,
                 folder: Path) -> str:
        """Download to ``folder`` and seed on (aria2 tells the tracker it completed only
        when it goes on seeding: with ``--seed-time=0`` it announces ``stopped`` and
        never ``completed``); returns the gid."""
        opts = {"dir": str(folder), "seed-ratio": "0.0", "bt-hash-check-seed": "true"}
        if torrent is not None:
            return self.add_torrent(torrent, **opts)
        assert magnet is not None
        return self.add_magnet(magnet, **opts)

    def wait_complete(self, gid: str, timeout: float) -> dict[str, Any]:
        """Wait until every byte is downloaded and hash-checked, and aria2 seeds; for a
        magnet, the download its metadata led to. Returns that download's status."""
        def done() -> dict[str, Any] | None:
            s = self.status(gid)
            if s["status"] in ("error", "removed"):
                raise AssertionError(f"aria2 download failed: {s.get('errorCode')} "
                                     f"{s.get('errorMessage')}")
            follow = s.get("followedBy")
            if follow:  # a magnet's metadata download: go on with the real one
                s = self.status(follow[0])
            seeding = s["status"] == "active" and s.get("seeder") == "true"
            full = int(s["totalLength"]) > 0 and s["completedLength"] == s["totalLength"]
            return s if seeding and full else None
        return wait_until("aria2 to complete the download", done, timeout, 0.2)
