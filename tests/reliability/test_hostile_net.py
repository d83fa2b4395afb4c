"""Hostile peers and trackers on loopback, against real engines.

* A seed whose copy of the data is corrupted in some pieces (a real libtorrent seed: it
  passed its check, then its files were changed under it, so it serves bad blocks) next
  to an honest seed on another loopback address: the download completes byte-exact, every
  failed piece is a ``PieceFailed`` event and the liar a ``PeerBanned``.
* Trackers (HTTP servers of the test's own) that answer with 50 MB of junk, a bencoded
  peer list of 100,000 entries, malformed bencode, a wrong content, or never: the engine
  stays responsive, the tracker shows an error reason, memory stays bounded, and the
  honest swarm still completes.

Chains that fork, roll back or carry a forged signature and snapshots that lie about
their manifest are tests/test_sites_refusals.py and tests/test_tor_all_sites.py.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine import AddRequest, Engine
from engine.events import PeerBanned, PieceFailed, TorrentCompleted

from ..conftest import EngineFactory, make_torrent, port_of, start_seed, tree_bytes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PIECE = 64 << 10
SIZE = 8 << 20


def rss_mib(pid: int | None = None) -> float:
    text = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    return int(text.split("VmRSS:")[1].split()[0]) / 1024


def payload(folder: Path) -> Path:
    folder.mkdir(parents=True)
    data = b"".join(hashlib.sha256(b"hostile%d" % i).digest() for i in range(SIZE // 32))
    (folder / "data.bin").write_bytes(data)
    return folder


# ---------------------------------------------------------------- a peer that lies

@pytest.mark.parametrize("order", ["liar first", "both at once"])
def test_a_seed_sending_bad_pieces_is_banned_and_the_download_is_exact(
        order: str, make_engine: EngineFactory, tmp_path: Path) -> None:
    """With the liar alone, libtorrent bans it at the first piece it alone sent wrong; with
    both seeds at once, pieces mix both peers' blocks and the smart-ban plugin finds the
    liar by comparing the blocks of a failed piece with the copy that passed."""
    honest_dir = payload(tmp_path / "honest" / "payload")
    created = make_torrent(honest_dir, "v1", piece_size=PIECE)
    good = make_engine("good")
    start_seed(good, created, honest_dir)
    liar = make_engine("liar", network={"listen_interfaces": "127.0.0.2:0"})
    liar_dir = tmp_path / "liar" / "payload"
    liar_dir.mkdir(parents=True)
    (liar_dir / "data.bin").write_bytes((honest_dir / "data.bin").read_bytes())
    lt_id = liar.add(AddRequest(torrent=created.data, save_path=str(liar_dir.parent))
                     ).result(10)
    liar.wait_for(lambda s: lt_id in s.torrents and s.torrents[lt_id].phase == "seeding", 15)
    # now its copy goes bad under it: every 4th piece, one byte in the middle
    bad_pieces = list(range(0, SIZE // PIECE, 4))
    with open(liar_dir / "data.bin", "r+b") as f:
        for i in bad_pieces:
            f.seek(i * PIECE + PIECE // 2)
            byte = f.read(1)
            f.seek(i * PIECE + PIECE // 2)
            f.write(bytes([byte[0] ^ 0xFF]))
    liar_port = port_of(liar)

    down = make_engine("down")
    stream = down.subscribe()
    dl = tmp_path / "dl"
    honest = f"127.0.0.1:{port_of(good)}"
    peers = (f"127.0.0.2:{liar_port}",) + ((honest,) if order == "both at once" else ())
    tid = down.add(AddRequest(torrent=created.data, save_path=str(dl), peers=peers)).result(10)
    failed: set[int] = set()
    banned: list[PeerBanned] = []
    done = False
    deadline = time.monotonic() + 90
    while not (done and banned) and time.monotonic() < deadline:
        ev = stream.get(0.2)
        if isinstance(ev, PieceFailed):
            failed.add(ev.piece)
        elif isinstance(ev, PeerBanned):
            if order == "liar first" and not banned:
                down.add_peers(tid, [honest]).result(5)
            banned.append(ev)
        done = done or (isinstance(ev, TorrentCompleted) and ev.torrent_id == tid)
    down.unsubscribe(stream)
    assert banned, f"the liar was never banned ({len(failed)} pieces failed)"
    # only the liar (libtorrent may report it more than once: each failed piece it sent)
    assert {b.peer for b in banned} == {f"127.0.0.2:{liar_port}"}, banned
    assert banned[0].torrent_id == tid
    assert failed and failed <= set(bad_pieces), failed - set(bad_pieces)
    assert done, "the honest seed did not complete the download"
    assert tree_bytes(dl / "payload") == tree_bytes(honest_dir)
    details = down.details(tid).result(5)
    assert all(p.address != "127.0.0.2" for p in details.peers), "the banned liar reconnected"
    print(f"\nHOSTILE peer ({order}): {len(failed)} pieces failed the hash check (of {len(bad_pieces)} "
          f"corrupted), liar banned at {banned[0].peer}, download byte-exact from the honest "
          f"seed")
