"""RSS fetches leave the way the config says: through tor's SOCKS port in tor-all mode,
through the configured proxy otherwise, and never straight to the host when either is
set (a proxy that cannot be used is the feed's error)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from tests.conftest import EngineFactory
from tests.helpers.socks_standin import SocksStandIn
from tidegate.engine.automation.rss_http import Route, RouteError, route
from tidegate.engine.automation.rss_rules import RssRule
from tidegate.engine.automation.rss_service import RssService
from tidegate.engine.config import ProxyConfig, TorConfig, from_dict

from .feed_server import ConnectProxy, FeedServer, rss

HOST = "feeds.tidegate-test.invalid"
"""A name only the SOCKS stand-in knows: fetching it directly fails."""


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def poll_once(engine: object, home: Path, url: str) -> tuple[RssService, object]:
    service = RssService(engine, home / "rss").start()  # type: ignore[arg-type]
    service.rule_set(RssRule(name="all"))
    service.feed_add(url)
    return service, service.refresh().result(60)


@pytest.mark.parametrize("how", ["tor-all", "socks5 proxy", "http proxy"])
def test_feeds_and_torrents_go_through_tor_or_the_proxy(
        tmp_path: Path, make_engine: EngineFactory, server: FeedServer, how: str) -> None:
    t1, _ = server.torrent(tmp_path, "Via.Proxy")
    named = t1.replace(f"127.0.0.1:{server.port}", HOST)
    server.serve("/f", rss([("Via Proxy", "v1", named)]))
    url = f"http://{HOST}/f"
    target = ("127.0.0.1", server.port)
    route = lambda host, port: target if host == HOST else None  # noqa: E731
    with SocksStandIn(route) as socks, ConnectProxy(route) as http:
        sections = ({"tor": {"mode": "tor-all", "socks": socks.endpoint}} if how == "tor-all"
                    else {"proxy": {"type": "socks5", "host": "127.0.0.1",
                                    "port": socks.port}} if how == "socks5 proxy"
                    else {"proxy": {"type": "http", "host": "127.0.0.1", "port": http.port}})
        engine = make_engine("e", **sections)
        service, state = poll_once(engine, tmp_path / "e", url)
        try:
            assert state.feeds[0].last_error == ""  # type: ignore[attr-defined]
            engine.wait_for(lambda s: len(s.torrents) == 1, 15)
            # both the feed and the .torrent went through the proxy, by name (no local DNS)
            asked = http.requests if how == "http proxy" else socks.requests
            assert asked.count((HOST, 80)) == 2
            assert server.asked == ["/f", "/t/Via.Proxy.torrent"]
        finally:
            service.stop()


def test_a_proxy_that_cannot_be_reached_is_the_feeds_error_and_nothing_goes_direct(
        tmp_path: Path, make_engine: EngineFactory, server: FeedServer) -> None:
    url = server.serve("/f", rss([]))
    engine = make_engine("e", proxy={"type": "socks5", "host": "127.0.0.1", "port": 1})
    service, state = poll_once(engine, tmp_path / "e", url)
    try:
        error = state.feeds[0].last_error  # type: ignore[attr-defined]
        assert error.startswith(url + ": cannot fetch"), error
        assert server.asked == []  # not fetched around the proxy
    finally:
        service.stop()


def test_the_route_follows_tor_all_then_the_proxy_and_refuses_an_unusable_proxy() -> None:
    # load.validate refuses a proxy without host or port; the route refuses it again
    cfg = from_dict({})
    assert route(cfg).kind == "direct"
    tor = msgspec.structs.replace(cfg, tor=TorConfig(mode="tor-all", socks="127.0.0.1:9999"),
                                  proxy=ProxyConfig(type="http", host="10.0.0.1", port=3128))
    assert (route(tor).kind, route(tor).port) == ("tor", 9999)  # tor-all wins
    http = msgspec.structs.replace(cfg, proxy=ProxyConfig(type="http", host="10.0.0.1",
                                                          port=3128, hostnames=False))
    assert route(http) == Route("http", "10.0.0.1", 3128, remote_dns=False)
    bad = msgspec.structs.replace(cfg, proxy=ProxyConfig(type="http"))
    with pytest.raises(RouteError, match="proxy.type is http but proxy.host or proxy.port "
                                         "is not set"):
        route(bad)
