"""Event hooks: a program run when a torrent is added, completes or errs (``[hooks]``).

The program and its arguments are a list from the config file, run as they are with
``subprocess`` and ``shell=False``: a torrent's name or a shell metacharacter in an
argument is never interpreted. What the hook needs to know is in its environment
(``TIDEGATE_EVENT``, ``TIDEGATE_HASH``, ``TIDEGATE_NAME``, ``TIDEGATE_PATH``,
``TIDEGATE_CATEGORY``). At most ``hooks.max_running`` run at once, each for at most
``hooks.timeout`` seconds (then its process group is killed); its exit status and the
tail of its standard error are logged as the engine's ``Log`` events (level ``error``
unless it exited 0, so the TUI notifies it). A hook that fails or hangs costs a worker
thread its time, never the engine.

The runner is built from the config the node read from its file and never reads the
config again: no API can set or change what it runs (``apply_config`` refuses a
``[hooks]`` section: :func:`engine.config.watchhooks.keep_file_only`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time

from ..config.watchhooks import HooksConfig
from ..events import EventStream, Log, TorrentAdded, TorrentCompleted, TorrentErrored
from ..safetext import clean, shorten
from ..services import TorrentService

TAIL = 2048
"""Bytes of a hook's standard error kept for the log."""
LOOKUP_WAIT = 2.0
"""Seconds a hook waits for its torrent to show in a snapshot (path and category)."""


class Job:
    """One hook to run: the event's name and the torrent."""

    __slots__ = ("event", "torrent_id", "name", "message")

    def __init__(self, event: str, torrent_id: str, name: str, message: str = ""):
        self.event, self.torrent_id, self.name, self.message = event, torrent_id, name, message


class HookRunner:
    """Runs the configured hooks on the engine's events (started by the node)."""

    def __init__(self, engine: TorrentService, hooks: HooksConfig):
        self.engine = engine
        self.hooks = hooks
        self.commands = {"complete": list(hooks.on_complete), "add": list(hooks.on_add),
                         "error": list(hooks.on_error)}
        self._jobs: queue.Queue[Job] = queue.Queue(hooks.max_queued)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._stream: EventStream | None = None
        self._lock = threading.Lock()
        self.ran = 0
        """Hooks run to their end (or killed) so far."""

    @property
    def enabled(self) -> bool:
        return any(self.commands.values())

    def start(self) -> HookRunner:
        if not self.enabled:
            return self
        self._stream = self.engine.subscribe()
        self._spawn(self._dispatch, "tidegate-hooks")
        for i in range(self.hooks.max_running):
            self._spawn(self._work, f"tidegate-hook-{i}")
        return self

    def _spawn(self, target: object, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.closed = True
            with contextlib.suppress(Exception):
                self.engine.unsubscribe(stream)
        with self._lock:
            running = list(self._running.values())
        for proc in running:
            _kill(proc)
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))

    # ------------------------------------------------------------------ events in

    def _dispatch(self) -> None:
        stream = self._stream
        assert stream is not None
        while not self._stop.is_set():
            event = stream.get(timeout=0.25)
            if isinstance(event, TorrentAdded) and not event.restored:
                self._queue(Job("add", event.torrent_id, event.name))
            elif isinstance(event, TorrentCompleted):
                self._queue(Job("complete", event.torrent_id, event.name))
            elif isinstance(event, TorrentErrored):
                self._queue(Job("error", event.torrent_id, "", event.message))

    def _queue(self, job: Job) -> None:
        if not self.commands[job.event]:
            return
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self._log("error", f"hook on_{job.event} for {job.torrent_id} dropped: "
                                 f"{self.hooks.max_queued} hooks already wait "
                                 "(hooks.max_queued)")

    # ------------------------------------------------------------------ running

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=0.25)
            except queue.Empty:
                continue
            try:
                self.run(job)
            except Exception as exc:  # never the engine's end: logged
                self._log("error", f"hook on_{job.event} for {job.torrent_id} failed: "
                                   f"{type(exc).__name__}: {exc}")

    def environment(self, job: Job) -> dict[str, str]:
        """The hook's environment: this process's, with the torrent's facts added."""
        name, path, category = job.name, "", ""
        end = time.monotonic() + LOOKUP_WAIT
        while True:
            t = self.engine.snapshot.torrents.get(job.torrent_id)
            if t is not None or time.monotonic() >= end or self._stop.is_set():
                break
            time.sleep(0.05)
        if t is not None:
            name, path, category = t.name or name, t.save_path, t.category
        env = dict(os.environ)
        env.update({"TIDEGATE_EVENT": job.event, "TIDEGATE_HASH": job.torrent_id,
                    "TIDEGATE_NAME": name, "TIDEGATE_PATH": path,
                    "TIDEGATE_CATEGORY": category})
        if job.message:
            env["TIDEGATE_ERROR"] = job.message
        return {k: v.replace("\0", "") for k, v in env.items()}

    def run(self, job: Job) -> int | None:
        """Run the hook for ``job``; its exit status (None: killed at the timeout)."""
        argv = self.commands[job.event]
        what = f"hook on_{job.event} ({shorten(clean(argv[0]), 120)}) for {job.torrent_id}"
        env = self.environment(job)
        try:
            proc = subprocess.Popen(argv, shell=False, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    close_fds=True, start_new_session=True)
        except (OSError, ValueError) as exc:
            self._log("error", f"{what} could not start: {exc}")
            return None
        with self._lock:
            self._running[proc.pid] = proc
        tail = bytearray()
        reader = threading.Thread(target=_read_tail, args=(proc, tail), daemon=True)
        reader.start()
        try:
            status: int | None = proc.wait(self.hooks.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            proc.wait()
            status = None
        finally:
            with self._lock:
                self._running.pop(proc.pid, None)
        reader.join(5.0)
        self.ran += 1
        err = shorten(clean(bytes(tail).decode("utf-8", "replace").strip()), TAIL)
        said = f"; stderr: {err}" if err else ""
        if status is None:
            self._log("error", f"{what} killed after {self.hooks.timeout:g} s "
                                 f"(hooks.timeout){said}")
        elif status != 0:
            self._log("error", f"{what} exited with status {status}{said}")
        else:
            self._log("info", f"{what} exited with status 0{said}")
        return status

    def _log(self, level: str, message: str) -> None:
        with contextlib.suppress(Exception):
            self.engine.post_event(Log(level=level, message=message))


def _read_tail(proc: subprocess.Popen[bytes], tail: bytearray) -> None:
    """Read a hook's standard error to its end, keeping the last :data:`TAIL` bytes."""
    pipe = proc.stderr
    if pipe is None:
        return
    with pipe:
        while chunk := os.read(pipe.fileno(), 65536):
            tail += chunk
            if len(tail) > TAIL:
                del tail[:-TAIL]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill a hook and what it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
