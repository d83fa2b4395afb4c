"""A page on another origin reads a URL's comments and posts one from real Chromium:
CORS works for GET, and POST passes its preflight (Content-Type: application/json)."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.proxy.test_proxy_browser import CHROMIUM, CHROMIUM_ARGS

from .util import comment, node_with_comments

PAGE = b"<!doctype html><title>a blog</title><p>comments below</p>"


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


def test_a_page_on_another_origin_gets_and_posts_comments(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with node_with_comments(tmp_path / "n") as node:
            assert node.comments is not None
            first = comment("seen from a browser")
            node.comments.store.add(first.raw)
            endpoint = f"http://127.0.0.1:{node.comments.port}/{first.url_hash}"
            second = comment("posted from a browser")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                             args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page()
                    page.goto(f"http://127.0.0.1:{server.server_address[1]}/post.html")
                    got = page.evaluate("""async (u) => {
                        const r = await fetch(u);
                        return [r.status, await r.json()];
                    }""", endpoint)
                    posted = page.evaluate("""async ([u, body]) => {
                        const r = await fetch(u, {method: "POST", body,
                            headers: {"Content-Type": "application/json"}});
                        return [r.status, await r.json()];
                    }""", [endpoint, second.raw.decode()])
                    refused = page.evaluate("""async (u) => {
                        try {
                            await fetch(u, {headers: {"Authorization": "x"}});
                            return "read";
                        } catch (e) { return "blocked"; }
                    }""", endpoint)
                finally:
                    browser.close()
            assert got[0] == 200
            assert [c["id"] for c in got[1]["comments"]] == [first.id]
            assert got[1]["comments"][0]["record"]["event"]["content"] == "seen from a browser"
            assert posted == [201, {"id": second.id, "url_hash": first.url_hash}]
            assert refused == "blocked"  # only Content-Type may be sent
            assert [c.id for c in node.comments.store.for_url(first.url_hash)] == \
                [first.id, second.id]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
