"""Hosted sites through the Smart Proxy in a real browser (Debian's headless Chromium).

Site pages render with their images, and each site is its own origin that no other site
(nor any other local page) can read from, send to, frame or load from.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Response, sync_playwright

from tests.helpers.sites_util import joined, site_engine, wait_site, write_site
from tidegate.engine import Engine

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


# ---------------------------------------------------------------------- images


def png(width: int, height: int, top: tuple[int, int, int],
        bottom: tuple[int, int, int]) -> bytes:
    """An 8-bit RGB PNG: the upper half ``top``, the lower half ``bottom``."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\x00" + bytes(top if y < height // 2 else bottom) * width
                    for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def gif(width: int, height: int, left: tuple[int, int, int],
        right: tuple[int, int, int]) -> bytes:
    """A GIF89a with a 4-colour palette: the left half ``left``, the right half ``right``.

    LZW without compression: a clear code before every two pixels keeps every code 3 bits
    wide (the decoder's table never grows past code 6)."""
    clear, end = 4, 5
    pixels = [1 if x < width // 2 else 2 for _ in range(height) for x in range(width)]
    codes: list[int] = []
    for i in range(0, len(pixels), 2):
        codes += [clear, *pixels[i:i + 2]]
    codes.append(end)
    acc = nbits = 0
    data = bytearray()
    for code in codes:
        acc |= code << nbits
        nbits += 3
        while nbits >= 8:
            data.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        data.append(acc)
    blocks = b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                      for i in range(0, len(data), 255)) + b"\x00"
    palette = bytes((0, 0, 0, *left, *right, 255, 255, 255))
    screen = struct.pack("<HHBBB", width, height, 0x91, 0, 0)  # global table of 4 colours
    image = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02" + blocks
    return b"GIF89a" + screen + palette + image + b";"


# ---------------------------------------------------------------------- browser


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """A fresh headless Chromium profile; fails (never skips) without /usr/bin/chromium."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's 'chromium' package "
                    "(.ci/run does); these tests need a real browser", pytrace=False)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


def origin(address: str, port: int) -> str:
    return f"http://{address.removesuffix('.onion')}.localhost:{port}"


def publish(engine: Engine, name: str, folder: Path) -> str:
    address = engine.site_new(name, str(folder)).result(30).address
    assert engine.site_publish(name).result(60).height == 1
    wait_site(engine, address, lambda s: s.hosting.seq == 1, 60)
    return address


def wait_results(page: Page, timeout: float = 30_000) -> dict[str, Any]:
    page.wait_for_function("() => window.results !== undefined", timeout=timeout)
    results: dict[str, Any] = page.evaluate("() => window.results")
    return results


# ---------------------------------------------------------------------- rendering

PNG_SIZE, GIF_SIZE = (37, 24), (30, 17)
BLUE, YELLOW, RED, GREEN = (20, 60, 230), (250, 210, 20), (220, 30, 30), (30, 170, 60)

PAGE = """<!doctype html><meta charset=utf-8><title>Tide pools</title>
<h1>Tide pools of the north shore</h1>
<p id=text>Anemones close when the water leaves — and open again at high tide.</p>
<img id=pool src="img/pool.png" alt="a pool">
<img id=crab src="img/crab.gif" alt="a crab">
"""

IMAGE_STATE = """(id) => {
  const img = document.getElementById(id);
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  let pixels = null;
  if (img.complete && img.naturalWidth > 0) {
    ctx.drawImage(img, 0, 0);
    const at = (x, y) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
    const w = img.naturalWidth, h = img.naturalHeight;
    pixels = {top_left: at(1, 1), bottom_right: at(w - 2, h - 2)};
  }
  return {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight, pixels};
}"""


def close(got: list[int], want: tuple[int, int, int]) -> bool:
    return all(abs(g - w) <= 6 for g, w in zip(got, want, strict=True))


def test_followed_site_renders_with_images(tmp_path: Path) -> None:
    with joined([site_engine(tmp_path / "a"), site_engine(tmp_path / "b")]) as (a, b):
        source = write_site(tmp_path / "src", {
            "index.html": PAGE.encode(),
            "img/pool.png": png(*PNG_SIZE, top=BLUE, bottom=YELLOW),
            "img/crab.gif": gif(*GIF_SIZE, left=RED, right=GREEN)})
        address = publish(a, "pools", source)
        b.site_follow(address).result(30)
        wait_site(b, address, lambda s: s.hosting.seq == 1, 60)
        port = b.snapshot.web.port
        assert port > 0 and port != a.snapshot.web.port

        with chromium(tmp_path / "profile") as browser:
            page = browser.new_page()
            responses: list[Response] = []
            page.on("response", lambda r: responses.append(r))
            doc = page.goto(origin(address, port) + "/", wait_until="load")
            assert doc is not None and doc.status == 200, doc
            headers = doc.headers
            assert "connect-src 'self'" in headers["content-security-policy"]
            assert "frame-ancestors 'self'" in headers["content-security-policy"]
            assert headers["x-frame-options"] == "SAMEORIGIN"
            assert headers["tidegate-height"] == "1"

            assert page.title() == "Tide pools"
            assert page.inner_text("h1") == "Tide pools of the north shore"
            assert page.inner_text("#text") == ("Anemones close when the water leaves — and "
                                                 "open again at high tide.")

            pool = page.evaluate(IMAGE_STATE, "pool")
            assert pool["complete"] and (pool["width"], pool["height"]) == PNG_SIZE, pool
            assert close(pool["pixels"]["top_left"], BLUE), pool
            assert close(pool["pixels"]["bottom_right"], YELLOW), pool
            crab = page.evaluate(IMAGE_STATE, "crab")
            assert crab["complete"] and (crab["width"], crab["height"]) == GIF_SIZE, crab
            assert close(crab["pixels"]["top_left"], RED), crab
            assert close(crab["pixels"]["bottom_right"], GREEN), crab

            # every file came from B's proxy, as the type it is, with the site's headers
            got = {r.url.removeprefix(origin(address, port)): r for r in responses}
            assert set(got) == {"/", "/img/pool.png", "/img/crab.gif"}, list(got)
            assert got["/img/pool.png"].headers["content-type"] == "image/png"
            assert got["/img/crab.gif"].headers["content-type"] == "image/gif"
            for r in got.values():
                assert r.status == 200 and r.headers["x-content-type-options"] == "nosniff"
                assert r.headers["cross-origin-resource-policy"] == "same-origin"


# ---------------------------------------------------------------------- isolation

SECRET = "b-secret-7f3a9c"
DOC_MARK = "B-DOCUMENT-RENDERED"

VICTIM = """<!doctype html><meta charset=utf-8><title>B</title><h1>%(mark)s</h1>
<script>
(async () => {
  const V = "%(secret)s", r = {};
  if (window.top !== window) {
    try { window.top.postMessage("b-ran-in-a-frame", "*"); } catch (e) {}
  }
  if (window.opener) {
    try { window.opener.postMessage("b-ran-in-a-popup", "*"); } catch (e) {}
  }
  try {
    localStorage.setItem("secret", V);
    sessionStorage.setItem("secret", V);
    document.cookie = "secret=" + V + "; path=/; SameSite=Lax; max-age=600";
    // a cookie for the parent domain every site shares: the browser must refuse it
    document.cookie = "wide=" + V + "; path=/; domain=localhost; max-age=600";
    const db = await new Promise((ok, bad) => {
      const open = indexedDB.open("vault", 1);
      open.onupgradeneeded = () => open.result.createObjectStore("kv");
      open.onsuccess = () => ok(open.result);
      open.onerror = () => bad(open.error);
    });
    await new Promise((ok, bad) => {
      const tx = db.transaction("kv", "readwrite");
      tx.objectStore("kv").put(V, "secret");
      tx.oncomplete = ok; tx.onerror = () => bad(tx.error);
    });
    r.idb = await new Promise((ok, bad) => {
      const get = db.transaction("kv").objectStore("kv").get("secret");
      get.onsuccess = () => ok(get.result); get.onerror = () => bad(get.error);
    });
    db.close();
    const cache = await caches.open("vault");
    await cache.put("/cached", new Response(V));
    r.cache = await (await cache.match("/cached")).text();
    r.local = localStorage.getItem("secret");
    r.session = sessionStorage.getItem("secret");
    r.cookie = document.cookie;
  } catch (e) {
    r.error = String(e);
  }
  window.results = r;
})();
</script>
"""

PROBES = """
const params = new URLSearchParams(location.hash.slice(1));
const B = params.get("b"), LOOP = params.get("loop");
const results = {}, violations = [], messages = [];
document.addEventListener("securitypolicyviolation", (e) => violations.push(
  {directive: e.effectiveDirective, blocked: e.blockedURI}));
window.addEventListener("message", (e) => messages.push(String(e.data)));
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const within = (p, ms = 5000) => Promise.race([p, sleep(ms).then(() => "timeout")]);
const outcome = (p) => within(p.then((v) => "ok: " + v, (e) => "error: " + e));

function image(src) {
  return new Promise((ok) => {
    const img = new Image();
    img.onload = () => ok("loaded " + img.naturalWidth + "x" + img.naturalHeight);
    img.onerror = () => ok("error");
    img.src = src;
  });
}
function xhr(url) {
  return new Promise((ok) => {
    const req = new XMLHttpRequest();
    req.withCredentials = true;
    req.onload = () => ok("ok: " + req.status + " " + req.responseText);
    req.onerror = () => ok("error");
    try { req.open("GET", url); req.send(); } catch (e) { ok("error: " + e); }
  });
}
function frame(src) {
  return new Promise((ok) => {
    const f = document.createElement("iframe");
    let done = false;
    const report = () => {
      if (done) return;
      done = true;
      let doc;
      try {
        const d = f.contentDocument || f.contentWindow.document;
        doc = d ? "readable: " + (d.body ? d.body.innerText : "") : "null";
      } catch (e) { doc = "throws: " + e.name; }
      ok(doc);
    };
    f.onload = () => setTimeout(report, 300);
    setTimeout(report, 5000);
    f.src = src;
    document.body.appendChild(f);
  });
}
"""

ATTACKER = """<!doctype html><meta charset=utf-8><title>A</title><h1>A's page</h1>
<script>
%(probes)s
(async () => {
  // what B left in the browser, seen from A's origin
  results.cookie = document.cookie;
  results.local = String(localStorage.getItem("secret"));
  results.local_keys = Object.keys(localStorage).join(",");
  results.session = String(sessionStorage.getItem("secret"));
  results.idb_names = (await indexedDB.databases()).map((d) => d.name).join(",");
  results.cache = String(await caches.has("vault"));

  // controls: A's own origin works for every kind of request below
  results.own_fetch = await outcome(fetch("/own.txt").then((r) => r.text()));
  results.own_xhr = await xhr("/own.txt");
  results.own_image = await image("/own.png");
  results.own_frame = await frame("/frame.html");

  // B's origin and the proxy's own loopback origin
  results.fetch_cors = await outcome(fetch(B + "/secret.txt",
    {credentials: "include", mode: "cors"}).then((r) => r.type + " " + r.status)) ;
  results.fetch_no_cors = await outcome(fetch(B + "/secret.txt",
    {credentials: "include", mode: "no-cors"}).then((r) => r.type + " " + r.status));
  results.xhr = await xhr(B + "/secret.txt");
  results.frame = await frame(B + "/");
  results.image = await image(B + "/pic.png");
  results.loop_image = await image(LOOP + "/");
  results.loop_fetch = await outcome(fetch(LOOP + "/").then((r) => r.type + " " + r.status));
  results.loop_fetch_no_cors = await outcome(fetch(LOOP + "/", {mode: "no-cors"})
    .then((r) => r.type + " " + r.status));
  await sleep(500);
  results.violations = violations;
  results.messages = messages;
  window.results = results;
})();
</script>
"""

FOREIGN = """<!doctype html><meta charset=utf-8><title>foreign</title><h1>another local app</h1>
<script>
%(probes)s
(async () => {
  // a page on another loopback port with no CSP of its own: only B's headers protect B
  results.fetch_cors = await outcome(fetch(B + "/secret.txt",
    {credentials: "include", mode: "cors"}).then((r) => r.type + " " + r.status));
  results.fetch_no_cors = await outcome(fetch(B + "/secret.txt",
    {credentials: "include", mode: "no-cors"}).then((r) => r.type + " " + r.status));
  results.xhr = await xhr(B + "/secret.txt");
  results.image = await image(B + "/pic.png");
  results.frame = await frame(B + "/");
  results.loop_fetch = await outcome(fetch(LOOP + "/").then((r) => r.type + " " + r.status));
  results.loop_image = await image(LOOP + "/");
  const popup = window.open(B + "/", "_blank");
  for (let i = 0; i < 50 && popup !== null && !popup.closed; i++) await sleep(100);
  results.popup_closed = String(popup === null || popup.closed);
  let popup_doc;
  try { popup_doc = String(popup.document.body.innerText); }
  catch (e) { popup_doc = "throws: " + e.name; }
  results.popup_doc = popup_doc;
  results.messages = messages;
  results.violations = violations;
  window.results = results;
})();
</script>
"""


@contextlib.contextmanager
def foreign_server(page_html: str) -> Iterator[str]:
    """Another web app on 127.0.0.1 (its own port, no CSP): the same page for every path."""
    body = page_html.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def failed(outcome: str) -> bool:
    return outcome in ("error", "timeout") or outcome.startswith("error: ")


def test_sites_are_isolated_from_each_other(tmp_path: Path) -> None:
    with joined([site_engine(tmp_path / "e")]) as (engine,):
        a_src = write_site(tmp_path / "site-a", {
            "index.html": ATTACKER.replace("%(probes)s", PROBES).encode(),
            "own.txt": b"A's own file",
            "own.png": png(5, 4, top=BLUE, bottom=BLUE),
            "frame.html": b"<!doctype html><p>A's own frame</p>"})
        b_src = write_site(tmp_path / "site-b", {
            "index.html": (VICTIM % {"mark": DOC_MARK, "secret": SECRET}).encode(),
            "secret.txt": SECRET.encode(),
            "pic.png": png(6, 6, top=RED, bottom=RED)})
        a_addr, b_addr = publish(engine, "a", a_src), publish(engine, "b", b_src)
        port = engine.snapshot.web.port
        a_origin, b_origin = origin(a_addr, port), origin(b_addr, port)
        loop = f"http://127.0.0.1:{port}"
        b_host, loop_host = b_origin.removeprefix("http://"), loop.removeprefix("http://")

        with chromium(tmp_path / "profile") as browser:
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))

            # control: B stores its secret everywhere a page can, and reads it back
            page.goto(b_origin + "/")
            own = wait_results(page)
            assert own == {"idb": SECRET, "cache": SECRET, "local": SECRET, "session": SECRET,
                           "cookie": f"secret={SECRET}"}, (
                f"B could not use its own storage (or the domain=localhost cookie was "
                f"accepted): {own}")
            cookies = browser.cookies()
            assert [(c["name"], c["domain"]) for c in cookies] == [
                ("secret", b_host.split(":")[0])], cookies

            # A, in the same tab after B: every way to B, and to the proxy's own pages
            responses: list[str] = []
            page.on("response", lambda r: responses.append(r.url))
            page.goto(f"{a_origin}/#" + "&".join([f"b={b_origin}", f"loop={loop}"]))
            got = wait_results(page)
            report = json.dumps(got, indent=1) + "\nconsole:\n" + "\n".join(console)

            # the controls: the page and each kind of request work within A's origin
            assert got["own_fetch"] == "ok: A's own file", report
            assert got["own_xhr"] == "ok: 200 A's own file", report
            assert got["own_image"] == "loaded 5x4", report
            assert got["own_frame"] == "readable: A's own frame", report

            # nothing B stored is visible to A
            for key in ("cookie", "local", "local_keys", "session", "idb_names", "cache"):
                assert SECRET not in got[key], (key, report)
            assert got["cookie"] == "" and got["local"] == "null", report
            assert got["session"] == "null" and got["cache"] == "false", report
            assert "vault" not in got["idb_names"].split(","), report

            # nothing reaches B or the proxy's loopback origin
            for key in ("fetch_cors", "fetch_no_cors", "xhr", "image", "loop_image",
                        "loop_fetch", "loop_fetch_no_cors"):
                assert failed(got[key]), (key, report)
            assert not got["frame"].startswith("readable"), report
            assert got["messages"] == [], report
            blocked = {(v["directive"], v["blocked"].split("/")[2]) for v in got["violations"]}
            assert {("connect-src", b_host), ("frame-src", b_host), ("img-src", b_host),
                    ("img-src", loop_host), ("connect-src", loop_host)} <= blocked, report
            hits = [u for u in responses if b_host in u or loop_host in u]
            assert hits == [], (hits, report)
            for f in page.frames:
                if f is not page.main_frame:
                    assert DOC_MARK not in f.content(), report

            # another local app with no CSP: B's own headers keep it out
            with foreign_server(FOREIGN.replace("%(probes)s", PROBES)) as foreign:
                console.clear()
                page.goto(f"{foreign}/#" + "&".join([f"b={b_origin}", f"loop={loop}"]))
                seen = wait_results(page)
                report = json.dumps(seen, indent=1) + "\nconsole:\n" + "\n".join(console)
                for key in ("fetch_cors", "fetch_no_cors", "xhr", "image", "loop_fetch",
                            "loop_image"):
                    assert failed(seen[key]), (key, report)
                # and for the reasons B's headers give (Chromium's own words)
                said = "\n".join(console)
                assert "No 'Access-Control-Allow-Origin' header" in said, report  # cors
                assert "ERR_BLOCKED_BY_RESPONSE.NotSameOrigin" in said, report  # CORP
                assert "frame-ancestors 'self'" in said, report
                assert not seen["frame"].startswith("readable"), report
                assert seen["messages"] == [], report
                assert seen["popup_closed"] == "true", report
                assert seen["popup_doc"].startswith("throws"), report
                for f in page.frames:
                    if f is not page.main_frame:
                        assert DOC_MARK not in f.content(), report
