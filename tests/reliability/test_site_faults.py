"""A fault in one site's work stays with that site: the others are fetched, hosted and
served, and the engine goes on (issue 20, docs/RELIABILITY.md "Fault isolation")."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.helpers.sites_util import joined, site_engine, wait_site, write_site


def test_a_fault_in_one_site_is_that_sites_error(tmp_path: Path) -> None:
    # links off: the fault is in the DHT poll, the one way the follower learns of a head
    # here (a push would bring the head around it: tests/sites/test_site_push.py)
    no_links = {"links": False}
    with joined([site_engine(tmp_path / n, sites=no_links) for n in "ab"]) as (owner,
                                                                              follower):
        addresses = []
        for name in ("one", "two"):
            src = write_site(tmp_path / f"src-{name}", {"index.html": name.encode() * 1000})
            address = owner.site_new(name, str(src)).result(30).address
            owner.site_publish(address).result(120)
            addresses.append(address)
        bad, good = addresses

        service = follower.sites
        assert service is not None
        handler, hosting = service.handler, service.hosting
        poll, host_tick = handler._poll, hosting._tick_site
        calls = {"poll": 0, "host": 0}

        def faulty_poll(rec: Any) -> None:
            if rec.address == bad:
                calls["poll"] += 1
                raise RuntimeError("injected fault in poll")
            poll(rec)

        def faulty_host_tick(address: str, *args: Any) -> None:
            if address == bad:
                calls["host"] += 1
                raise KeyError("injected fault in hosting")
            host_tick(address, *args)

        handler._poll = faulty_poll  # type: ignore[method-assign]
        for address in addresses:
            follower.site_follow(address).result(30)
        # the good site is fetched, verified and hosted while the bad one keeps failing
        got = wait_site(follower, good, lambda s: s.hosting.seq == 1, 90)
        assert got.error == "" and got.hosting.error == ""
        broken = wait_site(follower, bad, lambda s: "injected" in s.error, 30)
        assert broken.error.startswith("internal error: RuntimeError: injected fault in poll (")
        assert broken.height == -1 and broken.hosting.seq == -1
        # not at every tick (0.5 s): at the next poll (1 s here)
        before = calls["poll"]
        time.sleep(3)
        assert 1 <= calls["poll"] - before <= 4
        assert follower.running

        # the fault goes away: the site recovers with no restart
        handler._poll = poll  # type: ignore[method-assign]
        fixed = wait_site(follower, bad, lambda s: s.hosting.seq == 1, 90)
        assert fixed.height == 1 and fixed.error == ""

        # a fault in the hosting of one site: its hosting error, the other site untouched
        hosting._tick_site = faulty_host_tick  # type: ignore[method-assign]
        broken = wait_site(follower, bad, lambda s: "injected" in s.hosting.error, 30)
        assert broken.hosting.error.startswith("internal error: KeyError: 'injected fault")
        assert follower.snapshot.sites[good].hosting.error == ""
        hosting._tick_site = host_tick  # type: ignore[method-assign]
        wait_site(follower, bad, lambda s: s.hosting.error == "" and s.hosting.seq == 1, 30)
        assert calls["host"] >= 1 and follower.running
        # commands still answer
        assert {s.address for s in follower.site_list().result(10)} == set(addresses)
