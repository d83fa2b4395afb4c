"""The waker coalesces wake-ups without ever losing one (engine/waker.py)."""

from __future__ import annotations

import select
import threading
import time
from collections import deque

from tidegate.engine.waker import Waker


def test_wakes_while_one_is_pending_write_nothing() -> None:
    w = Waker()
    try:
        for _ in range(1000):
            w.wake()
        assert len(w.reader.recv(4096)) == 1  # one byte for a thousand wakes
        w.drain()
        w.wake()
        assert select.select([w.reader], [], [], 1)[0], "a wake after the drain was lost"
    finally:
        w.close()


def test_no_work_is_left_asleep_when_wakers_race_the_sleeper() -> None:
    w = Waker()
    work: deque[int] = deque()
    done: list[int] = []
    stop = threading.Event()

    def sleeper() -> None:
        while not stop.is_set():
            select.select([w.reader], [], [], 5)
            w.drain()
            while work:
                done.append(work.popleft())

    t = threading.Thread(target=sleeper)
    t.start()
    try:
        def waker(base: int) -> None:
            for i in range(5000):
                work.append(base + i)  # the work first, then the wake
                w.wake()
        wakers = [threading.Thread(target=waker, args=(k * 10_000,)) for k in range(4)]
        for x in wakers:
            x.start()
        for x in wakers:
            x.join()
        deadline = time.monotonic() + 4  # well under the sleeper's 5 s select
        while len(done) < 20_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(done) == 20_000, f"{20_000 - len(done)} items left asleep"
    finally:
        stop.set()
        w.wake()
        t.join(10)
        w.close()
