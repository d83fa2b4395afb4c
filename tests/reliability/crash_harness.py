"""Kill a real ``tidegate daemon`` with SIGKILL at random moments and check what comes back.

A seed engine in the test process serves a pool of torrents on 127.0.0.1 at a limited
rate, so downloads are under way whenever the daemon dies. Each round runs a few random
operations on the daemon (add by .torrent or magnet, remove, move, pause, resume,
limits, sequential, categories and tags: a category with a save path moves the data, a
category removed, a site publish: chain append + snapshot switch), SIGKILLs it at a
random moment (seeded; the seed is printed), reads what is on disk, restarts the daemon
on the same home and checks it against what was acknowledged.

Words used here and in docs/RELIABILITY.md:

* **acknowledged**: the command's reply reached the test before the kill was sent. Its
  effect must survive the kill.
* **in flight**: sent, no reply before the kill. Either outcome is allowed, nothing else
  (for a move: the old folder or the new one, and the data whole in that folder).
* **checkpointed pieces** of a torrent: the pieces its resume file
  (``<data>/resume/<id>.resume``) marks as had, read after the kill and before the
  restart, i.e. exactly what had been made durable when the process died.
* **re-fetched**: a checkpointed piece that the restarted daemon does not count as had
  (it would download it again).
* **corrupt**: a piece the restarted daemon counts as had whose bytes on disk differ
  from the seed's (compared here byte for byte, independently of libtorrent), or that a
  libtorrent recheck drops.
* a chain **fails** when its file does not open and verify (``ChainStore.open`` on a copy
  taken after the kill, then ``site verify`` and ``site log`` on the restarted daemon), or
  loses an acknowledged entry. A torn tail cut on open is allowed (counted).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import libtorrent as lt

from tests.helpers.daemon_util import DaemonProc, short_home
from tidegate.engine import AddRequest, Engine
from tidegate.engine import commands as cmds
from tidegate.engine.api import RemoteEngine
from tidegate.engine.chain import ChainRejected
from tidegate.engine.events import TorrentChecked
from tidegate.engine.sites.chain_file import ChainStore
from tidegate.engine.state import Phase, Snapshot

from ..conftest import build_engine, make_payload, make_torrent, port_of, start_seed

CMD = 20.0
"""Seconds any single command may take before the round is declared broken."""


@dataclass
class Payload:
    """One torrent of the pool: the seed's copy of its files and its metainfo."""

    name: str
    tid: str
    data: bytes
    magnet: str
    seed_path: Path
    ti: lt.torrent_info

    def piece_ok(self, save_path: Path, piece: int) -> bool:
        """Whether piece ``piece`` under ``save_path`` has the seed's bytes."""
        return not self.piece_diff(save_path, piece)

    def piece_diff(self, save_path: Path, piece: int) -> str:
        """'' when piece ``piece`` under ``save_path`` has the seed's bytes, else where not."""
        fs = self.ti.layout()
        for sl in self.ti.map_block(piece, 0, self.ti.piece_size(piece)):
            if fs.file_flags(sl.file_index) & lt.file_storage.flag_pad_file:
                continue
            rel = fs.file_path(sl.file_index)
            want = _read(self.seed_path / rel, sl.offset, sl.size)
            got = _read(save_path / rel, sl.offset, sl.size)
            if got != want:
                size = (save_path / rel).stat().st_size if (save_path / rel).exists() else -1
                zeros = got is not None and got.count(0) == len(got)
                return (f"{rel} at {sl.offset}+{sl.size}: "
                        f"{'missing' if got is None else f'{len(got)} bytes read'}"
                        f"{' all zero' if zeros else ''} (file size {size})")
        return ""


def _read(path: Path, offset: int, size: int) -> bytes | None:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(size)
    except OSError:
        return None


@dataclass
class Expect:
    """What one pool torrent may look like after a restart: each field is the set of
    allowed values (one value when acknowledged, two when a change was in flight)."""

    present: set[bool] = field(default_factory=lambda: {False})
    paused: set[bool] = field(default_factory=lambda: {False})
    save_path: set[str] = field(default_factory=set)
    sequential: set[bool] = field(default_factory=lambda: {False})
    down: set[int] = field(default_factory=lambda: {0})
    category: set[str] = field(default_factory=lambda: {""})
    tags: set[tuple[str, ...]] = field(default_factory=lambda: {()})

    def apply(self, certain: bool, **values: Any) -> None:
        for name, value in values.items():
            allowed: set[Any] = getattr(self, name)
            if certain:
                allowed.clear()
            allowed.add(value)


