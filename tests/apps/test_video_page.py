"""examples/video_page.py in a real headless Chromium: a torrent's WebM video plays while
a real daemon downloads it from a rate-limited seed, and a seek to a point the download
has not reached plays there (issue 26: "a streamed video seeks").

The torrent downloads in order (``sequential``, as one added to be watched would), so
where the download has got to is known: libtorrent's default order is random, and a
random piece near the seek target was there already in 1 of 3 runs before.

Real parts only: a seed Engine on 127.0.0.1 sending 256 KiB/s, a ``tidegate daemon``
subprocess downloading, the example as a subprocess talking to the daemon over the ZeroMQ
API (``torrent_read``), Debian's Chromium through playwright.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import build_engine, make_torrent, port_of, start_seed
from tests.helpers.daemon_util import ROOT, TIDEGATE, DaemonProc, env_for, short_home
from tests.helpers.video import cues_before_clusters, make_webm
from tests.proxy.test_proxy_browser import chromium
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.engine.api import RemoteEngine
from tidegate.engine.api.torrent_stream import TorrentFileStream
from tidegate.engine.errors import InputError

SECONDS = 30
PIECE = 256 << 10
RATE = 256 << 10
EXAMPLE = ROOT / "examples" / "video_page.py"


class Example:
    """The example app as a subprocess; its stderr request log kept with arrival times."""

    def __init__(self, args: list[str], home: Path):
        self.p = subprocess.Popen([sys.executable, str(EXAMPLE), *args], env=env_for(home),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.log: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            with self._lock:
                self.log.append((time.monotonic(), line.rstrip("\n")))

    def lines(self, since: float = 0.0) -> list[str]:
        with self._lock:
            return [line for t, line in self.log if t >= since]

    def first_line(self, timeout: float) -> str:
        out: list[str] = []
        assert self.p.stdout is not None
        t = threading.Thread(target=lambda: out.append(self.p.stdout.readline()),  # type: ignore[union-attr]
                             daemon=True)
        t.start()
        t.join(timeout)
        if not out or not out[0]:
            self.stop()
            raise AssertionError(f"the example did not start: {self.lines()}")
        return out[0]

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._reader.join(5)
        for f in (self.p.stdout, self.p.stderr):
            if f is not None:
                f.close()
        return self.p.returncode


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def http(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=90) as r:
            return Answer(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        with e:
            return Answer(e.code, dict(e.headers), e.read())


def range_starts(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines
            if (m := re.search(r"^GET /video range=bytes=(\d+)-\S* status=2", line))]


def missing(client: RemoteEngine, tid: str, first: int, last: int) -> bool:
    """Pieces ``first..last`` are all still missing on the daemon (0: not had)."""
    pieces = client.run(cmds.Details(tid)).result(30).pieces
    return all(pieces[i] != 1 for i in range(first, last + 1))


@pytest.mark.timeout(600)
def test_the_video_page_plays_and_seeks_ahead_of_the_download(tmp_path: Path) -> None:
    payload = tmp_path / "payload"
    payload.mkdir()
    video = make_webm(payload / "tide.webm", SECONDS)
    data = video.read_bytes()
    size = len(data)
    assert cues_before_clusters(data)  # seeking needs the index, and not from the file's end
    (payload / "notes.txt").write_bytes(b"not the video\n")
    created = make_torrent(payload, fmt="v1", piece_size=PIECE)
    seed = build_engine(tmp_path / "seed", rates={"upload": RATE,
                                                  "limit_local_peers": True}).start()
    home = short_home()
    daemon = DaemonProc(home)
    client: RemoteEngine | None = None
    example: Example | None = None
    try:
        start_seed(seed, created, payload)
        daemon.start()
        client = daemon.client()
        tid = client.run(cmds.Add(AddRequest(
            torrent=created.data, save_path=str(tmp_path / "dl"), sequential=True,
            peers=(f"127.0.0.1:{port_of(seed)}",)))).result(30)
        # the program API's refusals cross the wire as themselves
        with pytest.raises(InputError, match="has no file 7"):
            TorrentFileStream(client, tid, 7)

        unknown = Example(["0" * 40, "--port", "0", "--connect", daemon.endpoint], home)
        assert unknown.p.wait(60) == 2
        assert unknown.stop() == 2 and "no torrent has this id prefix or number" in \
            unknown.lines()[-1]

        # named as a user names it: its number in `tidegate ls`
        number = client.wait_for(lambda s: s.torrents[tid].number > 0, 30).torrents[tid].number
        example = Example([str(number), "--port", "0", "--connect", daemon.endpoint], home)
        line = example.first_line(60)
        m = re.match(r"serving (http://127\.0\.0\.1:(\d+)/) file (\d+) \('payload/tide.webm', "
                     rf"{size} bytes\)", line)
        assert m, line
        url, index = m.group(1), int(m.group(3))

        with chromium(tmp_path / "profile") as browser:
            page = browser.new_page()
            page.goto(url)
            assert page.title() == "tide.webm"
            page.wait_for_function("() => document.getElementById('video').duration > 0",
                                   timeout=60_000)
            duration = page.evaluate("() => document.getElementById('video').duration")
            assert abs(duration - SECONDS) < 1.5, duration
            page.evaluate("() => { const v = document.getElementById('video');"
                          " v.muted = true; return v.play(); }")
            page.wait_for_function("() => document.getElementById('video').currentTime > 0.5",
                                   timeout=60_000)

            target = duration * 0.8
            at = int(size * 0.8)  # random frames: a second is about a 30th of the file
            first, last = at // PIECE - 2, min(at // PIECE + 2, created.num_pieces - 1)
            assert missing(client, tid, first, last), (
                "the download already reached the target",
                client.run(cmds.Details(tid)).result(30).pieces.hex(), example.lines())
            progress_before = client.snapshot.torrents[tid].progress
            seek_time = time.monotonic()
            seeked = page.evaluate("""(t) => new Promise((resolve) => {
                const v = document.getElementById('video');
                v.addEventListener('seeked', () => resolve(true), {once: true});
                setTimeout(() => resolve(false), 90000);
                v.currentTime = t; })""", target)
            assert seeked is True, "no 'seeked' event within 90 s"
            page.wait_for_function("() => document.getElementById('video').readyState >= 2",
                                   timeout=60_000)
            seeked_after = time.monotonic() - seek_time
            state = page.evaluate("""() => { const v = document.getElementById('video');
                return {t: v.currentTime, ready: v.readyState,
                        error: v.error && v.error.code}; }""")
            progress_after = client.snapshot.torrents[tid].progress
            t_after = client.snapshot.torrents[tid]

        assert state["error"] is None and state["ready"] >= 2, state
        assert abs(state["t"] - target) < 2.0, (state, target)
        assert progress_after < 1.0 and not t_after.complete_on_disk, progress_after
        starts = range_starts(example.lines(since=seek_time))
        assert any(s >= size * 0.6 for s in starts), (starts, example.lines(since=seek_time))
        print(f"\nvideo {size} bytes, {duration:.1f} s; progress {progress_before:.2f} at the "
              f"seek, {progress_after:.2f} once it played there ({seeked_after:.1f} s later); "
              f"range starts after the seek: {starts}")
        print("\n".join(example.lines()))
        # the example's HTTP, byte for byte
        head = http(url + "video", "HEAD")
        assert (head.status, head.headers["Content-Length"], head.headers["Content-Type"],
                head.headers["Accept-Ranges"]) == (200, str(size), "video/webm", "bytes")
        assert head.body == b""
        tail = http(url + "video", headers={"Range": "bytes=-1000"})
        assert tail.status == 206 and tail.body == data[-1000:]
        assert tail.headers["Content-Range"] == f"bytes {size - 1000}-{size - 1}/{size}"
        mid = http(url + "video", headers={"Range": f"bytes={at}-{at + 299_999}"})
        assert mid.status == 206 and mid.body == data[at:at + 300_000]
        past = http(url + "video", headers={"Range": f"bytes={size}-"})
        assert past.status == 416 and past.headers["Content-Range"] == f"bytes */{size}"
        huge = http(url + "video", "HEAD", headers={"Range": "bytes=" + "9" * 5000 + "-"})
        assert huge.status == 200  # an unusable Range is ignored (RFC 9110), never a crash
        assert http(url + "nope").status == 404
        assert http(url, headers={"Host": "rebound.example"}).status == 403
        assert example.p.poll() is None
        # `tidegate cat`: the same bytes on stdout, by index or path
        cat = [*TIDEGATE, "cat", tid[:12], "--connect", daemon.endpoint]
        got = subprocess.run([*cat, str(index), "--range", f"{at}-{at + 2_500_000}"],
                             env=env_for(home), capture_output=True, timeout=120)
        assert got.returncode == 0 and got.stdout == data[at:at + 2_500_001], got.stderr
        got = subprocess.run([*cat, "payload/notes.txt"], env=env_for(home),
                             capture_output=True, timeout=120)
        assert got.returncode == 0 and got.stdout == b"not the video\n", got.stderr
        for bad, why in (("x-y", "--range must be A-B"), (f"{size + 1}-", "outside the file")):
            got = subprocess.run([*cat, str(index), "--range", bad], env=env_for(home),
                                 capture_output=True, timeout=120)
            assert got.returncode == 1 and got.stdout == b"", got
            assert why in got.stderr.decode(), got.stderr
        head = subprocess.Popen([*cat, str(index)], env=env_for(home), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert head.stdout is not None and head.stderr is not None
        assert head.stdout.read(1000) == data[:1000]
        head.stdout.close()  # `| head -c 1000`
        assert head.wait(120) == 0
        assert b"Traceback" not in head.stderr.read()
        head.stderr.close()
        # what the browser played came from the file
        with TorrentFileStream(client, tid, index) as stream:
            stream.seek(at)
            assert stream.read(100_000) == data[at:at + 100_000]
    finally:
        if example is not None:
            example.stop()
        if client is not None:
            client.stop()
        daemon.stop()
        seed.stop()
