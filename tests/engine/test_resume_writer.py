"""The resume writer thread: coalescing, ordering with deletes, reads of queued data, errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.conftest import EngineFactory, make_payload, make_torrent
from tidegate.engine import AddRequest
from tidegate.engine.config import LimitsConfig
from tidegate.engine.events import Log
from tidegate.engine.torrents.resume import ResumeStore
from tidegate.engine.torrents.resume_writer import DELETE, ResumeWriter


class _Gate:
    """Holds the writer thread inside its wake-up callback until opened."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.batches = 0

    def __call__(self) -> None:
        self.batches += 1
        self.open.wait(10)


def test_writes_coalesce_and_a_delete_is_never_undone(tmp_path: Path) -> None:
    gate = _Gate()
    writer = ResumeWriter(tmp_path, gate)
    try:
        a, b = tmp_path / "a", tmp_path / "b"
        writer.put(a, b"first")
        deadline = time.monotonic() + 5
        while gate.batches == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        # the thread is held after its first batch: queue behind it
        assert a.read_bytes() == b"first"
        for i in range(100):
            writer.put(b, b"v%d" % i)
        writer.put(a, b"second")
        writer.put(a, DELETE)
        assert writer.pending(a) == (True, None)
        assert writer.pending(b) == (True, b"v99")
        assert writer.outstanding == 2  # 101 puts, 2 files
        gate.open.set()
        assert writer.flush(10)
        assert not a.exists(), "a write queued before the delete brought the file back"
        assert b.read_bytes() == b"v99"
        assert writer.outstanding == 0 and writer.take_errors() == []
        assert not list(tmp_path.glob(".*.tmp")), "a temp file was left behind"
    finally:
        gate.open.set()
        assert writer.close(10)


def test_failures_are_kept_for_the_engine_to_report(tmp_path: Path) -> None:
    writer = ResumeWriter(tmp_path)
    try:
        blocked = tmp_path / "x.resume"
        blocked.mkdir()  # a folder where the file should go: the rename fails
        writer.put(blocked, b"data")
        writer.put(tmp_path / "ok.resume", b"fine")
        assert writer.flush(10)
        errors = writer.take_errors()
        assert [p for p, _ in errors] == [blocked]
        assert isinstance(errors[0][1], OSError)
        assert (tmp_path / "ok.resume").read_bytes() == b"fine"
        assert writer.take_errors() == []
    finally:
        assert writer.close(10)


def test_store_reads_what_is_queued_before_it_is_on_disk(tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(40_000,))
    created = make_torrent(folder)
    store = ResumeStore(tmp_path / "resume", LimitsConfig())
    tid = created.info_hash_v1 or created.info_hash_v2
    assert tid is not None
    gate = _Gate()
    store.writer._on_done = gate  # hold the thread after its first batch
    try:
        import libtorrent as lt

        from tidegate.engine.torrents.resume import TorrentExtras
        params = lt.load_torrent_buffer(created.data)
        params.save_path = str(folder.parent)
        store.save("0" * 40, params, TorrentExtras())  # the first batch, then held
        deadline = time.monotonic() + 5
        while gate.batches == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        store.save(tid, params, TorrentExtras(comment="queued"))
        assert not store.path(tid).exists() and store.exists(tid)
        loaded = store.load(tid)
        assert getattr(loaded, "extras", None) is not None
        assert loaded.extras.comment == "queued"  # type: ignore[union-attr]
        store.delete(tid)
        assert not store.exists(tid)
        gate.open.set()
        assert store.writer.flush(10)
        assert not store.path(tid).exists()
    finally:
        gate.open.set()
        assert store.close(10)


def test_engine_reports_a_resume_file_it_cannot_write(make_engine: EngineFactory,
                                                     tmp_path: Path) -> None:
    folder = make_payload(tmp_path / "src", sizes=(40_000,))
    created = make_torrent(folder)
    tid = created.info_hash_v1 or created.info_hash_v2
    eng = make_engine("a")
    (eng.state_dir / f"{tid}.resume").mkdir(parents=True)
    events = eng.subscribe()
    eng.add(AddRequest(torrent=created.data, save_path=str(folder.parent))).result(10)
    deadline = time.monotonic() + 15
    logs: list[Log] = []
    while not logs and time.monotonic() < deadline:
        logs = [e for e in events.drain() if isinstance(e, Log) and "resume" in e.message]
        time.sleep(0.05)
    assert logs and logs[0].level == "error"
    assert f"{tid}.resume" in logs[0].message
    # the engine goes on: the torrent is there and seeding
    eng.wait_for(lambda s: tid in s.torrents and s.torrents[tid].phase == "seeding", 10)


