"""qbittorrent-nox on 127.0.0.1, driven through its WebUI API (v2), one process per test.

The profile folder gets a ``qBittorrent.conf`` that accepts the legal notice (else the
first start asks on the terminal), lets 127.0.0.1 in without a login
(``WebUI\\LocalHostAuth=false``) and turns off DHT, LSD, PeX, UPnP, uTP and queueing.
qBittorrent 4.5 runs libtorrent 2.0, so unlike Debian's transmission and aria2 it joins
hybrid swarms: it is the suite's second implementation of BEP 52 on the other side.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from .procs import free_port, require, stop, wait_port, wait_until

CONF = """[LegalNotice]
Accepted=true

[BitTorrent]
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\InterfaceAddress=127.0.0.1
Session\\BTProtocol=TCP
Session\\QueueingSystemEnabled=false
Session\\MultiConnectionsPerIp=true
Session\\DefaultSavePath={downloads}

[Preferences]
WebUI\\Address=127.0.0.1
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
Connection\\UPnP=false
"""



def torrent_id(info_hash_v1: str | None, info_hash_v2: str | None) -> str:
    """qBittorrent's ``hash`` of a torrent: the v2 hash truncated to 40 hex digits when
    there is one (hybrid too), else the v1 hash."""
    if info_hash_v2:
        return info_hash_v2[:40]
    assert info_hash_v1 is not None
    return info_hash_v1


# states of a torrent whose every wanted byte is there and checked
SEEDING = {"uploading", "stalledUP", "forcedUP", "queuedUP"}


class QBittorrent:
    """One qbittorrent-nox with its own profile, WebUI port and peer port."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.web_port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def peer(self) -> str:
        return f"127.0.0.1:{self.peer_port}"

    def start(self) -> QBittorrent:
        exe = require("qbittorrent-nox")
        conf = self.folder / "qBittorrent" / "config"
        conf.mkdir(parents=True)
        (conf / "qBittorrent.conf").write_text(CONF.format(downloads=self.folder / "dl"))
        self.log = open(self.folder / "qbittorrent.out", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, f"--profile={self.folder}", f"--webui-port={self.web_port}",
             f"--torrenting-port={self.peer_port}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, HOME=str(self.folder)))
        wait_port(self.web_port, self.proc, "qbittorrent-nox", timeout=20)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            # a seeding qBittorrent spent 5 s in its exit; nothing of it is needed any more
            stop(self.proc, timeout=1)
            self.log.close()

    def _call(self, path: str, data: bytes | None = None,
              headers: dict[str, str] | None = None) -> bytes:
        req = urllib.request.Request(f"http://127.0.0.1:{self.web_port}/api/v2/{path}",
                                     data=data, headers=headers or {})
        with urllib.request.urlopen(req, timeout=10) as r:
            return bytes(r.read())

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        return json.loads(self._call(f"{path}?{query}" if query else path))

    def post(self, path: str, **fields: str) -> bytes:
        return self._call(path, urllib.parse.urlencode(fields).encode())

    @property
    def version(self) -> str:
        return self._call("app/version").decode()

    def add(self, *, torrent: bytes | None = None, magnet: str | None = None,
            save_path: Path) -> None:
        """``torrents/add`` (multipart: a .torrent file, or a magnet in ``urls``)."""
        boundary = "interop" + os.urandom(8).hex()
        parts = [("savepath", None, str(save_path).encode())]
        if torrent is not None:
            parts.append(("torrents", "t.torrent", torrent))
        else:
            assert magnet is not None
            parts.append(("urls", None, magnet.encode()))
        body = b""
        for name, filename, value in parts:
            disposition = f'form-data; name="{name}"' + (
                f'; filename="{filename}"' if filename else "")
            body += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                     + ("Content-Type: application/x-bittorrent\r\n" if filename else "")
                     + "\r\n").encode() + value + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        reply = self._call("torrents/add", body,
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert reply.strip() == b"Ok.", f"qBittorrent refused the torrent: {reply!r}"

    def torrent(self, info_hash: str, timeout: float = 10) -> dict[str, Any]:
        """``torrents/info`` of one torrent (waits until qBittorrent lists it)."""
        def listed() -> dict[str, Any] | None:
            found = self.get("torrents/info", hashes=info_hash)
            return dict(found[0]) if found else None
        return wait_until(f"qBittorrent to list {info_hash}", listed, timeout, 0.1)

    def wait_state(self, info_hash: str, states: set[str], timeout: float) -> dict[str, Any]:
        def there() -> dict[str, Any] | None:
            t = self.torrent(info_hash)
            assert t["state"] not in ("error", "missingFiles"), f"qBittorrent: {t['state']}"
            return t if t["state"] in states and t["progress"] == 1 else None
        return wait_until(f"qBittorrent's torrent to reach {sorted(states)}", there,
                          timeout, 0.1)
