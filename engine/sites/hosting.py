"""The Hosting Component: every accepted snapshot is downloaded, verified and seeded.

It acts on ``{"time", "snapshot", "hosts"}`` messages from the Blockchain Handler (the
bus) and on nothing else. For each host it looks up the verified UPDATE naming the
snapshot; a snapshot no verified entry names is refused. Then:

1. Files whose pieces root already sits in a kept snapshot are hard-linked into the new
   snapshot's folder, so unchanged files are not downloaded again (libtorrent checks
   them when the metadata arrives).
2. The snapshot torrent is added (from its metainfo when it was made here, else by
   magnet) and downloads.
3. Once complete on disk, every file is hashed here, independently of libtorrent, and
   compared with the manifest: size and BEP 52 pieces root. A mismatch refuses the
   snapshot (``bad_files``): its torrent and files are removed, never seeded.
4. The snapshot seeds; snapshots beyond the newest ``sites.keep_snapshots`` are removed.

Runs on the sites thread; state survives restarts in each site's ``hosting.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..chain.entry import Update
from ..durable import write_synced
from ..errors import EngineStoppedError, TidegateError, describe
from ..events import Event, Log, SiteHosted, SiteRefused
from ..state import SiteHosting, TorrentState
from .calls import RETRY_NUDGE, add_torrent, remove_torrent, site_torrent
from .merkle import LAYERS_FILE, encode_layers, verify_with_layers
from .onion_http import web_seed_url
from .registry import Registry, SiteRecord, canonical_address
from .snapshot import NAME, piece_size_for

if TYPE_CHECKING:
    from ..services import TorrentService



INTERNAL = "internal error: "
"""The start of a site's hosting error that a fault of ours caused (not the network)."""


@dataclass
class Job:
    seq: int
    torrent_id: str
    progress_at: float
    done_bytes: int = 0
    next_nudge: float = 0.0


@dataclass
class SiteHost:
    kept: dict[int, str] = field(default_factory=dict)
    """Verified snapshots on disk: seq -> torrent id."""
    job: Job | None = None
    checked: float = 0.0
    error: str = ""
    rechecks: dict[int, float] = field(default_factory=dict)
    """Snapshots being rechecked after the proxy found a file that differs: seq -> since."""
    recheck_nudge: float = 0.0


RECHECK_SETTLE = 3.0
"""Seconds after asking libtorrent for a recheck before its result is looked at."""