def test_delete_now_is_done_on_return_and_beats_a_queued_write(tmp_path: Path) -> None:
    gate = _Gate()
    writer = ResumeWriter(tmp_path, gate)
    try:
        a, b = tmp_path / "a", tmp_path / "b"
        writer.put(a, b"on disk")
        deadline = time.monotonic() + 5
        while gate.batches == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        writer.put(a, b"queued after")  # the thread is held: this waits in the queue
        writer.put(b, b"other")
        writer.delete_now(a)
        assert not a.exists(), "the delete was not done when it returned"
        gate.open.set()
        assert writer.flush(10)
        assert not a.exists(), "the queued write brought the file back"
        assert b.read_bytes() == b"other"
    finally:
        gate.open.set()
        assert writer.close(10)


class _Steps:
    """Lets the writer thread past its wake-up callback one batch per permit."""

    def __init__(self) -> None:
        self.permits = threading.Semaphore(0)
        self.batches = 0
        self.free = False

    def __call__(self) -> None:
        self.batches += 1
        if not self.free:
            self.permits.acquire(timeout=10)

    def wait_batches(self, n: int) -> None:
        deadline = time.monotonic() + 5
        while self.batches < n and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.batches >= n

    def release_all(self) -> None:
        self.free = True
        self.permits.release(1000)


def test_a_write_somebody_waits_for_overtakes_a_long_queue(tmp_path: Path) -> None:
    """When thousands of files are queued (every seed saved at once), a command's own file
    goes first; tickets then become durable out of order, and ``durable`` stays the
    low-water mark."""
    gate = _Steps()
    writer = ResumeWriter(tmp_path, gate)
    try:
        writer.put(tmp_path / "first", b"x")
        gate.wait_batches(1)
        # the thread is held after its first batch: queue a long line behind it
        line = [writer.put(tmp_path / f"seed{i}", b"s%d" % i) for i in range(1000)]
        old = writer.put(tmp_path / "cmd", b"periodic")  # queued like the others...
        urgent = writer.put(tmp_path / "cmd", b"paused", urgent=True)  # ...then waited for
        assert writer.ticket_of(tmp_path / "cmd") == urgent
        assert not writer.done(urgent) and not writer.done(old)
        low = writer.durable
        gate.permits.release()  # one batch more, and the thread is held again
        gate.wait_batches(2)
        assert writer.done(urgent) and writer.done(old)  # one write covers both
        assert (tmp_path / "cmd").read_bytes() == b"paused"
        assert not any(writer.done(t) for t in line), "it did not overtake the line"
        assert writer.not_done({old, urgent, line[0], line[-1]}) == {line[0], line[-1]}
        assert writer.durable == low < urgent  # the line ahead of it is not on disk yet
        gate.release_all()
        assert writer.flush(30)
        assert all(writer.done(t) for t in line) and writer.durable == urgent
        assert writer.ticket_of(tmp_path / "cmd") == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["first", "cmd"] + [f"seed{i}" for i in range(1000)])
    finally:
        gate.release_all()
        assert writer.close(10)


def test_writes_dropped_by_a_delete_are_done(tmp_path: Path) -> None:
    gate = _Gate()
    writer = ResumeWriter(tmp_path, gate)
    try:
        writer.put(tmp_path / "a", b"x")
        deadline = time.monotonic() + 5
        while gate.batches == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        queued = writer.put(tmp_path / "b", b"never written", urgent=True)
        writer.delete_now(tmp_path / "b")
        assert writer.done(queued) and writer.ticket_of(tmp_path / "b") == 0
        assert writer.durable == queued  # nothing else pending
    finally:
        gate.open.set()
        assert writer.close(10)
