"""Debian's opentracker on 127.0.0.1, and a scrape client to read what it knows.

Debian builds opentracker closed (``WANT_ACCESSLIST_WHITE``): it tracks only the info-hashes
listed in the ``-w`` file, read relative to ``-d``, which it chroots into when run as root
(and drops to ``nobody``, so the folder and file must be world-readable). Several copies
can bind one port at once, so each test gets its own port and its own process, stopped
by its pid.
"""

from __future__ import annotations

import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import fastbencode

from .procs import free_port, require, stop, wait_port, wait_until


@dataclass(frozen=True)
class Scrape:
    complete: int
    incomplete: int
    downloaded: int


def tracked_hashes(info_hash_v1: str | None, info_hash_v2: str | None) -> list[str]:
    """The 20-byte hashes a client announces a torrent under (hex).

    A v2 or hybrid torrent is also announced under its SHA-256 hash truncated to 20 bytes
    (BEP 52), which a closed tracker must list too.
    """
    out = []
    if info_hash_v1:
        out.append(info_hash_v1)
    if info_hash_v2:
        out.append(info_hash_v2[:40])
    return out


class Opentracker:
    """One opentracker process: HTTP and UDP on the same free port of 127.0.0.1."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.hashes: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}/announce"

    @property
    def udp(self) -> str:
        return f"udp://127.0.0.1:{self.port}/announce"

    def url(self, scheme: str) -> str:
        return self.http if scheme == "http" else self.udp

    def allow(self, *hashes: str | None) -> Opentracker:
        """List info-hashes (hex, 40 characters) before :meth:`start`."""
        assert self.proc is None, "opentracker reads its whitelist at start"
        self.hashes += [h.lower() for h in hashes if h]
        return self

    def start(self) -> Opentracker:
        exe = require("opentracker")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # opentracker runs as nobody inside it when started as root
        wl = self.folder / "whitelist"
        wl.write_text("".join(h + "\n" for h in self.hashes))
        wl.chmod(0o644)
        self.log = open(self.folder / "opentracker.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, "-i", "127.0.0.1", "-p", str(self.port), "-P", str(self.port),
             "-d", str(self.folder), "-w", "whitelist"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "opentracker")
        if self.hashes:
            # the whitelist is read by a thread of its own after the port opens: until it
            # is, every announce is refused ("not authorized")
            wait_until("opentracker to read its whitelist",
                       lambda: self._authorized(self.hashes[-1]), 10, 0.02)
        return self

    def _authorized(self, info_hash: str) -> bool:
        """A ``stopped`` announce from a peer it never saw: refused only if not listed,
        and it adds no peer."""
        query = _query(info_hash, peer_id=b"-XX0000-interopprobe", port=1, uploaded=0,
                       downloaded=0, left=0, event="stopped", compact=1)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/announce?{query}",
                                    timeout=5) as r:
            reply = fastbencode.bdecode(r.read())
        return b"failure reason" not in reply

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.log.close()

    def scrape(self, info_hash: str) -> Scrape | None:
        """What opentracker reports for one hash over HTTP /scrape (None: not tracked)."""
        ih = bytes.fromhex(info_hash[:40])
        url = f"http://127.0.0.1:{self.port}/scrape?{_query(info_hash)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            reply = fastbencode.bdecode(r.read())
        entry = reply.get(b"files", {}).get(ih)
        if entry is None:
            return None
        return Scrape(complete=entry[b"complete"], incomplete=entry[b"incomplete"],
                      downloaded=entry[b"downloaded"])


def _query(info_hash: str, **params: object) -> str:
    """A query string with the binary info-hash %-encoded (``urlencode`` would turn a 0x20
    byte into ``+``, which opentracker does not read as a space)."""
    ih = urllib.parse.quote(bytes.fromhex(info_hash[:40]), safe="")
    rest = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return f"info_hash={ih}" + (f"&{rest}" if rest else "")
