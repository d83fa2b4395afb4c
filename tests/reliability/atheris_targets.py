"""Coverage-guided fuzz targets (atheris, libFuzzer's engine for Python).

Run one target: ``python -m tests.reliability.atheris_targets TARGET [libFuzzer flags]
CORPUS_DIR``. The engine's modules are imported instrumented, so libFuzzer keeps the
mutations of the seed corpus (written by test_fuzz_atheris.py from seeds.py: real
torrents, chain entries and files, API frames, config) that reach new code. Each target
calls one parser and raises ``Unexpected`` (a crash for libFuzzer, which saves the input
under ``-artifact_prefix``) for anything but the parser's documented error with a short,
non-empty message; libFuzzer's ``-timeout=1`` turns an input slower than a second into a
crash too, and ``-rss_limit_mb`` a memory blow-up.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import atheris

# atheris instruments whole top-level packages: "tidegate" (only engine modules are imported here)
with atheris.instrument_imports(include=["tidegate"]):
    from tidegate.engine.api import bus_messages as bus
    from tidegate.engine.api import protocol as p
    from tidegate.engine.chain.codec import decode_chain
    from tidegate.engine.chain.entry import decode_entry
    from tidegate.engine.chain.errors import ChainRejected
    from tidegate.engine.config import LimitsConfig, parse_text
    from tidegate.engine.errors import BadMagnetError, BadTorrentError, ConfigError, TidegateError
    from tidegate.engine.proxy.hosts import route_host
    from tidegate.engine.proxy.ranges import not_modified, parse_range, range_applies
    from tidegate.engine.sites.head import decode_head
    from tidegate.engine.torrents.inputs import parse_torrent, parse_uri

LIMITS = LimitsConfig()
SITE_KEY = bytes.fromhex("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
"""The public key of the chain vectors' site (tests/helpers/chain_vectors.py SEED)."""
MAX_MESSAGE = 1024


class Unexpected(Exception):
    """Not the parser's documented outcome: libFuzzer records the input as a crash."""


def expect(fn: Callable[..., Any], allowed: tuple[type[BaseException], ...], *args: Any,
           **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except allowed as exc:
        message = str(exc)
        if not message.strip() or len(message) > MAX_MESSAGE:
            raise Unexpected(f"{type(exc).__name__} with a {len(message)}-character "
                             f"message: {message[:200]!r}") from exc
        return None


def torrent(data: bytes) -> None:
    atp = expect(parse_torrent, (BadTorrentError,), data, "fuzz.torrent", LIMITS)
    if atp is not None and atp.ti.num_files() > LIMITS.max_files:
        raise Unexpected("more files than the limit were accepted")


def magnet(data: bytes) -> None:
    expect(parse_uri, (BadMagnetError,), data.decode("latin-1"))


def entry(data: bytes) -> None:
    expect(decode_entry, (ChainRejected,), data, SITE_KEY)


def chain_file(data: bytes) -> None:
    expect(decode_chain, (ChainRejected,), data, "fuzz")


def head(data: bytes) -> None:
    expect(decode_head, (ChainRejected,), data, "fuzz")


def request(data: bytes) -> None:
    out = p.parse_request([p.VERSION, data], 1 << 20)
    if isinstance(out, p.Reply) and (out.error is None or out.error.code not in p.ERROR_CODES
                                     or len(out.error.message) > MAX_MESSAGE):
        raise Unexpected(f"bad error reply {out!r:.300}")


def reply(data: bytes) -> None:
    r = expect(p.parse_reply, (TidegateError,), [p.VERSION, data])
    if r is not None:
        for cmd in ("hello", "snapshot", "details", "site_list", "add"):
            expect(p.result_of, (TidegateError,), cmd, r)
    for topic in p.TOPICS:
        expect(p.parse_publication, (TidegateError,), [topic, p.VERSION, data])


def bus_message(data: bytes) -> None:
    expect(bus.decode, (bus.BusMessageError,), data, bus.SiteUpdate)
    expect(bus.decode, (bus.BusMessageError,), data, bus.HostnameRequest)


def config(data: bytes) -> None:
    expect(parse_text, (ConfigError,), data.decode("utf-8", "replace"), path="fuzz.toml")


def http(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    size = fdp.ConsumeIntInRange(0, 1 << 50)
    header = fdp.ConsumeUnicodeNoSurrogates(64)
    span = parse_range(header, size)
    if isinstance(span, tuple) and not 0 <= span[0] < span[1] <= size:
        raise Unexpected(f"span {span} outside a file of {size} for {header!r}")
    not_modified({"If-None-Match": header, "If-Modified-Since": header}, '"x"', 1_700_000_000)
    range_applies(header, '"x"', 1_700_000_000)
    route_host(fdp.ConsumeUnicodeNoSurrogates(80), 8475, None)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "torrent": torrent, "magnet": magnet, "entry": entry, "chain_file": chain_file,
    "head": head, "request": request, "reply": reply, "bus": bus_message, "config": config,
    "http": http,
}


def main() -> None:
    name = sys.argv[1]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
