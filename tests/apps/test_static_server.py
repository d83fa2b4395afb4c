"""examples/static_server.py as a real program: a ``tidegate daemon`` subprocess holds
an owned site, the example (another subprocess, using only AppClient) leases ``/browse/``
and a headless Chromium browses it: the directory index lists the files, a file opens,
a Range request gets 206 with the right bytes, and a publish reaches its index."""

from __future__ import annotations

import hashlib
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.daemon_util import ROOT, TIDEGATE, DaemonProc, env_for, short_home
from tests.proxy.test_proxy_browser import chromium, origin
from tidegate.engine.apps.client import AppClient
from tidegate.engine.commands import SiteNew

EXAMPLE = ROOT / "examples" / "static_server.py"
BIG = bytes(range(256)) * 4096 * 2  # 2 MiB: more than one site_read per response
START_BOUND = 30.0
FETCH = """async ([path, range]) => {
  const r = await fetch(path, range ? {headers: {Range: range}} : {});
  const body = await r.arrayBuffer();
  const digest = await crypto.subtle.digest("SHA-256", body);
  const hex = Array.from(new Uint8Array(digest), b => b.toString(16).padStart(2, "0"));
  return {status: r.status, range: r.headers.get("content-range"),
          type: r.headers.get("content-type"), sha256: hex.join("")};
}"""


def _line(p: subprocess.Popen[str], timeout: float) -> str:
    assert p.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        if sel.select(timeout):
            return p.stdout.readline()
        return ""
    finally:
        sel.close()


def test_the_static_server_example_in_chromium(daemons: list[DaemonProc],
                                               tmp_path: Path) -> None:
    home = short_home()
    d = DaemonProc(home).start()
    daemons.append(d)
    source = tmp_path / "src"
    (source / "docs" / "deep").mkdir(parents=True)
    (source / "index.html").write_bytes(b"<h1>home</h1>")
    (source / "docs" / "a <b>&.txt").write_bytes(b"escaped name")
    (source / "docs" / "deep" / "big.bin").write_bytes(BIG)
    with AppClient(d.client()) as app:
        address = app.engine.run(SiteNew("ex", str(source))).result(30).address
        app.publish(address)
        snap = app.engine.wait_for(lambda s: address in s.sites and
                                   s.sites[address].hosting.seq == 1 and s.web.port > 0, 60)
        port = snap.web.port
        site = origin(address, port)

        p = subprocess.Popen([sys.executable, str(EXAMPLE), address, "--prefix", "/browse/",
                              "--connect", d.endpoint], env=env_for(home), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = _line(p, START_BOUND)
            assert line.startswith("serving "), (line, p.poll())
            app.engine.wait_for(lambda s: bool(s.sites[address].handlers), 10)
            ls = subprocess.run([*TIDEGATE, "site", "ls"], env=env_for(home), text=True,
                                capture_output=True, timeout=60)
            assert ls.returncode == 0, ls.stderr
            assert "ex: handler /browse/ -> http://127.0.0.1:" in ls.stdout, ls.stdout
            with chromium(tmp_path / "profile") as browser:
                page = browser.new_page()
                root = page.goto(site + "/browse/", wait_until="load")
                assert root is not None and root.status == 200
                assert root.headers["tidegate-content"] == "dynamic; program"
                assert page.locator("li.dir a").all_inner_texts() == ["docs/"]
                assert page.locator("li.file a").all_inner_texts() == ["index.html"]

                page.click("text=docs/")
                page.wait_for_url(site + "/browse/docs/")
                assert page.locator("li.dir a").all_inner_texts() == ["deep/"]
                # a name with markup in it is text, never markup
                assert page.locator("li.file a").all_inner_texts() == ["a <b>&.txt"]
                assert page.locator("b").count() == 0
                with page.expect_navigation():
                    page.click("li.file a")
                assert page.inner_text("body") == "escaped name"

                # Chromium's own fetch (a script of the site's page), whole and ranged
                whole = page.evaluate(FETCH, ["/browse/docs/deep/big.bin", ""])
                assert whole["status"] == 200 and whole["type"] == "application/octet-stream"
                assert whole["sha256"] == hashlib.sha256(BIG).hexdigest()
                ranged = page.evaluate(FETCH, ["/browse/docs/deep/big.bin",
                                               "bytes=1500000-1500099"])
                assert ranged["status"] == 206
                assert ranged["range"] == f"bytes 1500000-1500099/{len(BIG)}"
                assert ranged["sha256"] == hashlib.sha256(BIG[1_500_000:1_500_100]).hexdigest()
                tail = page.evaluate(FETCH, ["/browse/docs/deep/big.bin", "bytes=-10"])
                assert tail["status"] == 206
                assert tail["sha256"] == hashlib.sha256(BIG[-10:]).hexdigest()
                past = page.evaluate(FETCH, ["/browse/docs/deep/big.bin",
                                             f"bytes={len(BIG)}-"])
                assert past["status"] == 416

                # a publish reaches the program (its watch) and so the index
                app.write(address, "docs/new.txt", b"new")
                app.publish(address)
                deadline = time.monotonic() + 30
                names: list[str] = []
                while time.monotonic() < deadline:
                    page.goto(site + "/browse/docs/")
                    names = page.locator("li.file a").all_inner_texts()
                    if "new.txt" in names:
                        break
                    time.sleep(0.3)
                assert names == ["a <b>&.txt", "new.txt"]
        finally:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
            rc = p.wait(20)
            err = p.stderr.read() if p.stderr else ""
            if p.stdout:
                p.stdout.close()
            if p.stderr:
                p.stderr.close()
        assert rc == 0, err
        # its lease ended with it
        app.engine.wait_for(lambda s: s.sites[address].handlers == (), 10)
