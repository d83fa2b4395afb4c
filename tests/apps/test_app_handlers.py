"""A program's HTTP handler for an owned site, through the Smart Proxy, in a real
headless Chromium: the program's page answers (``Tidegate-Content: dynamic; program``)
beside the verified static files (``verified``); the program gone, its paths answer 502
until the lease lapses, then they are the site's static paths again."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import pytest

import tidegate.engine.proxy.forward as forward
from tests.helpers.sites_util import joined, site_engine, wait_site, write_site
from tests.proxy.test_proxy_browser import chromium, origin, publish
from tidegate.engine.apps.client import AppClient
from tidegate.engine.apps.serve import AppRequest, AppResponse
from tidegate.engine.errors import InputError, SiteError
from tidegate.engine.proxy.responses import SITE_CSP

TTL = 3.0
LAPSE_BOUND = 20.0


def test_a_registered_handler_answers_in_the_browser_until_its_lease_lapses(
        tmp_path: Path) -> None:
    with joined([site_engine(tmp_path / "a")]) as (a,):
        source = write_site(tmp_path / "src", {
            "index.html": b"<!doctype html><title>static</title><h1 id=s>static page</h1>",
            "app/static.txt": b"a static file under the prefix"})
        address = publish(a, "dyn", source)
        port = a.snapshot.web.port
        site = origin(address, port)
        seen: list[AppRequest] = []
        lock = threading.Lock()

        def handler(req: AppRequest) -> AppResponse:
            with lock:
                seen.append(req)
            start = req.body[:100].decode(errors="replace")
            text = f"{req.method} {req.path}?{req.query} {start}"
            return AppResponse(200, {"Content-Type": "text/html; charset=utf-8",
                                     "Content-Security-Policy": "default-src *",
                                     "Set-Cookie": "tracking=1", "X-Program": "yes"},
                               f"<!doctype html><h1 id=dyn>{text}</h1>".encode())

        app = AppClient(a)
        server = app.serve(address, "/app/", handler, ttl=TTL)
        try:
            state = wait_site(a, address, lambda s: bool(s.handlers), 10)
            assert state.handlers == (f"/app/ -> {server.target}",)
            with chromium(tmp_path / "profile") as browser:
                page = browser.new_page()
                static = page.goto(site + "/", wait_until="load")
                assert static is not None and static.status == 200
                assert static.headers["tidegate-content"] == "verified"
                assert page.inner_text("#s") == "static page"

                dyn = page.goto(site + "/app/hello?x=1", wait_until="load")
                assert dyn is not None and dyn.status == 200
                assert dyn.headers["tidegate-content"] == "dynamic; program"
                assert page.inner_text("#dyn") == "GET /app/hello?x=1"
                # the site's own CSP, not the program's; its cookie and own headers dropped
                assert dyn.headers["content-security-policy"] == SITE_CSP
                assert "set-cookie" not in dyn.headers and "x-program" not in dyn.headers
                assert seen[-1].site == address

                # the prefix is the program's, even where the snapshot has a file
                under = page.goto(site + "/app/static.txt")
                assert under is not None and under.headers["tidegate-content"] == \
                    "dynamic; program"

                # a script of the page POSTs to the program (same origin) with a body
                got = page.evaluate("""async () => {
                    const r = await fetch('/app/form', {method: 'POST', body: 'a=1&b=2'});
                    return [r.status, r.headers.get('tidegate-content'), await r.text()];
                }""")
                assert got == [200, "dynamic; program",
                               "<!doctype html><h1 id=dyn>POST /app/form? a=1&b=2</h1>"]

                # bodies: a large one arrives whole, one over 1 MiB is refused unsent
                host = f"{address.removesuffix('.onion')}.localhost:{port}"
                body = bytes(range(256)) * 800  # 200 KiB: several reads of the stream
                status, text = _post(port, host, "/app/upload", body)
                assert status == 200 and len(seen[-1].body) == len(body)
                assert seen[-1].body == body
                calls = len(seen)
                status, text = _post(port, host, "/app/upload", b"x" * ((1 << 20) + 1))
                assert status == 413 and len(seen) == calls, text

                # the program dies without ending its lease: 502 until the lease lapses
                server.close(unregister=False)
                gone = page.goto(site + "/app/hello")
                assert gone is not None and gone.status == 502
                assert gone.headers["tidegate-content"] == "proxy"
                assert "program" in page.inner_text("body")

                wait_site(a, address, lambda s: s.handlers == (), LAPSE_BOUND)
                lapsed = page.goto(site + "/app/hello")
                assert lapsed is not None and lapsed.status == 404
                back = page.goto(site + "/app/static.txt")
                assert back is not None and back.status == 200
                assert back.headers["tidegate-content"] == "verified"
                assert page.inner_text("body") == "a static file under the prefix"
        finally:
            app.close()


def _post(port: int, host: str, path: str, body: bytes) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def test_only_loopback_targets_and_owned_sites_take_handlers(tmp_path: Path) -> None:
    with joined([site_engine(tmp_path / "a")]) as (a,):
        source = write_site(tmp_path / "src", {"index.html": b"x"})
        address = a.site_new("owned", str(source)).result(30).address
        for target in ("http://10.0.0.1:80", "http://localhost:8080", "https://127.0.0.1:1",
                       "http://127.0.0.1", "http://127.0.0.1:80/path", "file:///etc",
                       "http://user@127.0.0.1:80"):
            with pytest.raises(InputError, match="target"):
                a.handler_register(address, "/app/", target).result(10)
        for prefix in ("/", "app/", "/app", "/../", "/.tidegate/", "/a b/", "/a%2f/"):
            with pytest.raises(InputError, match="prefix"):
                a.handler_register(address, prefix, "http://127.0.0.1:8080").result(10)
        assert a.handler_register(address, "/app/", "http://127.0.0.2:8080/").result(10) == 30
        assert a.handler_unregister(address, "/app/").result(10) is True
        assert a.handler_unregister(address, "/app/").result(10) is False
        with pytest.raises(SiteError):
            a.handler_register("no-such-site", "/app/", "http://127.0.0.1:8080").result(10)


def test_a_program_too_slow_to_answer_gets_504(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer's deadline shortened from 30 s to 1 s (a constant read per request);
    the program and the proxy are real."""
    monkeypatch.setattr(forward, "ANSWER_TIMEOUT", 1.0)
    release = threading.Event()

    def slow(req: AppRequest) -> AppResponse:
        release.wait(10)
        return AppResponse(200, {}, b"late")

    with joined([site_engine(tmp_path / "a")]) as (a,):
        source = write_site(tmp_path / "src", {"index.html": b"x"})
        address = publish(a, "slow", source)
        port = a.snapshot.web.port
        host = f"{address.removesuffix('.onion')}.localhost:{port}"
        with AppClient(a) as app:
            app.serve(address, "/slow/", slow)
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", "/slow/x", headers={"Host": host})
                resp = conn.getresponse()
                assert resp.status == 504
                assert resp.getheader("Tidegate-Content") == "proxy"
                assert b"did not answer within 1 s" in resp.read()
            finally:
                conn.close()
                release.set()
            assert time.monotonic() - started < 10
