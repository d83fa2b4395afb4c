"""A home holding many small seeding torrents, restored by the next engine or daemon."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import build_engine
from tests.helpers.daemon_util import short_home
from tidegate.engine import AddRequest
from tidegate.engine.torrents.create import Created, CreateSpec, create_torrent

Expected = dict[str, tuple[bool, str, list[str]]]
"""id -> (paused, category, tags)."""


def seeding_home(n: int, paused_every: int = 0, category_every: int = 0,
                 ) -> tuple[Path, Expected, dict[str, Created]]:
    """``n`` one-file torrents of 600 random bytes, added with ``seed_mode`` by an engine
    that is then stopped; every ``paused_every``-th paused and every ``category_every``-th
    (from the second) in category ``cat-a`` with tag ``t1``. Returns the home (a short
    folder under /tmp: the caller removes it), what each torrent is, and how each was
    made."""
    home = short_home()
    payload = home / "payload"
    payload.mkdir()
    made = []
    for i in range(n):
        f = payload / f"f{i:05d}.dat"
        f.write_bytes(os.urandom(600))
        made.append(create_torrent(CreateSpec(path=str(f), format="v1")))
    engine = build_engine(home).start()
    expected: Expected = {}
    by_id: dict[str, Created] = {}
    try:
        if category_every:
            engine.category_add("cat-a").result(10)
        futures = []
        for i, c in enumerate(made):
            paused = bool(paused_every) and i % paused_every == 0
            cat, tags = ("cat-a", ["t1"]) if category_every and i % category_every == 1 \
                else ("", [])
            futures.append((paused, cat, tags, c, engine.add(AddRequest(
                torrent=c.data, save_path=c.save_path, seed_mode=True, paused=paused,
                category=cat, tags=tuple(tags)))))
        for paused, cat, tags, c, fut in futures:
            tid = fut.result(120)
            expected[tid] = (paused, cat, tags)
            by_id[tid] = c
    finally:
        engine.stop(timeout=120)
    return home, expected, by_id