@dataclass
class Figures:
    seed: int = 0
    kills: int = 0
    kill_modes: dict[str, int] = field(default_factory=dict)
    ops_acknowledged: int = 0
    ops_in_flight_at_kill: int = 0
    ops_by_kind: dict[str, int] = field(default_factory=dict)
    torrent_restarts: int = 0
    """Torrents checked after a restart (summed over rounds)."""
    pieces_checkpointed: int = 0
    pieces_refetched: int = 0
    """Checkpointed pieces the restarted daemon did not count as had."""
    pieces_not_checkpointed_at_kill: int = 0
    """Pieces the daemon reported before the kill that its resume file did not hold yet
    (the loss allowed: downloaded again after the restart)."""
    pieces_verified: int = 0
    rechecks: int = 0
    corrupt_pieces: int = 0
    recheck_dropped: int = 0
    moves_interrupted: int = 0
    """Kills that left a resume file naming a move's target (settled on the next start)."""
    torrents_lost: int = 0
    torrents_resurrected: int = 0
    settings_lost: int = 0
    corrupt_resume_files: int = 0
    completed_downloads: int = 0
    categories_acknowledged: int = 0
    categories_lost: int = 0
    """Acknowledged category adds missing, or acknowledged removes back, after a restart
    (or a categories.json that does not read)."""
    chain_checks: int = 0
    chains_failed: int = 0
    chain_torn_tails_cut: int = 0
    chain_entries_acknowledged: int = 0
    chain_entries_lost: int = 0
    snapshot_switch_failed: int = 0
    restart_seconds_max: float = 0.0
    seconds_by_phase: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def bump(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def timed(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self.seconds_by_phase[phase] = round(self.seconds_by_phase.get(phase, 0.0) + now - since,
                                             2)
        return now

    @property
    def failures(self) -> int:
        return (self.pieces_refetched + self.corrupt_pieces + self.recheck_dropped
                + self.torrents_lost + self.torrents_resurrected + self.settings_lost
                + self.corrupt_resume_files + self.chains_failed + self.chain_entries_lost
                + self.snapshot_switch_failed + self.categories_lost)

    def summary(self) -> str:
        return (f"crash-safety seed={self.seed} kills={self.kills} "
                f"ops={self.ops_acknowledged}+{self.ops_in_flight_at_kill} in flight "
                f"torrent-restarts={self.torrent_restarts} "
                f"checkpointed={self.pieces_checkpointed} refetched={self.pieces_refetched} "
                f"not-yet-checkpointed={self.pieces_not_checkpointed_at_kill} "
                f"verified={self.pieces_verified} rechecks={self.rechecks} "
                f"corrupt={self.corrupt_pieces} "
                f"recheck-dropped={self.recheck_dropped} lost={self.torrents_lost} "
                f"resurrected={self.torrents_resurrected} settings-lost={self.settings_lost} "
                f"corrupt-resume={self.corrupt_resume_files} "
                f"completed={self.completed_downloads} moves-interrupted={self.moves_interrupted} "
                f"categories={self.categories_acknowledged} "
                f"categories-lost={self.categories_lost} "
                f"chain-checks={self.chain_checks} "
                f"chains-failed={self.chains_failed} torn-tails={self.chain_torn_tails_cut} "
                f"entries-lost={self.chain_entries_lost} "
                f"switch-failed={self.snapshot_switch_failed} "
                f"restart-max={self.restart_seconds_max:.2f}s duration={self.duration_s:.0f}s")

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))


SITE_NAME = "crashsite"
TAGS = ["a", "b", "c d", "é"]


