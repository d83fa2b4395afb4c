"""A hosted site's page in a real browser (Debian's headless Chromium) against the Smart
Proxy that serves it: what its scripts may try, and what the proxy does about it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .sites_util import joined, site_engine, write_site
from .test_proxy_browser import chromium, origin, publish, wait_results

SOCKETS = 60

WEBSOCKETS = """<!doctype html><meta charset=utf-8><title>ws</title><h1>sockets</h1>
<script>
(async () => {
  const opened = [];
  const codes = await Promise.all(Array.from({length: %(n)d}, (_, i) =>
    new Promise((resolve) => {
      let ws;
      try { ws = new WebSocket("ws://" + location.host + "/live?" + i); }
      catch (e) { resolve("threw " + e); return; }
      ws.onopen = () => { opened.push(i); ws.close(); };
      ws.onclose = (e) => resolve(e.code);
    })));
  const r = await fetch("/data.txt");
  window.results = {opened, codes, fetch: r.status + " " + await r.text()};
})();
</script>
"""


def test_websockets_from_a_page_are_refused_and_the_proxy_keeps_serving(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with joined([site_engine(tmp_path / "e")]) as (engine,):
        source = write_site(tmp_path / "src", {
            "index.html": (WEBSOCKETS % {"n": SOCKETS}).encode(),
            "data.txt": b"still here"})
        address = publish(engine, "ws", source)
        port = engine.snapshot.web.port
        capfd.readouterr()
        with chromium(tmp_path / "profile") as browser:
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.goto(origin(address, port) + "/")
            try:
                got = wait_results(page, 60_000)
            except Exception:
                raise AssertionError(console[:10]) from None
        assert got["opened"] == [], got
        assert got["codes"] == [1006] * SOCKETS, got  # no handshake: "closed abnormally"
        assert got["fetch"] == "200 still here", got
        refusals = [m for m in console if "Unexpected response code: 501" in m]
        assert len(refusals) == SOCKETS, console[:5]
        assert engine.snapshot.web.refused >= SOCKETS or engine.wait_for(
            lambda s: s.web.refused >= SOCKETS, 5)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "HttpParserUpgrade" not in err, err[-3000:]
