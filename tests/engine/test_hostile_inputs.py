"""Hostile .torrent files, magnets and hashes: rejected clearly, or made harmless.

Pure checks call engine.torrents.inputs directly; the traversal checks run a real
transfer between two engines on 127.0.0.1 and then walk the disk.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import libtorrent as lt
import pytest

from tidegate.engine import AddRequest, Engine
from tidegate.engine.config import LimitsConfig, LoadedConfig, from_dict
from tidegate.engine.errors import BadMagnetError, BadTorrentError, InputError, UnsafePathError
from tidegate.engine.paths import resolve_paths
from tidegate.engine.torrents import inputs

pytestmark = pytest.mark.timeout(30)

NET = {"network": {
    "listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
    "enable_upnp": False, "enable_natpmp": False, "enable_utp": False,
    "allow_multiple_connections_per_ip": True}}
PIECE = 16384


# ---------------------------------------------------------------- helpers


def benc(x: object) -> bytes:
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(benc(i) for i in x) + b"e"
    if isinstance(x, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in x.items())
        return b"d" + b"".join(benc(k) + benc(v) for k, v in items) + b"e"
    raise TypeError(x)


def payload(i: int) -> bytes:
    """Distinct, incompressible-looking content per file; some span pieces."""
    seed = hashlib.sha256(b"file%d" % i).digest()
    return (seed * (1 + (5000 + 3001 * i) // 32))[: 5000 + 3001 * i]


def make_torrent(name: str, files: list[list[str] | dict]) -> tuple[bytes, list[bytes]]:
    """A v1 multi-file torrent; a dict entry is a raw file entry (e.g. a symlink)."""
    entries, blobs = [], []
    for i, f in enumerate(files):
        if isinstance(f, dict):
            entries.append(f)
            blobs.append(b"")
        else:
            blobs.append(payload(i))
            entries.append({"length": len(blobs[-1]), "path": f})
    blob = b"".join(blobs)
    pieces = b"".join(hashlib.sha1(blob[i:i + PIECE]).digest()
                      for i in range(0, len(blob), PIECE))
    info = {"name": name, "piece length": PIECE, "pieces": pieces, "files": entries}
    return benc({"announce": "http://127.0.0.1:1/announce", "info": info}), blobs


def single_file(name: str, length: int = 10) -> bytes:
    pieces = hashlib.sha1(b"z" * length).digest()
    return benc({"info": {"name": name, "piece length": PIECE, "pieces": pieces,
                          "length": length}})


def names_input(exc: BaseException, source: str) -> None:
    """The message starts with the input as given (shortened only past 120 chars)."""
    assert isinstance(exc, InputError)
    assert exc.source == source
    assert str(exc).startswith(source[:100]), str(exc)


@pytest.fixture
def make_engine(tmp_path):
    engines: list[Engine] = []

    def make(home: str) -> Engine:
        cfg = from_dict(NET)
        paths = resolve_paths({"TIDEGATE_HOME": str(tmp_path / home)})
        eng = Engine(LoadedConfig(cfg, paths, frozenset(), False)).start()
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        eng.stop()


def tree(root: Path, skip: Path | None = None) -> set[str]:
    """Every entry under root (not following symlinks), optionally minus one subtree."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        out.update(os.path.join(dirpath, n) for n in dirnames + filenames)
    return out


def inside(path: str | Path, root: Path) -> bool:
    lexical = os.path.normpath(os.path.abspath(path))
    real, r = os.path.realpath(path), os.path.realpath(root)
    return lexical.startswith(str(root) + os.sep) and real.startswith(r + os.sep)


# ---------------------------------------------------------------- 1. .torrent bytes


GOOD, _ = make_torrent("t", [["a"], ["b"]])
_INFO1 = {"name": "t", "piece length": PIECE, "length": 5}