class CrashRun:
    """One seeded run: ``run(kills)``; figures in :attr:`figures`. Call :meth:`close`."""

    def __init__(self, work: Path, seed: int, pool: int = 8, seed_rate: int = 3_000_000):
        self.work = work
        self.rng = random.Random(seed)
        self.figures = Figures(seed=seed)
        self.home = short_home("[sites]\nkeep_snapshots = 2\n")
        self.daemon: DaemonProc | None = None
        self.client: RemoteEngine | None = None
        self.seed_engine: Engine = build_engine(
            work / "seed", rates={"upload": seed_rate, "limit_local_peers": True})
        self.seed_engine.start()
        self.peer = ""
        self.pool: dict[str, Payload] = {}
        self.expect: dict[str, Expect] = {}
        self.folders = 0
        self._last = ""
        self.site_source = self.home / "site-src"
        self.site_address = ""
        self.site_acked = -1
        self.site_attempted = -1
        self.site_files = 0
        self.checkpoints: dict[str, set[int]] = {}
        self.at_kill: dict[str, int] = {}
        self.trace: list[str] = []
        """What each round did, for the report of a failure."""
        self.categories: dict[str, set[bool]] = {"plain": {True}}
        """Category name -> whether it may exist after the restart (both when in flight)."""
        self.category_paths: dict[str, str] = {"plain": ""}
        self._make_pool(pool)

    # ------------------------------------------------------------------ set-up

    def _make_pool(self, n: int) -> None:
        formats = ("v1", "hybrid", "v2")
        for i in range(n):
            sizes = (self.rng.randrange(2_000_000, 5_000_000),
                     self.rng.randrange(100_000, 2_000_000), self.rng.randrange(1, 40_000))
            folder = make_payload(self.work / "pool" / str(i), f"p{i}", sizes=sizes)
            created = make_torrent(folder, fmt=formats[i % 3], piece_size=32768)
            tid = start_seed(self.seed_engine, created, folder)
            ti = lt.torrent_info(created.data)
            self.pool[tid] = Payload(f"p{i}", tid, created.data, created.magnet,
                                     Path(created.save_path), ti)
            self.expect[tid] = Expect()
        self.peer = f"127.0.0.1:{port_of(self.seed_engine)}"

    def close(self) -> None:
        self._stop_daemon(kill=True)
        if self.seed_engine.running:
            self.seed_engine.stop()
        if not os.environ.get("TIDEGATE_CRASH_KEEP"):
            shutil.rmtree(self.home, ignore_errors=True)

    # ------------------------------------------------------------------ the daemon

    def _start_daemon(self) -> RemoteEngine:
        t0 = time.monotonic()
        self.daemon = DaemonProc(self.home).start()
        self.client = self.daemon.client(timeout=CMD)
        self.figures.restart_seconds_max = max(self.figures.restart_seconds_max,
                                               time.monotonic() - t0)
        return self.client

    def _stop_daemon(self, kill: bool) -> None:
        if self.client is not None:
            self.client.stop()
            self.client = None
        if self.daemon is not None:
            if kill and self.daemon.p is not None and self.daemon.p.poll() is None:
                self.daemon.kill9()
            self.daemon.stop()
            self.daemon = None

    def _c(self) -> RemoteEngine:
        assert self.client is not None
        return self.client

    # ------------------------------------------------------------------ the run

    def run(self, kills: int) -> Figures:
        t0 = time.monotonic()
        c = self._start_daemon()
        self.site_source.mkdir()
        (self.site_source / "index.html").write_bytes(b"<h1>crash</h1>\n")
        made = c.run(cmds.SiteNew(SITE_NAME, str(self.site_source))).result(CMD)
        self.site_address = made.address
        published = c.run(cmds.SitePublish(SITE_NAME)).result(CMD)
        self.site_acked = self.site_attempted = published.height
        c.run(cmds.CategoryAdd("plain")).result(CMD)
        for _ in range(3):
            self._op_add()
        f = self.figures
        while f.kills < kills:
            t = time.monotonic()
            self._round()
            t = f.timed("round", t)
            self._after_kill()
            if f.kills < kills and self.rng.random() < 0.15:
                self._kill_while_restoring()
            t = f.timed("read disk", t)
            self._start_daemon()
            t = f.timed("start", t)
            self._check_restart()
            f.timed("checks", t)
        # a clean stop at the end: everything must come back the same way
        self._stop_daemon(kill=False)
        self._read_disk()
        self._start_daemon()
        self._check_restart(final=True)
        self._stop_daemon(kill=False)
        self.figures.duration_s = time.monotonic() - t0
        return self.figures

    # ------------------------------------------------------------------ operations

    def _present(self) -> list[str]:
        return [tid for tid, e in self.expect.items() if e.present == {True}]

    def _absent(self) -> list[str]:
        return [tid for tid, e in self.expect.items() if e.present == {False}]

    def _new_folder(self) -> str:
        self.folders += 1
        return str(self.home / "dl" / f"f{self.folders}")

    def _choose(self, boost: dict[str, int] | None = None
                ) -> tuple[str, Callable[[], tuple[Future[Any], Callable[[bool], None]]]]:
        """A random operation that the current state allows; ``boost`` multiplies the
        weights of some kinds (the operations whose window between send and reply is
        longest are where a kill in flight is most likely to hurt)."""
        present, absent = self._present(), self._absent()
        choices: list[tuple[str, int]] = [("publish", 2)]
        if absent and len(present) < 5:
            choices.append(("add", 4))
        if len(present) >= 3:
            choices.append(("remove", 2))
        if present:
            choices += [("move", 3), ("pause", 2), ("resume", 2), ("limit", 1),
                        ("sequential", 1), ("category", 3), ("tags", 2)]
        if any(n != "plain" and e == {True} for n, e in self.categories.items()):
            choices.append(("category_rm", 1))
        boost = boost or {}
        kind = self.rng.choices([k for k, _ in choices],
                                [w * boost.get(k, 1) for k, w in choices])[0]
        maker = {"add": self._add, "remove": self._remove, "move": self._move,
                 "pause": self._pause, "resume": self._resume, "limit": self._limit,
                 "sequential": self._sequential, "publish": self._publish,
                 "category": self._category, "tags": self._tags,
                 "category_rm": self._category_rm}[kind]
        return kind, maker

    # Each maker sends one command and returns its future plus what to record about it
    # (``record(certain)``: True once acknowledged, False when in flight at the kill).

    def _add(self) -> tuple[Future[Any], Callable[[bool], None]]:
        tid = self.rng.choice(self._absent())
        p = self.pool[tid]
        folder = self._new_folder()
        paused = self.rng.random() < 0.2
        sequential = self.rng.random() < 0.3
        down = self.rng.choice([0, 0, 400_000])
        category = self.rng.choice(["", "", "plain"])
        tags = tuple(sorted(self.rng.sample(TAGS, self.rng.randint(0, 2))))
        if self.rng.random() < 0.3:
            req = AddRequest(uri=p.magnet, source="magnet", save_path=folder, paused=paused,
                             sequential=sequential, download_limit=down, peers=(self.peer,),
                             category=category, tags=tags)
        else:
            req = AddRequest(torrent=p.data, source=p.name, save_path=folder, paused=paused,
                             sequential=sequential, download_limit=down, peers=(self.peer,),
                             category=category, tags=tags)
        fut = self._c().run(cmds.Add(req))
        self._last = f"{p.name} {'magnet' if req.uri else 'torrent'} paused={paused} {folder}"

        def record(certain: bool) -> None:
            e = self.expect[tid]
            if certain:
                self.expect[tid] = Expect(present={True}, paused={paused},
                                          save_path={folder}, sequential={sequential},
                                          down={down}, category={category}, tags={tags})
            else:
                e.present.add(True)
                e.apply(False, paused=paused, save_path=folder, sequential=sequential,
                        down=down, category=category, tags=tags)
        return fut, record

    def _op_add(self) -> None:
        fut, record = self._add()
        fut.result(CMD)
        record(True)

    def _remove(self) -> tuple[Future[Any], Callable[[bool], None]]:
        tid = self.rng.choice(self._present())
        delete = self.rng.random() < 0.8
        fut = self._c().run(cmds.Remove(tid, delete_data=delete))
        self._last = f"{self.pool[tid].name} delete_data={delete}"
        return fut, lambda certain: self.expect[tid].apply(certain, present=False)

    def _move(self) -> tuple[Future[Any], Callable[[bool], None]]:
        tid = self.rng.choice(self._present())
        folder = self._new_folder()
        fut = self._c().run(cmds.Move(tid, folder))
        self._last = f"{self.pool[tid].name} to {folder}"
        return fut, lambda certain: self.expect[tid].apply(certain, save_path=folder)

    def _pause(self) -> tuple[Future[Any], Callable[[bool], None]]:
        tid = self.rng.choice(self._present())
        fut = self._c().run(cmds.Pause(tid))
        self._last = self.pool[tid].name
        return fut, lambda certain: self.expect[tid].apply(certain, paused=True)

    def _resume(self) -> tuple[Future[Any], Callable[[bool], None]]:
        tid = self.rng.choice(self._present())
        fut = self._c().run(cmds.Resume(tid))
        self._last = self.pool[tid].name
        return fut, lambda certain: self.expect[tid].apply(certain, paused=False)

    def _limit(self) -> tuple[Future[Any], Callable[[bool], None]]:
        tid = self.rng.choice(self._present())
        down = self.rng.choice([0, 300_000, 1_000_000])
        fut = self._c().run(cmds.SetLimits(tid, down=down))
        self._last = f"{self.pool[tid].name} down={down}"
        return fut, lambda certain: self.expect[tid].apply(certain, down=down)

    def _sequential(self) -> tuple[Future[Any], Callable[[bool], None]]:
        tid = self.rng.choice(self._present())
        on = not next(iter(self.expect[tid].sequential))
        fut = self._c().run(cmds.SetSequential(tid, on))
        self._last = f"{self.pool[tid].name} {on}"
        return fut, lambda certain: self.expect[tid].apply(certain, sequential=on)

    def _category(self) -> tuple[Future[Any], Callable[[bool], None]]:
        """Put one or two torrents in a category: none, "plain", or a new one whose save
        path is a new folder (their data moves there; the reply waits for the moves)."""
        present = self._present()
        tids = self.rng.sample(present, min(len(present), self.rng.choice([1, 1, 2])))
        name = self.rng.choice(["", "plain", "new", "new"])
        if name == "new":
            self.folders += 1
            name, folder = f"d{self.folders}", self._new_folder()
            self._c().run(cmds.CategoryAdd(name, folder)).result(CMD)  # set-up: acknowledged
            self.categories[name] = {True}
            self.category_paths[name] = folder
            self.figures.categories_acknowledged += 1
        path = self.category_paths.get(name, "")
        fut = self._c().run(cmds.SetCategory(tids, name))
        self._last = f"{[self.pool[t].name for t in tids]} to {name!r} {path}"

        def record(certain: bool) -> None:
            for tid in tids:
                self.expect[tid].apply(certain, category=name)
                if path:
                    self.expect[tid].apply(certain, save_path=path)
        return fut, record

    def _tags(self) -> tuple[Future[Any], Callable[[bool], None]]:
        present = self._present()
        tids = self.rng.sample(present, min(len(present), self.rng.choice([1, 2, 3])))
        tags = sorted(self.rng.sample(TAGS, self.rng.randint(0, 2)))
        add = self.rng.random() < 0.6 and bool(tags)
        fut = self._c().run(cmds.AddTags(tids, tags) if add else cmds.RemoveTags(tids, tags))
        self._last = f"{[self.pool[t].name for t in tids]} {'+' if add else '-'}{tags}"
        before = {tid: set(self.expect[tid].tags) for tid in tids}

        def record(certain: bool) -> None:
            for tid in tids:
                e = self.expect[tid]
                changed = {tuple(sorted(set(old) | set(tags))) if add else
                           tuple(t for t in old if tags and t not in tags)
                           for old in before[tid]}
                if certain:
                    e.tags = changed
                else:
                    e.tags |= changed
        return fut, record

    def _category_rm(self) -> tuple[Future[Any], Callable[[bool], None]]:
        names = [n for n, e in self.categories.items() if n != "plain" and e == {True}]
        name = self.rng.choice(names)
        fut = self._c().run(cmds.CategoryRemove([name]))
        self._last = name
        inside = [tid for tid, e in self.expect.items() if name in e.category]

        def record(certain: bool) -> None:
            self.categories[name] = {False} if certain else {True, False}
            for tid in inside:
                if certain:
                    self.expect[tid].category.discard(name)
                self.expect[tid].category.add("")
        return fut, record

    def _publish(self) -> tuple[Future[Any], Callable[[bool], None]]:
        self.site_files += 1
        size = self.rng.randrange(1, 200_000)
        (self.site_source / f"f{self.site_files}.bin").write_bytes(self.rng.randbytes(size))
        old = sorted(self.site_source.glob("f*.bin"))
        if len(old) > 4:
            old[0].unlink()
        fut = self._c().run(cmds.SitePublish(SITE_NAME))
        self._last = f"seq {self.site_attempted + 1}"
        self.site_attempted += 1

        def record(certain: bool) -> None:
            if certain:
                self.site_acked = fut.result().height
                self.figures.chain_entries_acknowledged += 1
        return fut, record

    # ------------------------------------------------------------------ one round

    def _round(self) -> None:
        f = self.figures
        c = self._c()
        ops = [self._choose() for _ in range(self.rng.randint(1, 4))]
        mode = self.rng.choices(["after_ack", "in_flight", "idle"], [4, 3, 3])[0]
        last = self.rng.randrange(len(ops)) if mode != "idle" else len(ops) - 1
        if mode == "in_flight":
            ops[last] = self._choose({"move": 4, "publish": 3, "add": 2, "remove": 2,
                                      "category": 3, "tags": 2})
        f.bump(f.kill_modes, mode)
        for i, (kind, maker) in enumerate(ops[:last + 1]):
            if kind in ("add",) and not self._absent():
                continue  # an earlier add in this round took the last free torrent
            if kind != "add" and kind != "publish" and not self._present():
                continue
            f.bump(f.ops_by_kind, kind)
            fut, record = maker()
            self.trace.append(f"round {f.kills}: {kind} {self._last}")
            if i == last and mode == "in_flight":
                time.sleep(self.rng.uniform(0.0, 0.015))
                done = fut.done() and fut.exception() is None
                self.trace.append(f"round {f.kills}: kill {mode}, acknowledged: {done}")
                self._kill()
                record(done)
                if done:
                    f.ops_acknowledged += 1
                else:
                    f.ops_in_flight_at_kill += 1
                return
            try:
                fut.result(CMD)
            except Exception as exc:
                f.problems.append(f"round {f.kills}: {kind} failed: {exc!r}")
                record(False)  # its effect is unknown: the restart shows what happened
                continue
            record(True)
            f.ops_acknowledged += 1
            if i == last and mode == "after_ack":
                delay = self.rng.uniform(0.0, 0.03)
                time.sleep(delay)
                self.trace.append(f"round {f.kills}: kill {delay:.3f} s after the ack")
                self._kill()
                return
        delay = self.rng.uniform(0.1, 2.0)
        time.sleep(delay)
        self.trace.append(f"round {f.kills}: kill {delay:.3f} s after the last ack")
        self._kill()
        del c

    def _kill(self) -> None:
        snap = self._c().snapshot
        self.at_kill = {tid: t.pieces_done for tid, t in snap.torrents.items()
                        if tid in self.pool}
        assert self.daemon is not None
        self.daemon.kill9()
        self.figures.kills += 1
        self._stop_daemon(kill=True)

    def _kill_while_restoring(self) -> None:
        """Restart and kill again at once, while torrents are being restored and checked
        (nothing acknowledged in between: the checks after the next start still hold)."""
        self.daemon = DaemonProc(self.home).start()
        delay = self.rng.uniform(0.0, 0.3)
        time.sleep(delay)
        self.trace.append(f"round {self.figures.kills}: killed again {delay:.3f} s after "
                          "the restart")
        self.figures.bump(self.figures.kill_modes, "restoring")
        self.daemon.kill9()
        self.figures.kills += 1
        self._stop_daemon(kill=True)
        self._read_disk(again=True)

    # ------------------------------------------------------------------ after the kill

    def _after_kill(self) -> None:
        self._read_disk()

    def _read_disk(self, again: bool = False) -> None:
        """What the dead daemon left: each torrent's checkpoint and a copy of the chain
        (``again``: killed while restoring; what it kept must hold what was there before)."""
        f = self.figures
        resume_dir = self.home / "data" / "resume"
        before_kill = self.checkpoints
        self.checkpoints = {}
        for tid in self.pool:
            path = resume_dir / f"{tid}.resume"
            if not path.exists():
                continue
            try:
                raw = path.read_bytes()
                params = lt.read_resume_data(raw)
            except (RuntimeError, ValueError) as exc:
                f.corrupt_resume_files += 1
                f.problems.append(f"kill {f.kills}: {path.name} unreadable: {exc}")
                continue
            have = params.have_pieces
            n = params.ti.num_pieces() if params.ti is not None else 0
            self.checkpoints[tid] = {i for i in range(min(n, len(have))) if have[i]}
            if again:
                lost = before_kill.get(tid, set()) - self.checkpoints[tid]
                if lost and params.save_path not in self.expect[tid].save_path:
                    lost = set()  # an interrupted move was settled: checked after the start
                if lost:
                    f.pieces_refetched += len(lost)
                    f.problems.append(f"kill {f.kills}: {self.pool[tid].name}: the restart "
                                      f"dropped {len(lost)} checkpointed pieces from its file")
            else:
                before = self.at_kill.get(tid, 0)
                f.pieces_not_checkpointed_at_kill += max(0, before - len(self.checkpoints[tid]))
                extras = lt.bdecode(raw).get(b"tidegate", b"{}")
                if json.loads(extras).get("moving_to"):
                    f.moves_interrupted += 1
        categories = resume_dir / "categories.json"
        try:
            json.loads(categories.read_bytes())
        except (OSError, ValueError) as exc:
            f.categories_lost += 1
            f.problems.append(f"kill {f.kills}: categories.json unreadable: {exc}")
        chain = self.home / "data" / "sites" / self.site_address / "chain"
        copy = self.work / "chain-copy"
        shutil.copyfile(chain, copy)
        f.chain_checks += 1
        try:
            store = ChainStore.open(copy, self.site_address)
            f.chain_torn_tails_cut += bool(store.cut_bytes)
            if store.chain.height < self.site_acked:
                f.chain_entries_lost += self.site_acked - store.chain.height
                f.problems.append(f"kill {f.kills}: chain file holds height "
                                  f"{store.chain.height}, {self.site_acked} was acknowledged")
        except ChainRejected as exc:
            f.chains_failed += 1
            f.problems.append(f"kill {f.kills}: chain file does not open: {exc}")

    # ------------------------------------------------------------------ after the restart

    def _check_restart(self, final: bool = False) -> None:
        f = self.figures
        c = self._c()
        where = f"after kill {f.kills}"
        t0 = time.monotonic()
        must = [tid for tid, e in self.expect.items() if e.present == {True}]
        try:
            c.wait_for(lambda s: s.running and all(t in s.torrents for t in must), 30)
        except TimeoutError:
            pass  # counted below, torrent by torrent
        try:
            snap = c.wait_for(lambda s: not any(
                t.phase == Phase.CHECKING for tid, t in s.torrents.items() if tid in self.pool),
                30)
        except TimeoutError:
            snap = c.snapshot
            f.problems.append(f"{where}: torrents still checking 30 s after the restart")
        present: list[str] = []
        for tid, e in self.expect.items():
            here = tid in snap.torrents
            if here not in e.present:
                if here:
                    f.torrents_resurrected += 1
                    f.problems.append(f"{where}: {self.pool[tid].name} was removed, is back")
                else:
                    f.torrents_lost += 1
                    f.problems.append(f"{where}: {self.pool[tid].name} was acknowledged, "
                                      "is gone")
            if here:
                present.append(tid)
        for corrupt in (self.home / "data" / "resume").glob("*.corrupt"):
            f.corrupt_resume_files += 1
            f.problems.append(f"{where}: resume file quarantined: {corrupt.name}")
            corrupt.unlink()
        t0 = f.timed("restore", t0)
        for tid in present:
            self._check_torrent(tid, snap, where)
        t0 = f.timed("torrents", t0)
        self._recheck(present, where, every=final)
        t0 = f.timed("recheck", t0)
        for tid in present:
            c.run(cmds.AddPeers(tid, [self.peer])).result(CMD)
        self._check_site(where)
        self._check_categories(c.snapshot, where)
        f.timed("site", t0)
        # what the daemon now holds is the truth for the next round
        snap = c.snapshot
        for tid in self.expect:
            t = snap.torrents.get(tid)
            if t is None:
                self.expect[tid] = Expect()
                continue
            self.expect[tid] = Expect(present={True}, paused={t.paused},
                                      save_path={t.save_path}, sequential={t.sequential},
                                      down={t.download_limit}, category={t.category},
                                      tags={t.tags})

    def _check_categories(self, snap: Snapshot, where: str) -> None:
        """Acknowledged category adds are there with their save paths, acknowledged
        removes are gone; then the daemon's categories are the truth for the next round."""
        f = self.figures
        for name, allowed in self.categories.items():
            here = name in snap.categories
            if here not in allowed:
                f.categories_lost += 1
                f.problems.append(f"{where}: category {name!r} is "
                                  f"{'back' if here else 'gone'} (expected {allowed})")
            elif here and snap.categories[name].save_path != self.category_paths[name]:
                f.categories_lost += 1
                f.problems.append(f"{where}: category {name!r} save path "
                                  f"{snap.categories[name].save_path!r}")
        self.categories = {n: {True} for n in snap.categories}
        for name in snap.categories:
            self.category_paths.setdefault(name, snap.categories[name].save_path)

    def _check_torrent(self, tid: str, snap: Snapshot, where: str) -> None:
        f = self.figures
        t = snap.torrents[tid]
        e = self.expect[tid]
        name = self.pool[tid].name
        f.torrent_restarts += 1
        observed = {"paused": t.paused, "save_path": t.save_path,
                    "sequential": t.sequential, "down": t.download_limit,
                    "category": t.category, "tags": t.tags}
        for key, value in observed.items():
            allowed = getattr(e, key)
            if allowed and value not in allowed:
                f.settings_lost += 1
                f.problems.append(f"{where}: {name} {key} is {value!r}, expected one of "
                                  f"{sorted(allowed, key=str)}")
        if t.error:
            f.problems.append(f"{where}: {name} in error: {t.error}")
        if not t.has_metadata:
            return
        details = self._c().run(cmds.Details(tid)).result(CMD)
        have = {i for i, b in enumerate(details.pieces) if b == 1}
        checkpoint = self.checkpoints.get(tid, set())
        f.pieces_checkpointed += len(checkpoint)
        missing = checkpoint - have
        if missing:
            f.pieces_refetched += len(missing)
            f.problems.append(f"{where}: {name}: {len(missing)} of {len(checkpoint)} "
                              f"checkpointed pieces not had after the restart "
                              f"(save path {t.save_path})")
        payload = self.pool[tid]
        # pieces downloaded since the restart may still be in libtorrent's write queue:
        # flush it, so every piece counted as had must be on disk
        self._c().run(cmds.Flush(tid)).result(CMD)
        bad = [i for i in sorted(have) if not payload.piece_ok(Path(t.save_path), i)]
        f.pieces_verified += len(have)
        if bad:
            f.corrupt_pieces += len(bad)
            f.problems.append(f"{where}: {name} ({t.phase}, checkpoint {len(checkpoint)}): "
                              f"{len(bad)} of {len(have)} pieces had but wrong on disk, "
                              f"first {bad[:5]}: "
                              f"{payload.piece_diff(Path(t.save_path), bad[0])}")
        if len(have) == payload.ti.num_pieces() and len(checkpoint) < len(have):
            f.completed_downloads += 1

    def _recheck(self, present: list[str], where: str, every: bool = False) -> None:
        """A libtorrent recheck of one running torrent with metadata (``every``: of all):
        it must keep every piece the restored state claimed. libtorrent starts one check
        per second, so the rounds take turns; every piece is compared byte for byte with
        the seed's in every round anyway (:meth:`_check_torrent`)."""
        f = self.figures
        c = self._c()
        snap = c.snapshot
        todo = [tid for tid in present if (t := snap.torrents.get(tid)) is not None
                and t.has_metadata and not t.paused]
        if not todo:
            return
        if not every:
            todo = [self.rng.choice(todo)]
        f.rechecks += len(todo)
        before = {tid: {i for i, b in enumerate(c.run(cmds.Details(tid)).result(CMD).pieces)
                        if b == 1}
                  for tid in todo}
        stream = c.subscribe()
        try:
            for tid in todo:
                c.run(cmds.Recheck(tid)).result(CMD)
            waiting = set(todo)
            deadline = time.monotonic() + 30
            while waiting and time.monotonic() < deadline:
                event = stream.get(timeout=0.5)
                if isinstance(event, TorrentChecked):
                    waiting.discard(event.torrent_id)
            if waiting:
                f.problems.append(f"{where}: recheck did not finish for "
                                  f"{[self.pool[t].name for t in waiting]}")
        finally:
            c.unsubscribe(stream)
        for tid in todo:
            after = {i for i, b in enumerate(c.run(cmds.Details(tid)).result(CMD).pieces) if b == 1}
            dropped = before[tid] - after
            if dropped:
                f.recheck_dropped += len(dropped)
                f.problems.append(f"{where}: {self.pool[tid].name}: recheck dropped "
                                  f"{len(dropped)} pieces")

    def _check_site(self, where: str) -> None:
        f = self.figures
        c = self._c()
        log = c.run(cmds.SiteLog(SITE_NAME)).result(CMD)
        height = len(log) - 1
        if height < self.site_acked:
            f.chain_entries_lost += self.site_acked - height
            f.problems.append(f"{where}: chain height {height}, {self.site_acked} acknowledged")
        if height > self.site_attempted:
            f.chains_failed += 1
            f.problems.append(f"{where}: chain height {height} > {self.site_attempted} asked")
        report = c.run(cmds.SiteVerify(SITE_NAME)).result(CMD)
        chain_problems = [p for p in report.problems if p.startswith("chain")]
        if chain_problems:
            f.chains_failed += 1
            f.problems.append(f"{where}: site verify: {chain_problems}")
        try:
            c.wait_for(lambda s: (site := s.sites.get(self.site_address)) is not None
                       and site.hosting.seq == height, 15)
        except TimeoutError:
            site = c.snapshot.sites.get(self.site_address)
            f.snapshot_switch_failed += 1
            f.problems.append(f"{where}: chain height {height} but hosting serves "
                              f"{site.hosting.seq if site else None} "
                              f"({site.hosting.error if site else ''})")
        else:
            report = c.run(cmds.SiteVerify(SITE_NAME)).result(CMD)
            if report.problems:
                f.chains_failed += 1
                f.problems.append(f"{where}: site verify of snapshot {report.snapshot}: "
                                  f"{report.problems[:3]}")
        self.site_attempted = self.site_acked = height
