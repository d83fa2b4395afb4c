"""v2 and hybrid torrents hashed by tidegate on every core (engine/torrents/create_v2.py):
byte for byte what libtorrent's single-threaded set_piece_hashes makes."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import libtorrent as lt
import pytest

from tests.conftest import EngineFactory
from tidegate.engine import AddRequest
from tidegate.engine.errors import CancelledError
from tidegate.engine.torrents import create_v2
from tidegate.engine.torrents.create import HASH_THREADS, CreateSpec, create_torrent

FLAGS = {"v2": lt.create_torrent.v2_only, "hybrid": 0}


def corpus(root: Path) -> list[Path]:
    """Layouts with every edge the v2 rules have: a file smaller than, equal to and larger
    than a piece, empty files, nested folders, non-ASCII names, an executable file, a
    folder holding one file, and a single file (for names that sort differently per
    component than as whole paths, see :func:`clash`)."""
    rnd = random.Random(7)

    def put(rel: str, size: int) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(size))

    put("single.bin", 100_000)
    put("one/only.bin", 70_000)
    for rel, size in [("a.bin", 100_000), ("c16", 16384), ("sub/b.bin", 40_000),
                      ("c.b/x", 5), ("b/y", 300_000), ("zz/deep/er/f", 1 << 20),
                      ("é/ü.txt", 33_333), ("empty", 0), ("exe.sh", 1000)]:
        put(f"multi/{rel}", size)
    (root / "multi/exe.sh").chmod(0o755)
    put("exact/p", 65536)
    put("exact/q", 65536 * 3)
    return [root / "single.bin", root / "one", root / "multi", root / "exact"]


def clash(root: Path) -> Path:
    """A website's folder: ``docs/`` beside ``docs.html`` and ``docs-old/``. By whole
    path "docs-old/..." < "docs.html" < "docs/..." ('-' < '.' < '/'); the file tree orders
    "docs" < "docs-old" < "docs.html"."""
    rnd = random.Random(8)
    for rel, size in [("docs/index.html", 5000), ("docs.html", 70_000),
                      ("docs-old/a.txt", 40_000), ("a.b/x", 5), ("a/y", 300_000)]:
        p = root / "site" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(size))
    return root / "site"


def made_by_libtorrent(path: Path, fmt: str, piece: int, date: int,
                       trackers: tuple[str, ...] = (), seeds: tuple[str, ...] = ()) -> bytes:
    ct = lt.create_torrent(lt.list_files(str(path)), piece, FLAGS[fmt])
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    for url in seeds:
        ct.add_url_seed(url)
    ct.set_creation_date(date)
    lt.set_piece_hashes(ct, str(path.parent))
    return bytes(lt.bencode(ct.generate()))


def made_here(path: Path, fmt: str, piece: int, date: int,
              trackers: tuple[str, ...] = (), seeds: tuple[str, ...] = ()) -> bytes:
    ct = lt.create_torrent(lt.list_files(str(path)), piece, 0)
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    for url in seeds:
        ct.add_url_seed(url)
    ct.set_creation_date(date)
    done: list[int] = []
    roots = create_v2.hash_pieces(ct, str(path.parent), done.append, HASH_THREADS,
                                  fmt == "hybrid")
    assert done == sorted(done) and len(done) == len(set(done))  # in order, once each
    return create_v2.generate(ct, roots, fmt == "hybrid")


@pytest.mark.parametrize("fmt", ["v2", "hybrid"])
def test_v2_and_hybrid_hashed_on_threads_are_libtorrents_bytes(tmp_path: Path,
                                                              fmt: str) -> None:
    for path in corpus(tmp_path):
        for piece in (16384, 32768, 65536, 262144, 4 << 20):
            ours = made_here(path, fmt, piece, 1_700_000_000)
            theirs = made_by_libtorrent(path, fmt, piece, 1_700_000_000)
            assert ours == theirs, (path.name, fmt, piece)
    multi = tmp_path / "multi"
    extras = {"trackers": ("http://a.example/announce", "udp://b.example:1/announce"),
              "seeds": ("http://s.example/", "http://t.example/")}
    assert made_here(multi, fmt, 0, 5, **extras) == made_by_libtorrent(multi, fmt, 0, 5,
                                                                        **extras)


@pytest.mark.parametrize("fmt", ["v2", "hybrid"])
def test_create_torrent_makes_the_same_info_as_libtorrent(tmp_path: Path, fmt: str) -> None:
    """Through ``tidegate create``'s path (CreateSpec): the same info-hashes as
    libtorrent's for the same files, whatever piece size it picks itself."""
    for path in corpus(tmp_path):
        made = create_torrent(CreateSpec(path=str(path), format=fmt))
        theirs = lt.torrent_info(made_by_libtorrent(path, fmt, made.piece_size, 1))
        ti = lt.torrent_info(made.data)
        assert ti.info_hashes().v2 == theirs.info_hashes().v2, path.name
        if fmt == "hybrid":
            assert ti.info_hashes().v1 == theirs.info_hashes().v1, path.name
        else:
            assert made.info_hash_v1 is None
        assert lt.torrent_info(lt.bencode(lt.bdecode(made.data))).is_valid()


def test_v2_hashing_reports_progress_and_stops_on_cancel(tmp_path: Path) -> None:
    data = tmp_path / "big.bin"
    data.write_bytes(os.urandom(8 << 20))
    seen: list[tuple[int, int]] = []
    made = create_torrent(CreateSpec(path=str(data), format="hybrid", piece_size=16384),
                          progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (made.num_pieces, made.num_pieces) == (512, 512)
    cancel = threading.Event()

    def stop_at_ten(done: int, _total: int) -> None:
        if done == 10:
            cancel.set()
    with pytest.raises(CancelledError):
        create_torrent(CreateSpec(path=str(data), format="v2", piece_size=16384),
                       progress=stop_at_ten, cancel=cancel)


def test_a_hybrid_of_names_libtorrent_orders_two_ways_loads_and_checks(
        make_engine: EngineFactory, tmp_path: Path) -> None:
    """libtorrent 2.1 lays files out by whole path but writes the file tree per component,
    and refuses to load its own hybrid where the two orders differ ("docs/" beside
    "docs.html": ``tidegate create`` failed with a traceback). Ours lists the files in the
    file tree's order: it loads, its v2 parts are libtorrent's, and a real session checking
    the files against it finds every piece (v1 and v2 hashes both checked)."""
    site = clash(tmp_path)
    with pytest.raises(RuntimeError, match="v1 and v2 file metadata does not match"):
        lt.torrent_info(made_by_libtorrent(site, "hybrid", 16384, 1))
    made = create_torrent(CreateSpec(path=str(site), format="hybrid", piece_size=16384))
    ours = lt.bdecode(made.data)
    v2 = lt.bdecode(made_by_libtorrent(site, "v2", 16384, 1))
    assert ours[b"info"][b"file tree"] == v2[b"info"][b"file tree"]
    assert ours[b"piece layers"] == v2[b"piece layers"]
    paths = [b"/".join(f[b"path"]) for f in ours[b"info"][b"files"] if b"attr" not in f]
    assert paths == [b"a/y", b"a.b/x", b"docs/index.html", b"docs-old/a.txt", b"docs.html"]
    e = make_engine("checker")
    tid = e.add(AddRequest(torrent=made.data, save_path=str(tmp_path))).result(10)
    e.recheck(tid).result(10)
    snap = e.wait_for(lambda s: tid in s.torrents and s.torrents[tid].progress >= 1.0 and
                      s.torrents[tid].phase == "seeding", 30)
    assert snap.torrents[tid].error == ""
