"""The two servers of the contract suite and a client that talks to both alike.

* :class:`RealQbt`: qbittorrent-nox (Debian's 4.5.2) with a profile of its own: legal
  notice accepted, WebUI on 127.0.0.1 with a known password (``WebUI\\Password_PBKDF2``
  written in its format), login required from localhost too, CSRF protection and Host
  header validation on (server domains ``localhost``, so both refuse a foreign Host),
  DHT, LSD, PeX and UPnP off.
* :class:`TidegateQbt`: a real ``tidegate daemon`` with ``[qbt]`` enabled, its password
  set with ``tidegate qbt password --stdin`` before it starts.

Both are stopped by their pid. :class:`Client` sends requests as the tools do (a form
login, then the ``SID`` cookie; url-encoded or multipart bodies) with http.client, so a
test can also send a forged Host, Origin or Referer.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.helpers.daemon_util import TIDEGATE, DaemonProc, env_for, short_home
from tests.interop.procs import free_port, require, stop, wait_port
from tidegate.engine.qbt.auth import hash_password

PASSWORD = "contract-pass-1"
USER = "admin"

QBT_CONF = """[LegalNotice]
Accepted=true

[BitTorrent]
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\InterfaceAddress=127.0.0.1
Session\\DefaultSavePath={downloads}
Session\\Port={peer_port}

[Preferences]
WebUI\\Address=127.0.0.1
WebUI\\Username={user}
WebUI\\Password_PBKDF2="@ByteArray({hash})"
WebUI\\LocalHostAuth=true
WebUI\\CSRFProtection=true
WebUI\\HostHeaderValidation=true
WebUI\\ServerDomains=localhost
Connection\\UPnP=false
"""


@dataclass
class Reply:
    status: int
    body: bytes
    headers: http.client.HTTPMessage

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """Requests to one server's ``/api/v2/``, with its SID cookie once logged in."""

    def __init__(self, port: int, name: str):
        self.port = port
        self.name = name
        self.sid = ""

    def call(self, path: str, params: dict[str, str] | None = None, *, method: str = "POST",
             files: list[tuple[str, bytes]] | None = None, headers: dict[str, str] | None = None,
             cookie: bool = True) -> Reply:
        hdrs = {"Host": f"127.0.0.1:{self.port}"}
        body: bytes | None = None
        url = f"/api/v2/{path}"
        if method == "GET":
            if params:
                url += "?" + urlencode(params)
        elif files is not None:
            boundary = uuid.uuid4().hex
            body = _multipart(boundary, params or {}, files)
            hdrs["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        else:
            body = urlencode(params or {}).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie and self.sid:
            hdrs["Cookie"] = f"SID={self.sid}"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, url, body=body, headers=hdrs)
            r = conn.getresponse()
            return Reply(r.status, r.read(), r.headers)
        finally:
            conn.close()

    def login(self, password: str = PASSWORD) -> Reply:
        reply = self.call("auth/login", {"username": USER, "password": password})
        for value in reply.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            if name.strip() == "SID":
                self.sid = rest.split(";")[0]
        return reply


def _multipart(boundary: str, fields: dict[str, str], files: list[tuple[str, bytes]]) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for filename, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"torrents\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/x-bittorrent\r\n\r\n"
                ).encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


class RealQbt:
    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.downloads = folder / "dl"

    def start(self) -> RealQbt:
        exe = require("qbittorrent-nox")
        conf = self.folder / "qBittorrent" / "config"
        conf.mkdir(parents=True)
        (conf / "qBittorrent.conf").write_text(QBT_CONF.format(
            downloads=self.downloads, peer_port=free_port(), user=USER,
            hash=hash_password(PASSWORD)))
        self.log = open(self.folder / "qbittorrent.out", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, f"--profile={self.folder}", f"--webui-port={self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, HOME=str(self.folder)))
        wait_port(self.port, self.proc, "qbittorrent-nox", timeout=20)
        return self

    def client(self) -> Client:
        return Client(self.port, "qbittorrent")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=5)
            self.log.close()


class TidegateQbt:
    def __init__(self, extra_toml: str = ""):
        self.port = free_port()
        self.home = short_home(f"\n[qbt]\nenabled = true\nport = {self.port}\n{extra_toml}")
        self.downloads = self.home / "dl"
        conf = self.home / "config.toml"
        conf.write_text(conf.read_text().replace(
            "resume_save_interval = 1.0\n",
            f"resume_save_interval = 1.0\ndownload_dir = \"{self.downloads}\"\n", 1))
        self.daemon = DaemonProc(self.home)

    def start(self, password: str | None = PASSWORD) -> TidegateQbt:
        if password is not None:
            subprocess.run([*TIDEGATE, "qbt", "password", "--stdin"], input=password + "\n",
                           env=env_for(self.home), check=True, capture_output=True, text=True,
                           timeout=60)
        self.daemon.start(60)
        return self

    def client(self) -> Client:
        return Client(self.port, "tidegate")

    def stop(self) -> str:
        self.daemon.stop()
        shutil.rmtree(self.home, ignore_errors=True)
        return self.daemon.stderr
