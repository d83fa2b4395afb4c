"""Owner gone: followers' re-puts keep a site resolvable over several DHT item lifetimes.

A DHT of ``--nodes`` storage nodes on 127.0.0.1 whose items expire ``--lifetime`` seconds
after their last put (``tests/helpers/dht_nodes.py``: libtorrent keeps items at least 2 h
whatever ``dht_item_lifetime`` says). An owner publishes a site, two followers fetch it
(``reput_interval = --reput``), the owner stops; after ``--periods`` lifetimes a new
node follows the address. Prints, per round: how many DHT nodes still hold the head, the
time from ``site follow`` to the head found and to the site hosted (files checked). With
``--reput 0`` it shows the control: nothing holds the head, the new node says not found.

    python bench/owner_gone.py                       # lifetime 8 s, 6 periods, 3 rounds
    python bench/owner_gone.py --reput 0 --rounds 1  # the control
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.dht_nodes import ExpiringDht  # noqa: E402
from tests.helpers.sites_util import site_engine, wait_site, write_site  # noqa: E402
from tidegate.engine.chain.address import key_of_address  # noqa: E402
from tidegate.engine.chain.bep44 import target  # noqa: E402
from tidegate.engine.sites.head import SALT  # noqa: E402

FILES = {"index.html": b"<h1>kept</h1>\n" * 200, "a/b.txt": b"still here\n" * 5000}


def one_round(home: Path, args: argparse.Namespace) -> dict[str, float]:
    dht = ExpiringDht(args.nodes, args.lifetime)
    nodes = [f"127.0.0.1:{p}" for p in dht.ports]

    def engine(name: str, reput: float):  # type: ignore[no-untyped-def]
        return site_engine(home / name, network={"dht_read_only": True, "dht_nodes": nodes},
                           sites={"reput_interval": reput, "announce_interval": 30.0})
    running = []
    try:
        source = write_site(home / "src", FILES)
        owner = engine("owner", 0).start()
        running.append(owner)
        followers = [engine(f"f{i}", args.reput).start() for i in (1, 2)]
        running += followers
        address = owner.site_new("blog", str(source)).result(30).address
        owner.site_publish("blog").result(60)
        for f in followers:
            f.site_follow(address).result(10)
        for f in followers:
            wait_site(f, address, lambda s: s.hosting.seq == 1, 90)
        owner.stop()
        time.sleep(args.periods * args.lifetime)
        held = dht.held(target(key_of_address(address), SALT))
        fresh = engine("fresh", args.reput).start()
        running.append(fresh)
        t0 = time.monotonic()
        fresh.site_follow(address).result(10)
        out = {"held": float(held), "found": -1.0, "hosted": -1.0}
        try:
            wait_site(fresh, address, lambda s: s.height == 1, args.wait)
            out["found"] = time.monotonic() - t0
            wait_site(fresh, address, lambda s: s.hosting.seq == 1, 90)
            out["hosted"] = time.monotonic() - t0
            site = fresh.loaded.paths.data_dir / "sites" / address / "snapshots" / "1" / "site"
            assert all((site / n).read_bytes() == d for n, d in FILES.items())
        except TimeoutError:
            out["error"] = fresh.snapshot.sites[address].error  # type: ignore[assignment]
        return out
    finally:
        for e in running:
            if e.running:
                e.stop()
        dht.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=6)
    p.add_argument("--lifetime", type=float, default=8.0)
    p.add_argument("--periods", type=float, default=6.0)
    p.add_argument("--reput", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--wait", type=float, default=20.0, help="seconds the new node may look")
    args = p.parse_args()
    results = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            res = one_round(Path(tmp), args)
        results.append(res)
        print(f"round {r + 1}: owner gone {args.periods:g} x {args.lifetime:g} s; {res}")
    found = [r["found"] for r in results if r["found"] >= 0]
    hosted = [r["hosted"] for r in results if r["hosted"] >= 0]
    print(f"found in {len(found)}/{len(results)} rounds"
          + (f"; median head found {statistics.median(found):.2f} s, hosted "
             f"{statistics.median(hosted):.2f} s after follow" if found else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
