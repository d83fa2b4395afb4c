"""Resource bombs, and a child process that feeds them to the parsers and measures.

``python -m tests.reliability.bombs FOLDER`` reads every ``*.bomb`` file in FOLDER (written
by test_fuzz_bombs.py), and for each: reads it, resets the process's peak RSS
(``/proc/self/clear_refs``), hands it to its parser, and prints one JSON line with the
outcome, the error message, the time taken and the peak RSS *above what the process held
before the call* (the input's own bytes are already counted in that baseline). Peak RSS
and not tracemalloc, because libtorrent's memory is not Python's.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PARSERS: dict[str, Callable[[bytes], Any]] = {}


def parser(name: str) -> Callable[[Callable[[bytes], Any]], Callable[[bytes], Any]]:
    def register(fn: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        PARSERS[name] = fn
        return fn
    return register


@parser("torrent")
def _torrent(data: bytes) -> Any:
    from tidegate.engine.config import LimitsConfig
    from tidegate.engine.torrents.inputs import parse_torrent
    return parse_torrent(data, "bomb.torrent", LimitsConfig())


@parser("magnet")
def _magnet(text: Any) -> Any:
    from tidegate.engine.torrents.inputs import parse_uri
    return parse_uri(text)


PREPARE: dict[str, Callable[[bytes], Any]] = {"magnet": lambda data: data.decode("latin-1")}
"""Turn the file's bytes into the parser's input type before measuring (a magnet is text;
the str it takes is the caller's memory, not the parser's)."""


@parser("entry")
def _entry(data: bytes) -> Any:
    from tidegate.engine.chain.entry import decode_entry
    return decode_entry(data, bytes.fromhex(
        "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"))


@parser("chain_file")
def _chain_file(data: bytes) -> Any:
    from tidegate.engine.chain.codec import decode_chain
    raws = decode_chain(data, "bomb")
    return f"{len(raws)} records"


@parser("head")
def _head(data: bytes) -> Any:
    from tidegate.engine.sites.head import decode_head
    return decode_head(data, "bomb")


@parser("api")
def _api(data: bytes) -> Any:
    from tidegate.engine.api import protocol as p
    from tidegate.engine.config import ApiConfig
    out = p.parse_request([p.VERSION, data], ApiConfig().max_message_size)
    if isinstance(out, p.Reply) and out.error is not None:
        raise ValueError(f"{out.error.code}: {out.error.message}")
    return out


@parser("bus")
def _bus(data: bytes) -> Any:
    from tidegate.engine.api import bus_messages as bus
    return bus.decode(data, bus.HostnameRequest)


@parser("config")
def _config(data: bytes) -> Any:
    """Through the file, as the daemon reads it."""
    import tempfile

    from tidegate.engine.config import load
    from tidegate.engine.paths import resolve_paths
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "config.toml").write_bytes(data)
        return load(resolve_paths({"TIDEGATE_HOME": home}))


@parser("layers")
def _layers(data: bytes) -> Any:
    from tidegate.engine.sites.merkle import decode_layers
    return decode_layers(data)


def _rss_peak_kib() -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1))  # type: ignore[union-attr]


def _rss_now_kib() -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1))  # type: ignore[union-attr]


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def run_one(kind: str, data: bytes) -> dict[str, Any]:
    fn = PARSERS[kind]
    size = len(data)
    value = PREPARE.get(kind, lambda d: d)(data)
    del data
    base = _rss_now_kib()
    _reset_peak()
    started = time.perf_counter()
    try:
        result = fn(value)
        outcome, message = "accepted", repr(result)[:200]
    except Exception as exc:  # reported, judged by the test
        outcome, message = type(exc).__name__, str(exc)[:300]
    took = time.perf_counter() - started
    peak = _rss_peak_kib()
    return {"outcome": outcome, "message": message, "seconds": round(took, 3),
            "peak_mib": round(max(0, peak - base) / 1024, 1), "input_mib":
            round(size / 2**20, 1)}


def main(folder: str) -> None:
    # import every parser's modules first, so imports do not count as a bomb's cost
    for fn in PARSERS.values():
        try:
            fn(b"")
        except Exception:
            pass
    for path in sorted(Path(folder).glob("*.bomb")):
        kind = path.name.split("--")[0]
        data = path.read_bytes()
        report = run_one(kind, data)
        del data
        print(json.dumps({"name": path.stem.split("--")[1], "kind": kind, **report}),
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