BAD_TORRENTS = {
    "empty": (b"", "empty file"),
    "not-bencode": (b"hello world, not a torrent", "not a torrent file"),
    "not-bencode-d": (b"dxyz", "malformed torrent"),
    "truncated": (GOOD[: len(GOOD) // 2], "malformed torrent"),
    "no-info": (benc({"announce": "http://x/a"}), "info"),
    "info-not-dict": (benc({"info": [1, 2]}), "info"),
    "negative-length": (benc({"info": {**_INFO1, "length": -5,
                                       "pieces": hashlib.sha1(b"").digest()}}), "length"),
    "negative-file-length": (benc({"info": {
        "name": "t", "piece length": PIECE, "pieces": hashlib.sha1(b"x").digest(),
        "files": [{"length": -5, "path": ["a"]}, {"length": 6, "path": ["b"]}]}}), "length"),
    "zero-length": (benc({"info": {**_INFO1, "length": 0, "pieces": b""}}), "length"),
    "pieces-19-bytes": (benc({"info": {**_INFO1, "pieces": b"x" * 19}}), "piece hashes"),
    "pieces-too-many": (benc({"info": {**_INFO1, "pieces": b"x" * 40}}), "piece hashes"),
    "pieces-empty": (benc({"info": {**_INFO1, "pieces": b""}}), "piece hashes"),
    "deep-nesting": (b"d4:infod4:name1:t1:x" + b"l" * 200 + b"e" * 200 + b"ee", "depth"),
    "single-name-dotdot": (single_file(".."), "name"),
    "single-name-empty": (single_file(""), "name"),
}


@pytest.mark.parametrize("case", sorted(BAD_TORRENTS))
def test_bad_torrent_bytes_rejected(case):
    data, why = BAD_TORRENTS[case]
    source = f"/downloads/{case}.torrent"
    with pytest.raises(BadTorrentError) as ei:
        inputs.parse_torrent(data, source, LimitsConfig())
    names_input(ei.value, source)
    assert why in ei.value.reason


@pytest.mark.parametrize("limits,data,why", [
    (LimitsConfig(max_torrent_file_size=2048), GOOD + b"x" * 3000, "larger than the limit"),
    (LimitsConfig(max_files=3), make_torrent("t", [[f"f{i}"] for i in range(5)])[0],
     "5 files is more than the limit of 3"),
    (LimitsConfig(max_decode_depth=10), GOOD[:-1] + benc("x") + b"l" * 20 + b"e" * 21, "depth"),
    (LimitsConfig(max_decode_tokens=1000), GOOD[:-1] + benc("x") + benc(list(range(999))) + b"e",
     "item count limit"),
], ids=["size", "files", "depth", "tokens"])
def test_limits_enforced(limits, data, why):
    with pytest.raises(BadTorrentError) as ei:
        inputs.parse_torrent(data, "big.torrent", limits)
    names_input(ei.value, "big.torrent")
    assert why in ei.value.reason
    # the very same bytes pass under the default limits: it is the limit that bites
    assert inputs.parse_torrent(data, "x", LimitsConfig()).ti.num_files() > 0


def test_bad_torrent_via_engine_names_source_and_creates_nothing(make_engine, tmp_path):
    eng = make_engine("a")
    save = tmp_path / "never-created"
    for data in (b"", b"garbage", GOOD[:-3], benc({"info": {**_INFO1, "pieces": b"x"}})):
        source = "~/evil dir/hostile.torrent"
        with pytest.raises(BadTorrentError) as ei:
            eng.add(AddRequest(torrent=data, source=source, save_path=str(save))).result(10)
        names_input(ei.value, source)
    with pytest.raises(InputError, match="nothing to add"):
        eng.add(AddRequest(save_path=str(save))).result(10)
    assert not save.exists()
    assert eng.snapshot.torrents == {}


def test_read_torrent_file(tmp_path):
    limits = LimitsConfig(max_torrent_file_size=2048)
    cases = {"missing": (tmp_path / "nope.torrent", "no such file"),
             "directory": (tmp_path, "not a regular file"),
             "too-big": (tmp_path / "big.torrent", "larger than the limit of 2048"),
             "fifo": (tmp_path / "pipe.torrent", "not a regular file"),
             "device": (tmp_path / "zero.torrent", "not a regular file")}
    (tmp_path / "big.torrent").write_bytes(b"d" + b"x" * 3000)
    os.mkfifo(tmp_path / "pipe.torrent")
    os.symlink("/dev/zero", tmp_path / "zero.torrent")
    for label, (path, why) in cases.items():
        with pytest.raises(BadTorrentError) as ei:
            inputs.read_torrent_file(str(path), limits)
        names_input(ei.value, str(path))
        assert why in ei.value.reason, label
    ok = tmp_path / "ok.torrent"
    ok.write_bytes(GOOD)
    assert inputs.read_torrent_file(ok, LimitsConfig()) == GOOD


# ---------------------------------------------------------------- 2. magnets and hashes

H40 = "0123456789abcdef0123456789ABCDEF01234567"
BAD_URIS = {
    "garbage": ("hello there", "not a magnet URI"),
    "hex-39": ("a" * 39, "not a magnet URI"),
    "no-xt": ("magnet:?dn=foo&tr=udp%3A%2F%2Fx", "no BitTorrent info-hash"),
    "bad-hex": ("magnet:?xt=urn:btih:" + "z" * 40, "invalid info-hash"),
    "short-hex": ("magnet:?xt=urn:btih:abcd", "invalid info-hash"),
    "bad-btmh": ("magnet:?xt=urn:btmh:1220zz", "invalid info-hash"),
    "over-long": ("magnet:?xt=urn:btih:" + H40 + "&dn=" + "x" * 20000, "longer than"),
    "space": ("magnet:?xt=urn:btih:" + H40 + "&dn=a b", "spaces, control"),
    "newline": ("magnet:?xt=urn:btih:" + H40 + "&dn=a\nb", "spaces, control"),
    "escape": ("magnet:?xt=urn:btih:" + H40 + "&dn=\x1b[2J", "spaces, control"),
    "non-ascii": ("magnet:?xt=urn:btih:" + H40 + "&dn=caf\u00e9", "spaces, control"),
}


@pytest.mark.parametrize("case", sorted(BAD_URIS))
def test_bad_magnet_rejected(case):
    text, why = BAD_URIS[case]
    with pytest.raises(BadMagnetError) as ei:
        inputs.parse_uri(text)
    names_input(ei.value, text)
    assert why in ei.value.reason
    with pytest.raises(BadMagnetError) as ei:
        inputs.parse_uri(text, source="clipboard")
    names_input(ei.value, "clipboard")


def test_bad_magnet_via_engine(make_engine, tmp_path):
    eng = make_engine("a")
    for text, _ in BAD_URIS.values():
        with pytest.raises(BadMagnetError) as ei:
            eng.add(AddRequest(uri=text, save_path=str(tmp_path / "dl"))).result(10)
        names_input(ei.value, text)
    assert not (tmp_path / "dl").exists()


@pytest.mark.parametrize("text,v1,v2", [
    (H40, H40.lower(), None),
    ("  " + H40 + "\n", H40.lower(), None),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "00443214c74254b635cf84653a56d7c675be77df", None),
    ("abcdefghijklmnopqrstuvwxyz234567", "00443214c74254b635cf84653a56d7c675be77df", None),
    ("ab" * 32, None, "ab" * 32),
    ("magnet:?xt=urn:btih:" + H40 + "&dn=ok%20name", H40.lower(), None),
])
def test_valid_hashes_accepted(text, v1, v2):
    atp = inputs.parse_uri(text)
    assert inputs.hash_hex(atp.info_hashes) == (v1, v2)
    assert inputs.looks_like_uri(text)


# ---------------------------------------------------------------- 3/4. traversal, real transfer

SYMLINK_OUT = {"length": 0, "path": ["ln"], "attr": "l",
               "symlink path": ["..", "..", "..", "..", "etc", "passwd"]}
SYMLINK_ABS = {"length": 0, "path": ["ln2"], "attr": "l", "symlink path": ["", "etc"]}
HOSTILE = {
    "dotdot": ("t", [["..", "a"], ["b"]]),
    "dotdot-deep": ("t", [["..", "..", "x"], ["..", "..", "..", "y"], ["ok"]]),
    "absolute": ("t", [["/etc/evil-tidegate"], ["", "etc", "evil-tidegate2"], ["ok"]]),
    "backslash": ("t", [["..\\..\\evil"], ["C:\\evil"], ["ok"]]),
    "slash-in-element": ("t", [["a/../../../x"], ["ok"]]),
    "nul": ("t", [["a\x00b"], ["..\x00", "c"], ["ok"]]),
    "reserved-names": ("t", [["CON"], ["sub", "aux"], ["ok"]]),
    "name-dotdot": ("..", [["a"], ["b"]]),
    "name-traversal": ("../../evil", [["a"], ["b"]]),
    "name-absolute": ("/etc", [["evil-tidegate"], ["b"]]),
    "symlinks": ("t", [["a"], SYMLINK_OUT, SYMLINK_ABS]),
}


def hostile_swarm(case, make_engine, tmp_path):
    """Seed the hostile torrent from A; returns (A, id, data, {relpath: bytes}) or None."""
    name, files = HOSTILE[case]
    data, blobs = make_torrent(name, files)
    source = f"hostile-{case}.torrent"
    seed = tmp_path / "seed"
    a = make_engine("a")
    try:
        atp = inputs.parse_torrent(data, source, LimitsConfig())
    except BadTorrentError as exc:  # refused outright: the engine must refuse it too
        names_input(exc, source)
        with pytest.raises(type(exc)) as ei:
            a.add(AddRequest(torrent=data, source=source, save_path=str(seed))).result(10)
        names_input(ei.value, source)
        assert not seed.exists()
        return None
    fs = lt.load_torrent_buffer(data).ti.layout()  # files() is deprecated
    renamed = dict(atp.renamed_files)
    expected = {}
    for i in range(fs.num_files()):
        if fs.file_flags(i) & (lt.file_storage.flag_symlink | lt.file_storage.flag_pad_file):
            continue
        rel = renamed.get(i, fs.file_path(i))
        target = seed / rel
        assert inside(target, seed), rel  # never let the test itself write outside
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blobs[i])
        expected[os.path.normpath(rel)] = blobs[i]
    # added once its files are in place: its first check finds them (a recheck asked
    # while that first check of missing files still ran left it downloading, now and
    # then, and the seed never seeded)
    ida = a.add(AddRequest(torrent=data, source=source, save_path=str(seed))).result(10)
    a.wait_for(lambda s: ida in s.torrents and s.torrents[ida].phase == "seeding", 15)
    return a, ida, data, expected


