"""Resource bombs: inputs built to cost memory or time, fed to every parser.

Each bomb is written to a file and fed by a child process (``bombs.py``) that measures
the peak RSS the parse added, so libtorrent's allocations count too. Every bomb must be
refused with the parser's documented error (or, for the few that are legal but large,
accepted) in under a second, with a peak below its bound; the figures are printed
(``BOMB name: outcome peak ... MiB``) and quoted in docs/RELIABILITY.md. Bombs on live
sockets (huge API frames to a daemon, huge HTTP headers to the proxy, huge tracker
replies) are in test_api_fuzz.py, test_proxy_abuse.py and test_hostile_net.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable

import fastbencode
import pytest

from tests.helpers.daemon_util import ROOT
from tidegate.engine.chain.codec import MAGIC, encode_chain
from tidegate.engine.chain.entry import MAX_ENTRY_BYTES, SIGNING_PREFIX
from tidegate.engine.config import ApiConfig, LimitsConfig

from . import seeds

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(300)]

LIMITS = LimitsConfig()
MIB = 1 << 20


def v1_torrent(files: int, comment: bytes = b"", name_len: int = 1) -> bytes:
    """A valid v1 torrent of ``files`` one-byte files."""
    width = name_len + 7
    entries = b"".join(b"d6:lengthi1e4:pathl%d:%see" % (width, b"%0*d" % (width, i))
                       for i in range(files))
    total = files
    pieces = b"".join(hashlib.sha1(b"\0" * min(16384, total - i)).digest()
                      for i in range(0, total, 16384))
    info = (b"d5:filesl" + entries + b"e4:name4:bomb12:piece lengthi16384e6:pieces%d:" % len(
        pieces) + pieces + b"e")
    head = b"d7:comment%d:%s4:info" % (len(comment), comment) if comment else b"d4:info"
    return head + info + b"e"


def signed_entry(fields: dict[bytes, object]) -> bytes:
    key = seeds.chain()["key"]
    fields = dict(fields)
    fields[b"sig"] = key.sign(SIGNING_PREFIX + fastbencode.bencode(fields))
    return bytes(fastbencode.bencode(fields))


def api_request(args_body: bytes) -> bytes:
    return (b"\x83" + seeds.msgpack("id") + seeds.msgpack(1) + seeds.msgpack("cmd")
            + seeds.msgpack("add_trackers") + seeds.msgpack("args") + args_body)


BOMBS: dict[str, tuple[str, Callable[[], bytes], str, float]] = {
    # name: (parser, builder, expected outcome, bound on the added peak RSS in MiB)
    "torrent-deep-nesting": ("torrent", lambda: b"d4:info" + b"l" * 5_000_000 + b"e" * 5_000_001,
                             "BadTorrentError", 64),
    "torrent-10M-tokens": ("torrent", lambda: b"d4:infod1:al" + b"i0e" * 10_000_000 + b"eee",
                           "BadTorrentError", 128),
    "torrent-200k-files": ("torrent", lambda: v1_torrent(200_000), "BadTorrentError", 64),
    "torrent-30MiB-comment": ("torrent", lambda: v1_torrent(3, b"c" * (30 * MIB)), "accepted",
                              160),
    "torrent-over-size-limit": ("torrent", lambda: b"d4:info" + b"0:" * (17 * MIB) + b"e",
                                "BadTorrentError", 8),
    "magnet-100MiB": ("magnet", lambda: b"magnet:?xt=urn:btih:" + b"a" * (100 * MIB),
                      "BadMagnetError", 8),
    "entry-over-size-limit": ("entry", lambda: b"d" + b"1:a" * (MAX_ENTRY_BYTES // 3) + b"e",
                              "ChainRejected", 16),
    "entry-deep-nesting": ("entry", lambda: b"l" * (4 * MIB - 1) + b"e" * (4 * MIB - 1),
                           "ChainRejected", 64),
    "entry-4M-empty-lists": ("entry", lambda: b"d1:al" + b"le" * (4 * MIB - 8) + b"ee",
                             "ChainRejected", 64),
    "entry-786k-empty-dicts": ("entry", lambda: b"d1:al" + b"de" * 786_000 + b"ee",
                               "ChainRejected", 128),
    "entry-2M-strings": ("entry", lambda: b"d1:al" + b"2:ab" * (2 * MIB - 4) + b"ee",
                         "ChainRejected", 128),
    "entry-65537-files": ("entry", lambda: signed_entry({
        b"v": 1, b"type": b"update", b"seq": 1, b"prev": b"\0" * 32, b"time": 1,
        b"magnet": seeds.MAGNETS[1].encode()[:88],
        b"files": [{b"path": [b"%d" % i], b"size": 0} for i in range(65_537)]}),
                          "ChainRejected", 128),
    "chain-file-1M-records": ("chain_file", lambda: encode_chain([b"ab"] * 1_000_000),
                              "ChainRejected", 8),
    "chain-file-100k-entries": ("chain_file", lambda: encode_chain([b"e" * 200] * 100_000),
                                "accepted", 64),
    "chain-file-4GiB-claim": ("chain_file", lambda: MAGIC + b"\xff\xff\xff\xff" + b"x" * 100,
                              "ChainRejected", 8),
    "api-deep-nesting": ("api", lambda: api_request(b"\x81\xa1a" + b"\x91" * (8 * MIB) + b"\xc0"),
                         "ValueError", 64),
    "api-60M-nils": ("api", lambda: api_request(
        b"\x82" + seeds.msgpack("torrent_id") + seeds.msgpack("ab" * 20) + seeds.msgpack("urls")
        + b"\xdd" + (60_000_000).to_bytes(4, "big") + b"\xc0" * 60_000_000), "ValueError", 128),
    "api-over-size-limit": ("api", lambda: b"\x80" * (ApiConfig().max_message_size + 1),
                            "ValueError", 8),
    "bus-1MiB": ("bus", lambda: b'{"hostname": "' + b"a" * MIB + b'.onion"}', "BusMessageError", 8),
    "config-deep-nesting": ("config", lambda: b"a = " + b"[" * 500_000 + b"]" * 500_000,
                            "ConfigError", 64),
    "config-100MiB": ("config", lambda: b"# " + b"x" * (100 * MIB), "ConfigError", 8),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    folder = tmp_path_factory.mktemp("bombs")
    for name, (kind, build, _, _) in BOMBS.items():
        (folder / f"{kind}--{name}.bomb").write_bytes(build())
    proc = subprocess.run([sys.executable, "-m", "tests.reliability.bombs", str(folder)],
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        out[r["name"]] = r
        print(f"BOMB {r['name']}: {r['input_mib']} MiB in, {r['outcome']} in {r['seconds']} s, "
              f"peak +{r['peak_mib']} MiB: {r['message'][:120]}")
    return out


@pytest.mark.parametrize("name", list(BOMBS))
def test_bomb(name: str, reports: dict[str, dict[str, object]]) -> None:
    _kind, _build, expected, bound = BOMBS[name]
    r = reports[name]
    assert r["outcome"] == expected, r
    assert float(r["seconds"]) < 1.0, r  # type: ignore[arg-type]
    assert float(r["peak_mib"]) <= bound, r  # type: ignore[arg-type]
