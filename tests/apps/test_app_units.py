"""The program API's pure parts: the diff behind SiteChanged (and its bound), the lease
table's choice and expiry, the path rules of writes."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from tidegate.engine.errors import InputError
from tidegate.engine.sites.app_handlers import HandlerTable, check_target
from tidegate.engine.sites.changes import changed_sites, diff_files
from tidegate.engine.sites.served import ServedFile, ServedSite
from tidegate.engine.sites.source_write import check_path

ADDR = "a" * 56 + ".onion"


def site(seq: int, files: dict[str, bytes | None]) -> ServedSite:
    return ServedSite(address=ADDR, name="s", height=seq, seq=seq, folder=Path("/x"),
                      layers=Path("/x/l"), piece_length=16384,
                      files=MappingProxyType({p: ServedFile(p, 1 if r else 0, r, 0, "text/plain")
                                              for p, r in files.items()}))


def test_changed_and_removed_by_content_hash_without_the_snapshots_own_files() -> None:
    old = site(1, {"same": b"1" * 32, "edit": b"2" * 32, "gone": b"3" * 32,
                   ".tidegate/chain": b"4" * 32})
    new = site(2, {"same": b"1" * 32, "edit": b"5" * 32, "new": None,
                   ".tidegate/chain": b"6" * 32})
    d = diff_files(old, new, 1000)
    assert (d.changed, d.removed, d.truncated) == (["edit", "new"], ["gone"], False)
    assert [x.changed for x in changed_sites({ADDR: old}, {ADDR: new}, 1000)] == \
        [["edit", "new"]]
    assert changed_sites({ADDR: new}, {ADDR: new}, 1000) == []  # same snapshot: no event
    first = changed_sites({}, {ADDR: old}, 1000)[0]  # served for the first time: all new
    assert first.changed == ["edit", "gone", "same"] and first.removed == []


def test_the_lists_are_bounded_and_say_so() -> None:
    old = site(1, {f"old{i:04}": b"o" * 32 for i in range(50)})
    new = site(2, {f"new{i:04}": b"n" * 32 for i in range(50)})
    d = diff_files(old, new, 10)
    assert len(d.changed) == len(d.removed) == 10 and d.truncated
    assert d.changed == sorted(d.changed) and d.changed[0] == "new0000"


def test_leases_longest_prefix_and_expiry() -> None:
    t = HandlerTable()
    t.register(ADDR, "/a/", "http://127.0.0.1:1", 10, now=100)
    t.register(ADDR, "/a/b/", "http://127.0.0.1:2", 5, now=100)
    hit = t.find(ADDR, "/a/b/c", 101)
    assert hit is not None and hit.target == "http://127.0.0.1:2"
    assert t.find(ADDR, "/a", 101) is None and t.find(ADDR, "/ab/", 101) is None
    hit = t.find(ADDR, "/a/b/c", 106)  # the inner lease lapsed: the outer one answers
    assert hit is not None and hit.target == "http://127.0.0.1:1"
    assert t.expire(106) and t.prefixes(ADDR) == ("/a/ -> http://127.0.0.1:1",)
    t.register(ADDR, "/a/", "http://127.0.0.1:1", 10, now=109)  # renewed
    assert not t.expire(112) and t.find(ADDR, "/a/x", 118) is not None
    assert t.expire(120) and ADDR not in t.current
    for i in range(16):
        t.register(ADDR, f"/p{i}/", "http://127.0.0.1:1", 10, now=0)
    with pytest.raises(InputError, match="16 handlers"):
        t.register(ADDR, "/one-more/", "http://127.0.0.1:1", 10, now=0)


def test_targets_are_normalised_loopback_addresses() -> None:
    assert check_target("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert check_target("http://[::1]:9") == "http://[::1]:9"
    for bad in ("http://127.0.0.1:99999", "http://0.0.0.0:80", "http://[::]:80",
                "http://169.254.1.1:80", "http://127.0.0.1:80?x", "http://127.0.0.1:80#f"):
        with pytest.raises(InputError):
            check_target(bad)


@pytest.mark.parametrize("path", ["", "/abs", "a/", "a//b", "./a", "a/./b", "..", "a/..",
                                  "a\\b", "a\x00b", "a\nb", ".tidegate/chain", "x" * 256,
                                  "a/" * 600])
def test_write_paths_refused(path: str) -> None:
    with pytest.raises(InputError):
        check_path(path, "site_write")


def test_write_paths_accepted() -> None:
    assert check_path("a/b c/ünï.txt", "site_write") == ["a", "b c", "ünï.txt"]
    assert check_path(".well-known/x", "site_write") == [".well-known", "x"]
