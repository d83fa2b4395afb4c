"""``site_files`` and ``site_read`` for programs: a site's newest verified snapshot, read
the way the Smart Proxy reads what it serves (:class:`.verify.Verifier`: ``O_NOFOLLOW``
at every folder, the manifest's size, every piece hashed against the chain before a byte
of it is returned). A mismatch is the caller's error and is reported to the sites thread
(``report_bad``: Hosting rechecks the snapshot), as a proxied read is.

Reads run on a small thread pool of their own, never on the API server's thread.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future

from ..commands_apps import MAX_LISTED, MAX_READ, SiteChunk, SiteFile, SiteListing
from ..errors import InputError, SiteError
from ..site_names import resolve
from ..sites.changes import OWN
from ..sites.served import ServedSite
from ..sites.source_write import check_path
from ..state import SiteState
from .verify import Mismatch, Verifier

LISTED_BYTES = 256 << 10
"""Path bytes one ``site_files`` reply holds at most (with :data:`MAX_LISTED`)."""
CACHE_BYTES = 16 << 20
REPORT_WINDOW = 30.0
"""A file's mismatch is reported to the sites thread at most once in this many seconds
(as the proxy does): a program reading it in a loop does not start a recheck per read."""


class SiteReader:
    """Verified reads of served snapshots, off the caller's thread."""

    def __init__(self, served: Callable[[], Mapping[str, ServedSite]],
                 sites: Callable[[], Mapping[str, SiteState]],
                 report_bad: Callable[[str, int, str, str], None]):
        self._served = served
        self._sites = sites
        self._report_bad = report_bad
        self.verifier = Verifier(CACHE_BYTES)
        self._pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="tidegate-app")
        self._reported: dict[tuple[str, int, str], float] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _site(self, site: str) -> ServedSite:
        address = resolve(self._sites(), site)
        served = self._served().get(address)
        if served is None:
            raise SiteError(site, "no verified snapshot of this site is held here yet")
        return served

    def files(self, site: str, start: int) -> Future[SiteListing]:
        return self._pool.submit(self._files, site, start)

    def read(self, site: str, path: str, offset: int, length: int) -> Future[SiteChunk]:
        return self._pool.submit(self._read, site, path, offset, length)

    def _report(self, served: ServedSite, exc: Mismatch) -> None:
        key, now = (served.address, served.seq, exc.path), time.monotonic()
        if now - self._reported.get(key, -REPORT_WINDOW) >= REPORT_WINDOW:
            if len(self._reported) > 1024:
                self._reported.clear()
            self._reported[key] = now
            self._report_bad(served.address, served.seq, exc.path, str(exc))

    def _files(self, site: str, start: int) -> SiteListing:
        served = self._site(site)
        paths = sorted(p for p in served.files if not p.startswith(OWN))
        out: list[SiteFile] = []
        used = 0
        nxt = -1
        for i in range(start, len(paths)):
            if len(out) >= MAX_LISTED or used >= LISTED_BYTES:
                nxt = i
                break
            f = served.files[paths[i]]
            out.append(SiteFile(path=f.path, size=f.size, content_type=f.content_type,
                                root=f.root.hex() if f.root else ""))
            used += len(f.path) + 100
        return SiteListing(address=served.address, height=served.height,
                           snapshot=served.seq, files=out, next=nxt)

    def _read(self, site: str, path: str, offset: int, length: int) -> SiteChunk:
        where = "site_read"
        check_path(path, where)
        served = self._site(site)
        f = served.files.get(path)
        if f is None:
            raise InputError(where, f"path {path!r}: the site has no such file at height "
                                    f"{served.height}")
        if offset > f.size:
            raise InputError(where, f"offset {offset} is past the end of {path} "
                                    f"({f.size} bytes)")
        end = min(f.size, offset + min(length, MAX_READ))
        data = b""
        if end > offset:
            v = self.verifier
            try:
                fd, ident = v.open(served, f)
                try:
                    data = b"".join(v.read_piece(served, f, fd, ident, i)[off:off + n]
                                    for i, off, n in v.pieces(served, f, offset, end))
                finally:
                    os.close(fd)
            except Mismatch as exc:
                v.forget()
                self._report(served, exc)
                raise SiteError(served.address,
                                f"refused: not the site's content: {exc} (none of it was "
                                "sent; the snapshot is being checked again)") from None
        return SiteChunk(data=data, offset=offset, size=f.size, height=served.height,
                         snapshot=served.seq, content_type=f.content_type, etag=f.etag)
