"""Engines that run sites on a private DHT on 127.0.0.1."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.conftest import LOOPBACK, merge
from tidegate.engine.config import LoadedConfig, from_dict
from tidegate.engine.node import Node
from tidegate.engine.paths import resolve_paths
from tidegate.engine.state import SiteState, Snapshot

_names = itertools.count()


def site_engine(home: Path, **sections: dict[str, Any]) -> Node:
    """An unstarted engine with sites on, its DHT private to 127.0.0.1, its own bus."""
    n = next(_names)
    base = merge(LOOPBACK, {
        "network": {"enable_dht": True, "dht_private_network": True,
                    "dht_bootstrap_nodes": []},
        "bus": {"hosting_endpoint": f"inproc://tg-hosting-{n}",
                "blockchain_endpoint": f"inproc://tg-blockchain-{n}"},
        "sites": {"poll_interval": 1.0, "announce_interval": 30.0, "fetch_timeout": 60.0,
                  "link_listen": "127.0.0.1"},
    })
    cfg = from_dict(merge(base, sections))
    paths = resolve_paths({"TIDEGATE_HOME": str(home)})
    return Node(LoadedConfig(cfg, paths, frozenset(), False))


def join_dht(engines: list[Node]) -> None:
    """Every engine adds every other as a DHT node (a private DHT has no bootstrap)."""
    ports = [e.wait_for(lambda s: s.stats.listen_port > 0, 10).stats.listen_port
             for e in engines]
    for e in engines:
        for other, port in zip(engines, ports, strict=True):
            if other is not e:
                e.add_dht_node("127.0.0.1", port).result(5)


@contextlib.contextmanager
def joined(engines: list[Node]) -> Iterator[list[Node]]:
    """Start ``engines``, join them in one private DHT; stop every one that still runs."""
    started: list[Node] = []
    try:
        for e in engines:
            started.append(e.start())
        join_dht(engines)
        yield engines
    finally:
        for e in started:
            if e.running:
                e.stop()


def wait_site(engine: Node, address: str, ok: Callable[[SiteState], bool],
              timeout: float) -> SiteState:
    def pred(s: Snapshot) -> bool:
        site = s.sites.get(address)
        return site is not None and ok(site)
    return engine.wait_for(pred, timeout).sites[address]


def write_site(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def onion_owner(net: Any, home: Path, source: Path, upload_timeout: float) -> tuple[Node, str]:
    """A started engine whose managed tor joins ``net`` (a tests.helpers.tornet.TorNet), with
    ``source`` published as site "blog" and its onion descriptor uploaded; stopped again if
    any step fails."""
    join = {k: v for k, v in net.client_torrc(home / "unused").items()
            if k not in ("DataDirectory", "PidFile", "Log")}
    owner = site_engine(home, tor={"mode": "tor-hosting", "torrc": join,
                                   "timeout": 60.0}).start()
    try:
        address = owner.site_new("blog", str(source)).result(30).address
        owner.site_publish("blog").result(60)
        wait_site(owner, address, lambda s: s.hosting.seq == 1, 30)
        owner.site_onion("blog", True).result(10)

        def uploaded(s: Snapshot) -> bool:
            o = s.tor.onions.get(address)
            return o is not None and o.state == "uploaded"
        try:
            owner.wait_for(uploaded, upload_timeout)
        except Exception as exc:
            raise AssertionError(f"descriptor never uploaded: {owner.snapshot.tor}\n"
                                 f"{net.log_tails()}") from exc
    except BaseException:
        owner.stop()
        raise
    return owner, address