def assert_contained(tmp_path: Path, dl: Path, expected: dict[str, bytes],
                     outside_before: set[str], etc_before: set[str]) -> None:
    sandbox = dl.parent
    for entry in tree(sandbox):
        assert entry == str(dl) or inside(entry, dl), f"{entry} lies outside {dl}"
    got = {os.path.relpath(p, dl): Path(p).read_bytes() for p in tree(dl)
           if os.path.isfile(p) and not os.path.islink(p)}
    assert got == expected
    for entry in tree(dl):
        if os.path.islink(entry):
            assert inside(os.path.realpath(entry), dl), f"{entry} -> {os.readlink(entry)}"
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "sandbox", "seed"]
    for entry in tree(tmp_path / "seed"):
        assert inside(entry, tmp_path / "seed"), entry
    assert tree(tmp_path.parent, skip=tmp_path) == outside_before
    assert set(os.listdir("/etc")) == etc_before
    assert not any(Path("/etc", n).exists() for n in ("evil-tidegate", "evil-tidegate2"))


@pytest.mark.parametrize("via", ["torrent", "magnet"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_traversal_contained_in_real_transfer(case, via, make_engine, tmp_path):
    outside_before = tree(tmp_path.parent, skip=tmp_path)
    etc_before = set(os.listdir("/etc"))
    swarm = hostile_swarm(case, make_engine, tmp_path)
    if swarm is None:
        return
    a, ida, data, expected = swarm
    dl = tmp_path / "sandbox" / "downloads"
    dl.mkdir(parents=True)
    b = make_engine("b")
    peer = (f"127.0.0.1:{a._manager.listen_port}",)
    if via == "torrent":
        req = AddRequest(torrent=data, source="x.torrent", save_path=str(dl), peers=peer)
    else:
        magnet = a.details(ida).result(10).magnet
        assert magnet.startswith("magnet:?xt=urn:btih:" + ida)
        req = AddRequest(uri=magnet, save_path=str(dl), peers=peer)
    idb = b.add(req).result(10)
    assert idb == ida
    b.wait_for(lambda s: idb in s.torrents and s.torrents[idb].complete_on_disk, 20)
    b.flush(idb).result(10)
    assert_contained(tmp_path, dl, expected, outside_before, etc_before)


def storage(path: str, link: str | None = None) -> lt.file_storage:
    fs = lt.file_storage()
    fs.add_file("t/ok", 5)
    if link is None:
        fs.add_file(path, 10)
    else:
        fs.add_file(path, 0, lt.file_storage.flag_symlink, 0, link)
    return fs


def test_unsafe_path_check_rejects_escapes():
    """Our own check (run after libtorrent's sanitising) refuses unsanitised escapes."""
    for raw in ("../x", "t/../../x", "/etc/passwd", "C:\\x", "t\\..\\..\\x"):
        with pytest.raises(UnsafePathError) as ei:
            inputs.check_file_paths(storage(raw), "src.torrent")
        names_input(ei.value, "src.torrent")
        assert repr(raw) in ei.value.reason
    with pytest.raises(UnsafePathError, match="symlink target of file 1"):
        inputs.check_file_paths(storage("t/d/ln", "../../../../etc/passwd"), "src.torrent")
    for raw in ("t/a", "t/../t/a", "t/./a", "t\\a"):
        assert inputs.check_file_paths(storage(raw), "src.torrent") == {}
    assert inputs.check_file_paths(storage("t/d/ln", "ok"), "src.torrent") == {}
    # reserved names are renamed on Windows only (elsewhere every client writes them)
    assert inputs.check_file_paths(storage("t/d/CON"), "s") == (
        {1: "t/d/CON_"} if inputs.RESERVED_NAMES_RENAMED else {})


# ---------------------------------------------------------------- engine bugs (reported)


def test_reserved_name_rename_is_not_reserved():
    data, _ = make_torrent("t", [["dir", "con.txt"], ["ok"]])
    atp = inputs.parse_torrent(data, "x", LimitsConfig())
    renamed = dict(atp.renamed_files)
    if not inputs.RESERVED_NAMES_RENAMED:  # not Windows: the name is kept, as others write it
        assert renamed == {}
        return
    assert 0 in renamed
    for part in renamed[0].split("/"):
        assert part.split(".")[0].lower() not in {"con", "prn", "aux", "nul"}, renamed[0]


def test_details_paths_match_disk_after_reserved_rename(make_engine, tmp_path):
    swarm = hostile_swarm("reserved-names", make_engine, tmp_path)
    assert swarm is not None
    a, ida, _data, expected = swarm
    paths = {os.path.normpath(f.path) for f in a.details(ida).result(10).files}
    assert paths == set(expected)


def test_stream_paths_are_the_renamed_ones(make_engine, tmp_path):
    """Streaming URLs name files as the file list does (renames included)."""
    swarm = hostile_swarm("reserved-names", make_engine, tmp_path)
    assert swarm is not None
    a, ida, _data, expected = swarm
    listed = {f.path for f in a.details(ida).result(10).files}
    streamed = {f.path for f in a.stream_info(ida).result(10).files}
    assert streamed == {p.replace("\\", "/") for p in listed}
    assert {os.path.normpath(p) for p in streamed} == set(expected)


def test_symlink_escaping_save_path_is_refused():
    fs = storage("t/ln", "../../etc/passwd")
    target = fs.symlink(1)
    assert target == "t/../../etc/passwd"  # i.e. <save_path>/../etc/passwd
    assert os.path.normpath(os.path.join("/save", target)) == "/etc/passwd"
    with pytest.raises(UnsafePathError):
        inputs.check_file_paths(fs, "src.torrent")
