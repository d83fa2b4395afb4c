"""Memory per torrent (issue 27): tidegate's own Python allocations stay small.

A real engine seeds 2,000 tiny torrents added with ``seed_mode``; ``tracemalloc``, started
just before the adds, counts the allocations still live once all seed whose traceback
passes through tidegate's engine (what the engine keeps per torrent: records, states, the
snapshot's mapping, tables), taken on the engine thread between two turns of its loop.
docs/BENCHMARKS.md "Memory per torrent (issue 27)" has the whole breakdown.
"""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import libtorrent as lt

from tests.conftest import EngineFactory
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds

N = 2_000
BOUND = 2_050
"""Bytes per torrent. The engine before issue 27 kept 2,340-2,490 here (a record with a
``__dict__``, two equal strings per id, a save path, a tracker list, two empty dicts and a
disk-fault object per torrent, an ``int`` per size and time, add tables left at their
largest); after it 1,620-1,780."""


def tiny_torrents(folder: Path, n: int) -> list[bytes]:
    """``n`` single-file v1 torrents of 1 KiB of random bytes (a size above 256: an ``int``
    object of its own unless shared), their data in ``folder``."""
    folder.mkdir()
    out = []
    for i in range(n):
        data = os.urandom(1024)
        (folder / f"t{i:05d}.bin").write_bytes(data)
        ct = lt.create_torrent(lt.list_files(str(folder / f"t{i:05d}.bin")), 16384,
                               lt.create_torrent.v1_only)
        ct.set_hash(0, hashlib.sha1(data).digest())
        out.append(lt.bencode(ct.generate()))
    return out


INTERPRETER_TABLE = 512 * 1024
"""A block this big is none of the engine's per-torrent tables (the largest, the snapshot's
mapping, is ~150 KiB at 2,000) but a table of the interpreter's grown once by an engine
line: the interned strings, which ``pathlib`` adds each resume file's name to."""


def engine_frames(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes live that an engine module allocated (any frame of the traceback)."""
    own = snapshot.filter_traces([tracemalloc.Filter(True, "*/engine/*", all_frames=True)])
    return sum(t.size for t in own.traces if t.size < INTERPRETER_TABLE)


def test_python_memory_per_torrent_is_bounded(make_engine: EngineFactory,
                                              tmp_path: Path) -> None:
    data = tmp_path / "data"
    torrents = tiny_torrents(data, N)
    expected = {str(lt.torrent_info(t).info_hashes().v1) for t in torrents}
    engine = make_engine("a")
    engine.wait_for(lambda s: s.running, 10)
    tracemalloc.start(16)
    try:
        before = engine._call(tracemalloc.take_snapshot).result(30)
        futures = [engine.run(cmds.Add(AddRequest(torrent=t, save_path=str(data),
                                                  seed_mode=True))) for t in torrents]
        for f in futures:
            f.result(120)
        del futures, torrents  # (their results, the ids, are strings the engine made)
        engine.wait_for(lambda s: len(s.torrents) == N and all(
            t.phase == "seeding" for t in s.torrents.values()), 120)
        writer = engine._manager.store.writer  # type: ignore[union-attr]
        deadline = time.monotonic() + 60  # the resume files queued at the adds: written
        while writer.outstanding and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not writer.outstanding, "the resume files of the adds were not written in 60 s"
        after = engine._call(tracemalloc.take_snapshot).result(30)
    finally:
        tracemalloc.stop()
    per_torrent = (engine_frames(after) - engine_frames(before)) / N
    top = [(s.traceback.format()[-4:], s.size // N) for s in after.filter_traces(
        [tracemalloc.Filter(True, "*/engine/*", all_frames=True)]).statistics("traceback")[:6]]
    assert per_torrent < BOUND, f"{per_torrent:.0f} B per torrent; most: {top}"

    # the values all torrents repeat are one object, not one per torrent
    states: Any = engine.snapshot.torrents
    assert set(states) == expected
    first = next(iter(states.values()))
    for s in states.values():
        assert s.info_hash_v1 is s.id
        assert s.save_path is first.save_path and s.save_path == str(data)
        assert s.total_size is first.total_size
