"""Watch folders: ``.torrent`` and ``.magnet`` files dropped in a folder are added once.

:class:`WatchService` is a thread of its own that looks at each configured folder every
``watch.interval`` seconds (``os.scandir``: one pass over the folder, no per-file system
call beyond a ``stat``) and hands what it finds to the engine through
:class:`~engine.services.TorrentService`. A file is taken when its size and modification
time are the same at two looks in a row (one still being written is waited for), and it
must then decode completely (one that does not is given :data:`SETTLE` seconds from its
last change to be finished before it is refused).

Once added (or found already present: the engine refuses a duplicate, so a file added
just before a crash and not yet moved is moved at the next start, not added twice) the
file is moved to ``<folder>/.added/`` or renamed ``NAME.added``. A bad file is renamed
``NAME.invalid`` and the error written to ``NAME.error.txt`` beside it; neither name is
looked at again, so nothing is retried in a loop. Each look handles at most
``watch.max_per_poll`` files; the rest wait for the next look. Nothing is written
outside the folder: links are never followed, names are never taken from a file.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from ..config.watchhooks import WatchConfig, WatchFolder
from ..errors import DuplicateTorrentError, EngineStoppedError, TidegateError
from ..requests import AddRequest
from ..safetext import clean, shorten
from ..services import TorrentService
from ..torrents.inputs import parse_torrent, parse_uri
from .state import WatchFolderState

SUFFIXES = (".torrent", ".magnet")
DONE_DIR = ".added"
MAX_MAGNET_FILE = 64 * 1024
"""A .magnet file holds one URI: anything larger is refused unread."""
ADD_TIMEOUT = 120.0
"""Seconds one look waits for the engine to take what it handed it."""
SETTLE = 10.0
"""Seconds a file that is stable but does not decode (a .torrent cut short, a .magnet
with half a URI) is given to be finished, counted from its last change, before it is
refused (``3 * watch.interval`` when that is longer)."""
MAX_SUFFIX = 1000
"""``NAME.added.1`` ... : tries for a free name before giving up on a file."""


class BadFile(Exception):
    """A watched file that will not be added: the reason is for its ``.error.txt``."""


class Transient(Exception):
    """The engine could not take a file now (stopped, too slow): it is tried again."""


class Folder:
    """One watched folder and what was seen in it at the last look."""

    def __init__(self, cfg: WatchFolder, interval: float):
        self.cfg = cfg
        self.path = Path(os.path.expanduser(cfg.path))
        self.interval = interval
        self.seen: dict[str, tuple[int, int]] = {}
        """Name -> (size, mtime_ns) at the last look."""
        self.stuck: set[tuple[str, int, int]] = set()
        """Files that could be neither moved nor renamed: never tried again as they are."""
        self.added = self.invalid = self.waiting = 0
        self.last_error = ""
        self.last_error_time = self.last_poll = 0.0

    def state(self) -> WatchFolderState:
        return WatchFolderState(
            path=str(self.path), category=self.cfg.category, save_path=self.cfg.save_path,
            added=self.added, invalid=self.invalid, waiting=self.waiting,
            last_error=self.last_error, last_error_time=self.last_error_time,
            last_poll=self.last_poll)

    def error(self, message: str) -> None:
        self.last_error = shorten(clean(message), 500)
        self.last_error_time = time.time()

    # ------------------------------------------------------------------ one look

    def scan(self, budget: int) -> list[tuple[str, os.stat_result]]:
        """The files ready to be handled (at most ``budget``), in name order."""
        seen: dict[str, tuple[int, int]] = {}
        ready: list[tuple[str, os.stat_result]] = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                key = (st.st_size, st.st_mtime_ns)
                seen[name] = key
                if self.seen.get(name) == key and (name, *key) not in self.stuck:
                    ready.append((name, st))
        self.seen = seen
        ready.sort(key=lambda r: r[0])
        self.waiting = len(seen) - min(len(ready), budget)
        return ready[:budget]

    def request(self, name: str, st: os.stat_result, engine: TorrentService
                ) -> AddRequest | None:
        """The add request for a ready file; None to wait for it a little longer.

        Raises:
            BadFile: the file will never be added; says why.
        """
        path = self.path / name
        source = str(path)
        if not stat.S_ISREG(st.st_mode):
            raise BadFile("not a regular file (links are not followed)")
        limits = engine.config.limits
        most = limits.max_torrent_file_size if name.lower().endswith(".torrent") \
            else MAX_MAGNET_FILE
        if st.st_size > most:
            raise BadFile(f"{st.st_size} bytes is more than the limit of {most}")
        data = _read(path, most)
        save_path = self.cfg.save_path or None
        if name.lower().endswith(".torrent"):
            try:
                parse_torrent(data, source, limits)
            except TidegateError as exc:
                self._unfinished(st, str(exc))
                return None
            return AddRequest(torrent=data, source=source, category=self.cfg.category,
                              save_path=save_path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadFile("not UTF-8 text (a .magnet file holds one magnet URI)") from None
        uri = next((line.strip() for line in text.splitlines() if line.strip()), "")
        if not uri:
            self._unfinished(st, "empty (a .magnet file holds one magnet URI)")
            return None
        try:
            parse_uri(uri, source)
        except TidegateError as exc:
            self._unfinished(st, str(exc))
            return None
        return AddRequest(uri=uri, source=source, category=self.cfg.category,
                          save_path=save_path)

    def _unfinished(self, st: os.stat_result, why: str) -> None:
        """Wait for a file that does not decode yet, until it has not changed for
        :data:`SETTLE` seconds; then refuse it."""
        if time.time() - st.st_mtime >= max(SETTLE, 3 * self.interval):
            raise BadFile(why)

    def poll(self, engine: TorrentService, budget: int) -> int:
        """Look once; returns how many files were handled (added or refused)."""
        self.last_poll = time.time()
        if self.cfg.category and self.cfg.category not in engine.snapshot.categories:
            self.error(f"{self.path}: category {self.cfg.category!r} does not exist "
                       "(add it: `tidegate category add NAME`); nothing is added from here")
            return 0
        try:
            ready = self.scan(budget)
        except FileNotFoundError:
            self.error(f"{self.path}: no such folder")
            return 0
        except OSError as exc:
            self.error(f"{self.path}: cannot read the folder: {exc.strerror or exc}")
            return 0
        pending: list[tuple[str, os.stat_result, Future[str]]] = []
        handled = 0
        for name, st in ready:
            try:
                req = self.request(name, st, engine)
            except BadFile as exc:
                self.refuse(name, st, str(exc))
                handled += 1
                continue
            except OSError as exc:  # gone or unreadable since the scan: look again later
                self.seen.pop(name, None)
                self.error(f"{self.path / name}: {exc.strerror or exc}")
                continue
            if req is not None:
                pending.append((name, st, engine.add(req)))
        deadline = time.monotonic() + ADD_TIMEOUT
        for name, st, fut in pending:
            try:
                _taken(fut, deadline)
            except Transient as exc:
                self.seen.pop(name, None)  # tried again once stable at two more looks
                self.error(f"{self.path / name}: not added yet: {exc}")
                continue
            except BadFile as exc:
                self.refuse(name, st, str(exc))
                handled += 1
                continue
            self.done(name, st)
            handled += 1
        return handled

    # ------------------------------------------------------------------ after

    def done(self, name: str, st: os.stat_result) -> None:
        self.added += 1
        self.seen.pop(name, None)
        try:
            if self.cfg.done == "move":
                target = self.path / DONE_DIR
                try:
                    os.mkdir(target, 0o755)
                except FileExistsError:
                    if not stat.S_ISDIR(os.lstat(target).st_mode):
                        raise OSError(errno.ENOTDIR, f"{target} is not a folder") from None
                _rename_free(self.path / name, target, name)
            else:
                _rename_free(self.path / name, self.path, name + ".added")
        except OSError as exc:
            self.stuck.add((name, st.st_size, st.st_mtime_ns))
            self.error(f"{self.path / name}: added, but could not be moved: "
                       f"{exc.strerror or exc}")

    def refuse(self, name: str, st: os.stat_result, why: str) -> None:
        self.invalid += 1
        self.seen.pop(name, None)
        path = self.path / name
        message = why if why.startswith(f"{path}:") else f"{path}: {why}"
        self.error(message)
        try:
            renamed = _rename_free(path, self.path, name + ".invalid")
            _write_new(self.path / (renamed[: -len(".invalid")] + ".error.txt"),
                       clean(message) + "\n")  # read in terminals: no raw escapes
        except OSError as exc:
            self.stuck.add((name, st.st_size, st.st_mtime_ns))
            self.error(f"{message} (and it could not be renamed: {exc.strerror or exc})")


def _taken(fut: Future[str], deadline: float) -> None:
    """Wait for an add; an already present torrent counts as taken."""
    try:
        fut.result(max(0.0, deadline - time.monotonic()))
    except DuplicateTorrentError:
        return
    except (EngineStoppedError, FutureTimeout) as exc:
        raise Transient(str(exc) or "the engine did not answer in time") from None
    except TidegateError as exc:
        raise BadFile(str(exc)) from None
    except Exception as exc:  # the engine's fault, shown as this file's error
        raise BadFile(f"could not be added: {type(exc).__name__}: {exc}") from None


def _read(path: Path, most: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        return f.read(most + 1)


def _rename_free(src: Path, folder: Path, name: str) -> str:
    """Move ``src`` into ``folder`` as ``name`` (or ``name.1``, ``name.2``... when taken),
    never replacing a file; returns the name used."""
    for n in range(MAX_SUFFIX):
        candidate = name if n == 0 else f"{name}.{n}"
        try:
            os.link(src, folder / candidate, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if os.path.lexists(folder / candidate):  # no hard links here: check, then rename
                continue
            os.rename(src, folder / candidate)
            return candidate
        os.unlink(src)
        return candidate
    raise OSError(errno.EEXIST, f"no free name for {name} in {folder}")


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
        f.write(text)


class WatchService:
    """The watch folders' thread (started by the node when ``watch.folders`` lists any)."""

    def __init__(self, engine: TorrentService, config: WatchConfig):
        self.engine = engine
        self.config = config
        self.folders = [Folder(f, config.interval) for f in config.folders]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        """Looks done so far (each over every folder)."""

    def start(self) -> WatchService:
        self._thread = threading.Thread(target=self._run, name="tidegate-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def states(self) -> list[WatchFolderState]:
        """Each folder's counts and last error (read from any thread)."""
        return [f.state() for f in self.folders]

    def poll_once(self) -> int:
        """Look at every folder once; returns the files handled."""
        handled = 0
        budget = self.config.max_per_poll
        for folder in self.folders:
            try:
                n = folder.poll(self.engine, max(0, budget - handled))
            except Exception as exc:  # never the engine's end: the folder's error
                folder.error(f"{folder.path}: {type(exc).__name__}: {exc}")
                n = 0
            handled += n
        self.polls += 1
        return handled

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.config.interval)
