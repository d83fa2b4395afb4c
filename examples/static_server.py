"""A static-content server with directory indexes, as a program on a tidegate site.

It uses only the program API's client (``AppClient``, docs/program-api.md): it leases
the paths under ``--prefix`` of an owned site SITE from the running daemon, and answers
them from the verified files of a site (SITE itself, or ``--of`` another site this node
holds): a folder is an HTML index of its files and subfolders, a file is streamed from
``AppClient.open`` with Range requests answered (206). The index is read again when the
site changes (``AppClient.watch``).

    python examples/static_server.py SITE [--prefix /browse/] [--of OTHER] [--connect EP]

Then browse ``http://<SITE address>.localhost:<proxy port>/browse/``. Stop it with
Ctrl-C (or SIGTERM): the lease ends with it.
"""

from __future__ import annotations

import argparse
import html
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from urllib.parse import quote, unquote

from tidegate.engine.apps.client import AppClient, AppRequest, AppResponse, SiteFile

CHUNK = 256 << 10
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Index:
    """The site's files by path, refreshed when the site changes."""

    def __init__(self, app: AppClient, site: str):
        self.app, self.site = app, site
        self._lock = threading.Lock()
        self.files: dict[str, SiteFile] = {}
        self.refresh()

    def refresh(self, *_: object) -> None:
        files = {f.path: f for f in self.app.files(self.site)}
        with self._lock:
            self.files = files

    def listing(self, folder: str) -> tuple[list[str], list[SiteFile]] | None:
        """Subfolders and files directly in ``folder`` ("" the root, else "a/b/")."""
        with self._lock:
            files = self.files
        subs: set[str] = set()
        here: list[SiteFile] = []
        found = folder == ""
        for path, f in files.items():
            if not path.startswith(folder):
                continue
            found = True
            rest = path[len(folder):]
            if "/" in rest:
                subs.add(rest.split("/", 1)[0])
            else:
                here.append(f)
        return (sorted(subs), sorted(here, key=lambda f: f.path)) if found else None


def page(status: int, title: str, body: str) -> AppResponse:
    doc = (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
           f"<h1>{html.escape(title)}</h1>{body}\n")
    return AppResponse(status, {"Content-Type": "text/html; charset=utf-8",
                                "Cache-Control": "no-cache"}, doc.encode())


def index_page(prefix: str, folder: str, subs: list[str], files: list[SiteFile]) -> AppResponse:
    rows = []
    if folder:
        rows.append('<li><a href="../">../</a></li>')
    rows += [f'<li class=dir><a href="{quote(s)}/">{html.escape(s)}/</a></li>' for s in subs]
    for f in files:
        name = f.path.rsplit("/", 1)[-1]
        rows.append(f'<li class=file><a href="{quote(name)}">{html.escape(name)}</a> '
                    f"<span class=size>{f.size:,} bytes</span></li>")
    return page(200, f"Index of {prefix}{folder}", f"<ul>{''.join(rows)}</ul>")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """``(start, end)`` of a single ``bytes=`` range; None: no (usable) Range, serve all;
    False: unsatisfiable (416)."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or m.group(1) == m.group(2) == "":
        return None  # several ranges or another unit: the whole file (RFC 9110 allows it)
    if m.group(1) == "":
        n = int(m.group(2))
        return (max(0, size - n), size) if n > 0 and size > 0 else False
    start = int(m.group(1))
    end = min(size, int(m.group(2)) + 1) if m.group(2) else size
    return (start, end) if start < size and start < end else False


def serve_file(app: AppClient, site: str, f: SiteFile, req: AppRequest) -> AppResponse:
    headers = {"Content-Type": f.content_type, "Accept-Ranges": "bytes",
               "ETag": f'"{f.root or "empty"}"', "Cache-Control": "no-cache"}
    span = byte_range(req.headers.get("Range"), f.size)
    if span is False:
        headers["Content-Range"] = f"bytes */{f.size}"
        return AppResponse(416, headers, b"")
    start, end = span if isinstance(span, tuple) else (0, f.size)
    status = 206 if isinstance(span, tuple) else 200
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
    headers["Content-Length"] = str(end - start)
    stream = app.open(site, f.path, start, end)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    return AppResponse(status, headers, chunks() if req.method != "HEAD" else b"")


def handler_for(app: AppClient, index: Index, site: str,
                prefix: str) -> Callable[[AppRequest], AppResponse]:
    def handle(req: AppRequest) -> AppResponse:
        if req.method not in ("GET", "HEAD"):
            return AppResponse(405, {"Allow": "GET, HEAD"}, b"")
        rel = unquote(req.path[len(prefix):]) if req.path.startswith(prefix) else None
        if rel is None or any(p in (".", "..") for p in rel.split("/")):
            return page(404, "Not found", "<p>Nothing here.</p>")
        if rel == "" or rel.endswith("/"):
            found = index.listing(rel)
            if found is None:
                return page(404, "Not found", "<p>No such folder.</p>")
            return index_page(prefix, rel, *found)
        f = index.files.get(rel)
        if f is None:
            if index.listing(rel + "/") is not None:
                return AppResponse(301, {"Location": quote(req.path) + "/"}, b"")
            return page(404, "Not found", "<p>No such file.</p>")
        return serve_file(app, site, f, req)
    return handle


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", help="the owned site whose paths this program answers")
    ap.add_argument("--prefix", default="/browse/", help="the paths it answers (/browse/)")
    ap.add_argument("--of", help="the site whose files it shows (default: SITE)")
    ap.add_argument("--connect", help="the daemon's endpoint (default: the config's)")
    args = ap.parse_args(argv)
    app = AppClient.connect(args.connect)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        shown = args.of or args.site
        index = Index(app, shown)
        app.watch(shown, index.refresh, on_gap=index.refresh)
        server = app.serve(args.site, args.prefix,
                           handler_for(app, index, shown, args.prefix))
        print(f"serving {shown}'s files under {args.prefix} of {args.site} from "
              f"{server.target}", flush=True)
        stop.wait()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
