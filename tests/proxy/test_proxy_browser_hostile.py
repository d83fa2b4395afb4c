"""A hosted site's page in a real browser (Debian's headless Chromium) against the Smart
Proxy that serves it: what its scripts may try, and what the proxy does about it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers.sites_util import joined, site_engine, write_site
from tests.proxy.test_proxy_browser import chromium, origin, publish, wait_results

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


NAVIGATOR = """<!doctype html><meta charset=utf-8><title>nav</title>
<a id=link href="%(target)s/from-link">a link to another site</a>
<button id=script onclick="location.href = '%(target)s/from-script'">a button</button>
<button id=open onclick="window.open('%(target)s/from-window-open')">a popup</button>
"""


def test_a_click_on_a_site_page_does_not_make_the_node_follow_another_site(
        tmp_path: Path) -> None:
    """A click gives the page a user activation; a script that navigates during it sends
    the same headers as a link the user chose (``Sec-Fetch-User: ?1``). Neither may make
    the node follow (download and seed) a site the page names."""
    from tidegate.engine.chain.keys import SiteKey

    with joined([site_engine(tmp_path / "e")]) as (engine,):
        assert engine.proxy is not None and engine.proxy.visitor is not None
        port = engine.wait_for(lambda s: s.web.port > 0, 10).web.port
        other = SiteKey.generate().address
        target = origin(other, port)
        address = publish(engine, "nav", write_site(tmp_path / "src", {
            "index.html": (NAVIGATOR % {"target": target}).encode()}))
        visitor = engine.proxy.visitor
        visitor.timeout = 2.0  # a follow would wait this long, then say 504
        with chromium(tmp_path / "profile") as browser:
            page = browser.new_page()
            outcomes: dict[str, tuple[object, ...]] = {}
            for control in ("#link", "#script", "#open"):  # (a form: CSP form-action)
                page.goto(origin(address, port) + "/")
                if control == "#open":
                    with page.expect_popup() as popup_info:
                        page.click(control)
                    popup = popup_info.value
                    popup.wait_for_load_state()
                    outcomes[control] = (popup.url, popup.inner_text("h1"))
                    popup.close()
                    continue
                with page.expect_navigation() as nav:
                    page.click(control)
                response = nav.value
                assert response is not None, control
                outcomes[control] = (response.url, response.status, page.inner_text("h1"))
        for control, outcome in outcomes.items():
            assert str(outcome[0]).startswith(target + "/from-"), (control, outcome)
            assert outcome[-1] in ("Not found", "Not followed here"), (control, outcome)
            if len(outcome) == 3:
                assert outcome[1] in (403, 404), (control, outcome)
        assert visitor.requested == 0, outcomes
        time.sleep(0.5)
        assert other not in engine.snapshot.sites, outcomes
