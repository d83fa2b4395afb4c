"""A frozen engine for pixel snapshots of the TUI.

Screenshots compare every cell, so their input must not move: rates, times,
ports and free space of a live engine change from run to run. This stand-in
serves one fixed :class:`Snapshot` and fixed :class:`TorrentDetails` and takes
no commands. It is used only by the snapshot tests; every action is tested
against real engines in test_tui_app.py, test_tui_detail.py and
test_tui_terminal.py.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from types import MappingProxyType
from typing import Any

from tidegate.engine import commands as cmds
from tidegate.engine.config import Config
from tidegate.engine.errors import EngineError, UnknownTorrentError
from tidegate.engine.events import EventStream
from tidegate.engine.requests import AddRequest
from tidegate.engine.state import (
    FileState,
    PeerState,
    Phase,
    SessionStats,
    SiteHosting,
    SiteState,
    Snapshot,
    TorrentDetails,
    TorrentState,
    TrackerState,
    WebState,
)

NOON = 1763726400  # 2025-11-21 12:00 UTC: the same date in every time zone within 11 h
HOSTILE = "evil\x1b[31mRED\x1b]0;pwned\x07 [bold]markup[/bold] \u202eLTR\u202c"


def torrent(n: int, name: str, phase: Phase, progress: float, **kw: Any) -> TorrentState:
    size = kw.pop("total_size", (n + 1) * 700 * 1024 * 1024)
    values: dict[str, Any] = dict(
        id=f"{n:02d}" * 20, number=n, name=name, info_hash_v1=f"{n:02d}" * 20,
        info_hash_v2=None,
        phase=phase, progress=progress, total_size=size, wanted=size,
        wanted_done=int(size * progress), download_rate=0, upload_rate=0, num_peers=0,
        num_seeds=0, swarm_seeds=-1, swarm_peers=-1, all_time_download=int(size * progress),
        all_time_upload=0, ratio=0.0, eta=-1, save_path="/home/user/Downloads",
        added_time=NOON - n * 86400, completed_time=0, seeding_time=0, has_metadata=True,
        paused=phase is Phase.PAUSED, sequential=False, queue_position=n, download_limit=0,
        upload_limit=0, ratio_limit=-1.0, seed_time_limit=-1,
        complete_on_disk=progress >= 1, error="", num_pieces=64, pieces_done=int(64 * progress))
    values.update(kw)
    return TorrentState(**values)


TORRENTS = (
    torrent(1, "debian-13.2.0-amd64-netinst.iso", Phase.DOWNLOADING, 0.42,
            download_rate=3_400_000, upload_rate=120_000, num_peers=14, num_seeds=9, eta=95,
            ratio=0.05),
    torrent(2, "Big Buck Bunny (2008) 1080p", Phase.SEEDING, 1.0, upload_rate=870_000,
            num_peers=3, ratio=2.4),
    torrent(3, "Lighthouse Logbook", Phase.PAUSED, 0.1),
    torrent(4, "broken-download", Phase.ERROR, 0.3, error="No space left on device"),
    torrent(5, "Coastal Survey Dataset", Phase.CHECKING, 0.66),
    torrent(6, HOSTILE, Phase.METADATA, 0.0, total_size=0, has_metadata=False),
)

STATS = SessionStats(download_rate=3_500_000, upload_rate=1_000_000,
                     payload_download_rate=3_400_000, payload_upload_rate=990_000,
                     total_download=3_200_000_000, total_upload=1_100_000_000, dht_nodes=312,
                     num_peers=17, listen_port=6881, free_disk=412 * 1024**3)



def site_address(seed: str) -> str:
    """A fixed address-shaped string (56 base32 characters + .onion; not a real key)."""
    digest = hashlib.sha512(seed.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:56] + ".onion"


SITES = (
    SiteState(address=site_address("harbour"), name="Harbour Notes", owner=True, height=4,
              head="ab" * 32, head_time=NOON - 2 * 3600 - 300, announced=4,
              source="/home/user/sites/harbour",
              hosting=SiteHosting(seq=4, progress=1.0, peers=3, kept=2)),
    SiteState(address=site_address("tides"), name="Tide Tables", owner=False, height=7,
              head="cd" * 32, head_time=NOON - 3 * 86400, announced=9,
              hosting=SiteHosting(seq=7, fetching=9, progress=0.42, peers=5, kept=1)),
    SiteState(address=site_address("mirror"), name=HOSTILE, owner=False, height=2,
              head="ef" * 32, head_time=NOON - 45, announced=2, equivocating=True,
              error="seq 3: two entries signed by the key",
              hosting=SiteHosting(seq=2, progress=1.0, peers=1, kept=1)),
    SiteState(address=site_address("new"), name="", owner=False, height=-1, head="",
              head_time=0, error="no head announced in the DHT yet"),
)

SNAPSHOT = Snapshot(seq=1, time=float(NOON), torrents=MappingProxyType(
    {t.id: t for t in TORRENTS}), stats=STATS,
    sites=MappingProxyType({s.address: s for s in SITES}),
    web=WebState(url="http://127.0.0.1:8475/", port=8475))

FILES = (
    FileState(index=0, path="Big Buck Bunny (2008) 1080p/movie.mkv", size=1_400_000_000,
              done=1_400_000_000, priority=4),
    FileState(index=1, path="Big Buck Bunny (2008) 1080p/subs/en.srt", size=40_000,
              done=40_000, priority=7),
    FileState(index=2, path="Big Buck Bunny (2008) 1080p/subs/de.srt", size=41_000, done=0,
              priority=0),
    FileState(index=3, path="Big Buck Bunny (2008) 1080p/extras/making-of.mkv",
              size=300_000_000, done=120_000_000, priority=1),
)
PEERS = (
    PeerState(address="127.0.0.1", port=51413, client="Transmission 3.00", flags="SE",
              download_rate=0, upload_rate=640_000, progress=0.31),
    PeerState(address="127.0.0.2", port=6881, client="aria2/1.36.0", flags="I",
              download_rate=0, upload_rate=230_000, progress=0.75),
)
TRACKERS = (
    TrackerState(url="udp://tracker.example:6969/announce", tier=0, status="working",
                 seeds=120, leechers=14, next_announce=1740, last_error=""),
    TrackerState(url="http://backup.example/announce", tier=1, status="error", seeds=-1,
                 leechers=-1, next_announce=300, last_error="connection refused"),
)
PIECES = bytes([1] * 40 + [2] * 6 + [0] * 10 + [1] * 8)


def details_of(t: TorrentState) -> TorrentDetails:
    return TorrentDetails(torrent=t, files=FILES, peers=PEERS, trackers=TRACKERS,
                          pieces=PIECES, piece_length=4 * 1024 * 1024,
                          comment="Blender Foundation", creator="mktorrent 1.1",
                          private=False, magnet=f"magnet:?xt=urn:btih:{t.id}")


def _failed(what: str) -> Future[Any]:
    fut: Future[Any] = Future()
    fut.set_exception(EngineError(f"the still engine takes no commands ({what})"))
    return fut


class StillEngine:
    """Serves :data:`SNAPSHOT` and :func:`details_of` forever; takes no commands."""

    def __init__(self, snapshot: Snapshot = SNAPSHOT) -> None:
        self._snapshot = snapshot

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def running(self) -> bool:
        return True

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        if predicate(self._snapshot):
            return self._snapshot
        time.sleep(timeout)
        raise TimeoutError("still")

    def subscribe(self, maxsize: int = 10_000) -> EventStream:
        return EventStream(maxsize)

    def unsubscribe(self, stream: EventStream) -> None:
        stream.closed = True

    def details(self, torrent_id: str) -> Future[TorrentDetails]:
        fut: Future[TorrentDetails] = Future()
        t = self._snapshot.torrents.get(torrent_id)
        if t is None:
            fut.set_exception(UnknownTorrentError(torrent_id))
        else:
            fut.set_result(details_of(t))
        return fut

    def add(self, request: AddRequest) -> Future[str]:
        return _failed("add")

    def run(self, cmd: cmds.Command[Any]) -> Future[Any]:
        """Details are served; every other command fails (``EngineAPI.run``)."""
        if isinstance(cmd, cmds.Details):
            return self.details(cmd.torrent_id)
        return _failed(cmd.cmd)

    def __getattr__(self, name: str) -> Callable[..., Future[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **k: _failed(name)

    def apply_config(self, config: Config) -> Future[None]:
        return _failed("apply_config")

    def add_trackers(self, torrent_id: str, urls: Iterable[str]) -> Future[None]:
        return _failed("add_trackers")
