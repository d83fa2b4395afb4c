"""A local seeder swarm for ``tidegate tui --demo``.

A newcomer with no internet (or no torrent at hand) should still see real
downloads in the UI within seconds: peers connecting, rates, a magnet fetching
its metadata, pieces arriving, torrents completing. :class:`DemoSwarm` writes
deterministic sample content, makes torrents of every kind (v1, v2, hybrid)
from it and seeds them from a few engines on 127.0.0.1, each with an upload
limit so a download stays visible for about a minute. The frontend starts its
own engine from :meth:`DemoSwarm.demo_config` and adds :meth:`DemoSwarm.requests`.

Only the engine's public API is used here: no libtorrent, no ZeroMQ, no UI.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tidegate.engine import AddRequest, Engine, Snapshot
from tidegate.engine.config import LOOPBACK_NETWORK, LoadedConfig, from_dict
from tidegate.engine.errors import TidegateError
from tidegate.engine.metainfo import Created, CreateSpec, Format, create_torrent
from tidegate.engine.paths import resolve_paths

MiB = 1024 * 1024
DEFAULT_SEED_RATE = 3 * MiB // 2
"""Upload limit of each seeder, bytes/s: three seeders give ~4.5 MiB/s, about a minute."""

DEMO_NO_SITES = ("the demo runs no sites: its swarm lives on 127.0.0.1 with the DHT off, "
                 "and sites are found and followed through the DHT. Run `tidegate tui` "
                 "(or `tidegate daemon`) to publish and follow sites")

_WORDS = ("tide harbour gate lantern keel buoy gull drift anchor current swell reef dune "
          "beacon ebb flood mooring pier salt chart compass ashore ferry cove").split()
_TRACKS = ("Low Tide", "Harbour Lights", "Breakwater", "Undertow", "Slack Water", "Spring Tide",
           "Neap", "Riptide", "Sea Wall", "Fog Horn", "Moon Pull", "High Water")


def _loaded(home: Path, **sections: dict[str, Any]) -> LoadedConfig:
    raw: dict[str, Any] = {"network": dict(LOOPBACK_NETWORK), **sections}
    return LoadedConfig(from_dict(raw), resolve_paths({"TIDEGATE_HOME": str(home)}),
                        frozenset(), False)


def _write_random(path: Path, size: int, pool: bytes, seed: str) -> None:
    """``size`` deterministic pseudo-random bytes: slices of ``pool`` at seeded offsets."""
    rng = random.Random(seed)
    chunk = MiB
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            at = rng.randrange(len(pool) - n)
            f.write(pool[at:at + n])
            left -= n


def _write_text(path: Path, size: int, seed: str) -> None:
    rng = random.Random(seed)
    words = rng.choices(_WORDS, k=size // 6 + 1)
    lines = (" ".join(words[i:i + 12]) for i in range(0, len(words), 12))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\n".join(lines).encode()[:size])


def _seeding(ids: list[str]) -> Callable[[Snapshot], bool]:
    """A predicate: the engine listens and seeds every torrent in ``ids``."""
    return lambda s: s.stats.listen_port > 0 and all(
        i in s.torrents and s.torrents[i].phase == "seeding" for i in ids)


class DemoSwarm:
    """Seeders on loopback sharing generated sample content.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Stop the
    frontend's own engine (from :meth:`demo_config`) before :meth:`stop`, which
    may delete the folder that engine writes to.

    Args:
        root: working folder (content, seeder homes, the frontend's home and
            downloads). A fresh ``/tmp/tgdemo*`` folder when None. Removed on stop
            only when :meth:`start` created it.
        seeders: number of seeding engines.
        seed_rate: upload limit of each seeder in bytes/s (0 is unlimited).
        scale: factor applied to payload sizes (tests use a small one).
        seed: seed of the pseudo-random content.
    """

    def __init__(self, root: Path | None = None, *, seeders: int = 3,
                 seed_rate: int = DEFAULT_SEED_RATE, scale: float = 1.0, seed: int = 2024):
        if seeders < 1 or scale <= 0 or seed_rate < 0:
            raise ValueError("seeders must be >= 1, scale > 0 and seed_rate >= 0")
        self.root = Path(root) if root is not None else None
        self.seeders = seeders
        self.seed_rate = seed_rate
        self.scale = scale
        self.seed = seed
        self.engines: list[Engine] = []
        """The seeding engines, once started."""
        self.torrents: list[Created] = []
        """The sample torrents, in the order of :meth:`requests`."""
        self.magnet_name = ""
        """Name of the torrent that :meth:`requests` adds by magnet."""
        self.peers: tuple[str, ...] = ()
        """The seeders' ``127.0.0.1:PORT`` addresses."""
        self._owned = False

    # ------------------------------------------------------------------ paths

    @property
    def base(self) -> Path:
        """The working folder (known once started, or when given)."""
        if self.root is None:
            raise RuntimeError("the demo swarm is not started")
        return self.root

    @property
    def content_dir(self) -> Path:
        """Where the sample payloads are written and seeded from."""
        return self.base / "content"

    @property
    def download_dir(self) -> Path:
        """Where the frontend's engine downloads to."""
        return self.base / "downloads"

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> DemoSwarm:
        """Write the content, create the torrents and start seeding (~1 s at scale 1).

        Args:
            timeout: bound on each wait (an engine starting, an add, seeding everything).

        Raises:
            TimeoutError: a seeder did not listen or seed everything within ``timeout``.
            TidegateError: an engine failed to start or refused a torrent.
        """
        if self.engines:
            raise RuntimeError("the demo swarm is already started")
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="tgdemo"))
            self._owned = True
        elif not self.root.exists():
            self.root.mkdir(parents=True)
            self._owned = True
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        self.torrents = [create_torrent(CreateSpec(path=str(path), format=fmt))
                         for path, fmt in self._write_content()]
        self.magnet_name = self.torrents[-1].name
        for i in range(self.seeders):
            loaded = _loaded(
                self.base / f"seeder{i + 1}",
                rates={"upload": self.seed_rate, "limit_local_peers": True},
                engine={"stop_timeout": 5.0})
            engine = Engine(loaded, restore=False)
            engine.start(timeout)
            self.engines.append(engine)
        ports = []
        for engine in self.engines:
            ids = [engine.add(AddRequest(torrent=c.data, source=c.name, save_path=c.save_path,
                                         seed_mode=True)).result(timeout)
                   for c in self.torrents]
            snap = engine.wait_for(_seeding(ids), timeout)
            ports.append(snap.stats.listen_port)
        self.peers = tuple(f"127.0.0.1:{port}" for port in ports)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every seeder (in parallel, each within a bounded time); remove an owned root.

        Raises:
            TidegateError: the first seeder that failed to stop (after trying them all).
        """
        errors: list[BaseException] = []

        def stop_one(engine: Engine) -> None:
            try:
                engine.stop(timeout)
            except TidegateError as exc:
                errors.append(exc)

        if self.engines:
            with ThreadPoolExecutor(len(self.engines)) as pool:
                list(pool.map(stop_one, self.engines))
        if self._owned and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self._owned = False
        if errors:
            raise errors[0]

    def __enter__(self) -> DemoSwarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ for the frontend

    def demo_config(self) -> LoadedConfig:
        """Config of the frontend's own engine: home ``root/home``, downloads ``root/downloads``."""
        return _loaded(self.base / "home", storage={"download_dir": str(self.download_dir)})

    def main_engine(self) -> Engine:
        """An unstarted engine from :meth:`demo_config`; the caller starts and stops it."""
        return Engine(self.demo_config(), no_sites=DEMO_NO_SITES)

    def requests(self) -> list[AddRequest]:
        """What the frontend's engine adds to download everything; one is a magnet."""
        if not self.peers:
            raise RuntimeError("the demo swarm is not started")
        common: dict[str, Any] = {"save_path": str(self.download_dir), "peers": self.peers}
        return [AddRequest(uri=c.magnet, source=c.magnet, **common)
                if c.name == self.magnet_name else
                AddRequest(torrent=c.data, source=f"{c.name}.torrent", **common)
                for c in self.torrents]

    # ------------------------------------------------------------------ content

    def _size(self, size: int, least: int = 1024) -> int:
        return max(least, int(size * self.scale))

    def _write_content(self) -> list[tuple[Path, Format]]:
        """Write the sample payloads; returns (path, torrent format) per torrent."""
        top = self.content_dir
        shutil.rmtree(top, ignore_errors=True)
        pool = random.Random(self.seed).randbytes(4 * MiB)

        def blob(path: Path, size: int) -> Path:
            _write_random(path, self._size(size), pool, f"{self.seed}:{path.relative_to(top)}")
            return path

        video = blob(top / "Tidegate Demo Reel.mkv", 128 * MiB)
        dataset = top / "Coastal Survey Dataset"
        _write_text(dataset / "README.txt", 4096, f"{self.seed}:readme")
        for year in ("2023", "2024"):
            for part in range(4):
                blob(dataset / "raw" / year / f"soundings-{part:02d}.bin", 5 * MiB)
        blob(dataset / "processed" / "tides.parquet", 8 * MiB)
        texts = top / "Lighthouse Logbook"
        rng = random.Random(self.seed)
        for n in range(60):
            _write_text(texts / f"volume-{n // 20 + 1}" / f"entry-{n:03d}.txt",
                        self._size(rng.randrange(2048, 65536), 256), f"{self.seed}:log{n}")
        album = top / "Harbour Sessions"
        for n, title in enumerate(_TRACKS, 1):
            blob(album / f"{n:02d} {title}.flac", 4 * MiB)
        # The last one is added by magnet (see requests()).
        return [(video, "v1"), (dataset, "v2"), (texts, "v1"), (album, "hybrid")]
