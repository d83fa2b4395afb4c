"""Idle wake-ups per thread of a daemon holding N seeding torrents, by Python thread name.

``session_scale.py`` measures a ``tidegate daemon`` from outside, where every thread is
called ``python``. This runs the same daemon (``engine.daemon.Daemon``, the loopback config
with web and sites off, as session_scale writes it) in this process, so each thread's
voluntary context switches (/proc/self/task/TID/status: sleeps that ended, i.e. wake-ups)
can be named by ``threading``; threads Python did not start (libtorrent's, libzmq's) are
``native``. Optionally a RemoteEngine stays attached (``--attached``) to show the rate while
someone watches.

    python bench/idle_threads.py --torrents 100 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from session_scale import TIDEGATE_EXTRA, make_torrents, thread_cpu_ns, thread_switches


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--torrents", type=int, default=100)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--settle", type=float, default=5.0)
    p.add_argument("--attached", action="store_true", help="keep a RemoteEngine attached")
    p.add_argument("--toml", default="", help="more config text (e.g. '[engine]\\n"
                                             "tick_interval_ms = 500')")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tidegate-idle-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        from tidegate.engine.config import loopback_toml

        (home / "config.toml").write_text(loopback_toml() + TIDEGATE_EXTRA
                                        + args.toml.replace("\\n", "\n") + "\n")
        os.environ["TIDEGATE_HOME"] = str(home)
        from tidegate.engine import commands as cmds
        from tidegate.engine.api import RemoteEngine
        from tidegate.engine.config import load
        from tidegate.engine.daemon import Daemon
        from tidegate.engine.requests import AddRequest

        data = Path(tmp) / "data"
        torrents = make_torrents(data, args.torrents, 1024)
        daemon = Daemon(load()).start()
        client = None
        try:
            node = daemon.engine
            assert node is not None
            for t in torrents:
                node.run(cmds.Add(AddRequest(torrent=t, save_path=str(data),
                                             seed_mode=True))).result(60)
            node.wait_for(lambda s: len(s.torrents) == args.torrents and all(
                t.phase == "seeding" for t in s.torrents.values()), 120)
            if args.attached:
                assert daemon.server is not None
                client = RemoteEngine(daemon.server.bound_endpoint, timeout=30).start(30)
            time.sleep(args.settle)
            names = {t.native_id: t.name for t in threading.enumerate()}
            me = threading.get_native_id()
            pid = os.getpid()
            w0 = thread_switches(pid)
            n0 = thread_cpu_ns(pid)
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
            time.sleep(args.seconds)
            dt = time.monotonic() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            w1 = thread_switches(pid)
            n1 = thread_cpu_ns(pid)
            cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / dt
            rows = []
            for key, n in w1.items():
                tid = int(key.rsplit("/", 1)[1])
                if key in w0 and tid != me:
                    ran = (n1.get(str(tid), 0) - n0.get(str(tid), 0)) / 1e6 / dt
                    rows.append(((n - w0[key]) / dt, ran, names.get(tid, "native")))
            rows.sort(reverse=True)
            ran_all = sum(r for _w, r, _n in rows) / 10  # ms/s -> % of a core
            print(f"{args.torrents} torrents, {'attached' if args.attached else 'no client'}, "
                  f"{dt:.1f} s: CPU {cpu * 100:.2f} % of a core (rusage, 10 ms ticks), "
                  f"{ran_all:.3f} % (schedstat, threads but this one), wake-ups/s "
                  f"{sum(w for w, _r, _n in rows):.1f}")
            for rate, ran, name in rows:
                if rate > 0 or ran > 0:
                    print(f"  {rate:6.1f}/s  {ran * 1000:8.1f} us/s  {name}")
            counters = getattr(node.engine, "loop_counters", None)
            if counters is not None:
                print(f"  engine loop counters at the end: {counters()}")
        finally:
            if client is not None:
                client.stop()
            daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