class HostingComponent:
    def __init__(self, engine: TorrentService, registry: Registry, keep: int, fetch_timeout: float):
        self.engine = engine
        self.registry = registry
        self.keep = keep
        self.fetch_timeout = fetch_timeout
        self.sites: dict[str, SiteHost] = {}
        self.changed = True
        self.linked_bytes = 0
        """Bytes hard-linked from kept snapshots instead of downloaded (for tests)."""

    # ------------------------------------------------------------------ persistence

    def load(self) -> None:
        for rec in self.registry.sites.values():
            host = self.sites.setdefault(rec.address, SiteHost())
            try:
                data = json.loads((rec.folder / "hosting.json").read_text())
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                host.error = f"hosting.json unreadable: {exc}"
                continue
            host.kept = {int(k): str(v) for k, v in data.get("kept", {}).items()}
            host.checked = float(data.get("checked", 0.0))
            job = data.get("job")
            if job:
                host.job = Job(int(job["seq"]), str(job["id"]), time.monotonic())

    def _save(self, rec: SiteRecord, host: SiteHost) -> None:
        data: dict[str, Any] = {"kept": {str(k): v for k, v in host.kept.items()},
                                "checked": host.checked}
        if host.job is not None:
            data["job"] = {"seq": host.job.seq, "id": host.job.torrent_id}
        write_synced(rec.folder / "hosting.json", json.dumps(data).encode())

    def start(self) -> None:
        """Re-add kept snapshots, and the one being fetched, whose torrents the engine did
        not restore (adding one it did restore just names it)."""
        for address, host in self.sites.items():
            rec = self.registry.sites.get(address)
            if rec is None:
                continue
            for seq in sorted(host.kept):
                held = self.engine.snapshot.torrents.get(host.kept[seq])
                # one the engine holds unmarked (kept by an older version) is added again
                # only to mark it as this site's (TorrentState.site)
                if held is None or not held.site:
                    entry = rec.update_at(seq)
                    if entry is not None:
                        try:
                            host.kept[seq] = self._add(rec, entry, seed=True)
                        except TidegateError as exc:
                            host.error = f"snapshot {seq}: {exc}"
            job = host.job
            held = self.engine.snapshot.torrents.get(job.torrent_id) if job else None
            if job is not None and (held is None or not held.site):
                entry = rec.update_at(job.seq)
                try:
                    if entry is None:
                        raise TidegateError("no verified entry names it")
                    job.torrent_id = self._add(rec, entry, seed=False)
                except TidegateError as exc:
                    host.job = None
                    host.error = f"snapshot {job.seq}: {exc}"

    # ------------------------------------------------------------------ messages

    def on_update(self, time_: int, magnet: str, hosts: Sequence[str],
                  emit: Callable[[Event], None]) -> None:
        for hostname in hosts:
            address = canonical_address(hostname)
            rec = self.registry.sites.get(address or "")
            if rec is None:
                emit(Log(level="warning", message=f"hosting: {hostname} is not a site here; "
                                                  "update ignored"))
                continue
            host = self.sites.setdefault(rec.address, SiteHost())
            entry = rec.update_naming(magnet)
            if entry is None:
                host.error = f"{magnet}: no verified entry names this snapshot; refused"
                self.changed = True
                continue
            if entry.seq in host.kept or (host.job is not None and host.job.seq >= entry.seq):
                continue
            if host.kept and max(host.kept) > entry.seq:
                continue  # older than what is seeded
            self._begin(rec, host, entry)

    def _begin(self, rec: SiteRecord, host: SiteHost, entry: Update) -> None:
        if host.job is not None:  # superseded before it finished
            self._drop(host.job.torrent_id)
            shutil.rmtree(rec.snapshot_dir(host.job.seq), ignore_errors=True)
            host.job = None
        try:
            self._link_unchanged(rec, host, entry)
            tid = self._add(rec, entry, seed=False)
        except TidegateError as exc:
            host.error = f"snapshot {entry.seq}: {exc}"
            self.changed = True
            return
        host.job = Job(entry.seq, tid, time.monotonic())
        host.error = ""
        self._save(rec, host)
        self.changed = True

    def _add(self, rec: SiteRecord, entry: Update, seed: bool) -> str:
        folder = rec.snapshot_dir(entry.seq)
        folder.mkdir(parents=True, exist_ok=True)
        meta = rec.snapshot_torrent(entry.seq)
        role = f"snapshot {entry.seq}"
        if meta.exists():
            # tor-all: no DHT and no peer address; the site's onion service is a web seed
            seeds = (web_seed_url(rec.address, entry.seq),) if (
                self.engine.config.tor.mode == "tor-all" and not rec.owner) else ()
            request = site_torrent(rec.address, role, torrent=meta.read_bytes(), source=str(meta),
                                   save_path=str(folder), seed_mode=seed or rec.owner,
                                   web_seeds=seeds)
        else:
            request = site_torrent(rec.address, role, uri=entry.magnet, source=entry.magnet,
                                   save_path=str(folder))
        tid = add_torrent(self.engine, request, "add the snapshot")
        self.engine.reannounce(tid)  # into the DHT now, not at the next interval
        return tid

    def _link_unchanged(self, rec: SiteRecord, host: SiteHost, entry: Update) -> None:
        have: dict[tuple[bytes, int], Path] = {}
        for seq in sorted(host.kept):
            old = rec.update_at(seq)
            if old is None:
                continue
            base = rec.snapshot_dir(seq) / NAME
            for f in old.files:
                if f.root is not None:
                    have[(f.root, f.size)] = base.joinpath(*f.path)
        base = rec.snapshot_dir(entry.seq) / NAME
        for f in entry.files:
            source = have.get((f.root, f.size)) if f.root is not None else None
            target = base.joinpath(*f.path)
            if source is None or target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
                self.linked_bytes += f.size
            except OSError:
                pass  # downloaded instead

    # ------------------------------------------------------------------ progress

    def tick(self, mono: float, emit: Callable[[Event], None]) -> None:
        torrents = self.engine.snapshot.torrents
        for address, host in list(self.sites.items()):
            try:
                self._tick_site(address, host, torrents, mono, emit)
            except EngineStoppedError:
                raise
            except Exception as exc:  # this site's fault: its error; the others go on
                message = f"{INTERNAL}{describe(exc)}"
                if host.error != message:
                    emit(Log(level="error", message=f"hosting {address}: {message}"))
                    host.error = message
                    self.changed = True
            else:
                if host.error.startswith(INTERNAL):  # the fault went away
                    host.error = ""
                    self.changed = True

    def _tick_site(self, address: str, host: SiteHost, torrents: Mapping[str, TorrentState],
                   mono: float, emit: Callable[[Event], None]) -> None:
        job = host.job
        rec = self.registry.sites.get(address)
        if rec is not None and host.rechecks:
            self._follow_rechecks(rec, host, mono, emit)
        if job is None or rec is None:
            return
        state = torrents.get(job.torrent_id)
        if state is None:
            host.job = None
            host.error = f"snapshot {job.seq}: its torrent was removed"
            self.changed = True
            return
        if state.complete_on_disk:
            self._finish(rec, host, job, emit)
            return
        if state.wanted_done > job.done_bytes:
            job.done_bytes = state.wanted_done
            job.progress_at = mono
            self.changed = True
        if state.num_peers == 0 and mono >= job.next_nudge:
            job.next_nudge = mono + RETRY_NUDGE
            self.engine.reannounce(job.torrent_id)
        if mono - job.progress_at > self.fetch_timeout:
            job.progress_at = mono
            host.error = (f"snapshot {job.seq}: no progress for {self.fetch_timeout:g} s; "
                          "still trying")
            self.changed = True

    def _verify(self, rec: SiteRecord, seq: int) -> list[str]:
        """Hash every file of snapshot ``seq`` against its manifest; when all match, write
        the files' piece layers next to it (the proxy's per-piece checks use them)."""
        entry = rec.update_at(seq)
        if entry is None:
            return ["no verified entry"]
        length = piece_size_for(sum(f.size for f in entry.files))
        problems, layers = verify_with_layers(rec.snapshot_dir(seq) / NAME, entry, length)
        if not problems:
            write_synced(rec.snapshot_dir(seq) / LAYERS_FILE, encode_layers(length, layers))
        return problems

    def recheck(self, address: str, seq: int, path: str, message: str,
                emit: Callable[[Event], None]) -> None:
        """The proxy found a file of snapshot ``seq`` that differs from the chain: have
        libtorrent recheck it (bad pieces are downloaded again) and verify it afterwards."""
        host = self.sites.get(address)
        tid = host.kept.get(seq) if host is not None else None
        if host is None or tid is None:
            return
        text = f"snapshot {seq}: {message}; rechecking"
        host.error = text
        host.rechecks[seq] = time.monotonic()
        self.changed = True
        emit(SiteRefused(address=address, reason="bad_piece", message=text))
        emit(Log(level="warning", message=f"proxy refused {address}/{path}: {message}"))
        self.engine.recheck(tid)

    def _follow_rechecks(self, rec: SiteRecord, host: SiteHost, mono: float,
                         emit: Callable[[Event], None]) -> None:
        torrents = self.engine.snapshot.torrents
        for seq, since in list(host.rechecks.items()):
            state = torrents.get(host.kept.get(seq, ""))
            if state is None:
                host.rechecks.pop(seq)
                continue
            if mono - since < RECHECK_SETTLE or not state.complete_on_disk:
                if state.num_peers == 0 and mono >= host.recheck_nudge:
                    host.recheck_nudge = mono + RETRY_NUDGE  # find the swarm again
                    self.engine.reannounce(host.kept[seq])
                continue
            host.rechecks.pop(seq)
            problems = self._verify(rec, seq)
            self.changed = True
            if problems:
                host.error = f"snapshot {seq} still differs after a recheck: " + \
                    "; ".join(problems[:5])
                emit(SiteRefused(address=rec.address, reason="bad_files", message=host.error))
            else:
                host.error = ""
                host.checked = time.time()
                self._save(rec, host)
                emit(Log(level="info", message=f"{rec.address}: snapshot {seq} repaired"))

    def _finish(self, rec: SiteRecord, host: SiteHost, job: Job,
                emit: Callable[[Event], None]) -> None:
        host.job = None
        problems = self._verify(rec, job.seq)
        self.changed = True
        if problems:
            host.error = f"snapshot {job.seq} refused: " + "; ".join(problems[:5])
            emit(SiteRefused(address=rec.address, reason="bad_files", message=host.error))
            self._drop(job.torrent_id, delete=True)
            shutil.rmtree(rec.snapshot_dir(job.seq), ignore_errors=True)
            self._save(rec, host)
            return
        host.kept[job.seq] = job.torrent_id
        host.checked = time.time()
        host.error = ""
        for seq in sorted(host.kept)[:-self.keep]:
            self._drop(host.kept.pop(seq), delete=True)
            shutil.rmtree(rec.snapshot_dir(seq), ignore_errors=True)
            rec.snapshot_torrent(seq).unlink(missing_ok=True)
        self._save(rec, host)
        self.engine.reannounce(job.torrent_id)
        emit(SiteHosted(address=rec.address, snapshot=job.seq))

    def _drop(self, torrent_id: str, delete: bool = True) -> None:
        remove_torrent(self.engine, torrent_id, delete)

    def forget(self, address: str, delete: bool) -> None:
        host = self.sites.pop(address, None)
        if host is None:
            return
        ids = list(host.kept.values()) + ([host.job.torrent_id] if host.job else [])
        for tid in ids:
            self._drop(tid, delete)
        self.changed = True

    def state_for(self, address: str) -> SiteHosting:
        host = self.sites.get(address)
        if host is None:
            return SiteHosting()
        torrents = self.engine.snapshot.torrents
        ids = list(host.kept.values()) + ([host.job.torrent_id] if host.job else [])
        peers = sum(t.num_peers for tid in ids if (t := torrents.get(tid)) is not None)
        progress = 1.0 if host.kept else 0.0
        if host.job is not None and (t := torrents.get(host.job.torrent_id)) is not None:
            progress = t.progress
        return SiteHosting(seq=max(host.kept, default=-1),
                           fetching=host.job.seq if host.job else -1, progress=progress,
                           peers=peers, kept=len(host.kept), checked=host.checked,
                           error=host.error)

    def newest(self, address: str) -> int:
        host = self.sites.get(address)
        return max(host.kept, default=-1) if host else -1

