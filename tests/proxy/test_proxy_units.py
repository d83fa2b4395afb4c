"""The Smart Proxy's sans-IO parts: Host routing, ranges, piece layers, safe opening."""

from __future__ import annotations

import os
from pathlib import Path

import libtorrent as lt
import pytest

from tidegate.engine.chain.keys import SiteKey
from tidegate.engine.proxy.hosts import route_host
from tidegate.engine.proxy.ranges import Unsatisfiable, not_modified, parse_range, range_applies
from tidegate.engine.proxy.verify import Mismatch, open_regular
from tidegate.engine.sites import merkle
from tidegate.engine.sites.served import content_type

PORT = 8475
ADDRESS = SiteKey.generate().address
LABEL = ADDRESS.removesuffix(".onion")


def test_allowed_hosts() -> None:
    assert route_host(f"127.0.0.1:{PORT}", PORT).kind == "loopback"  # type: ignore[union-attr]
    assert route_host(f"localhost:{PORT}", PORT).kind == "loopback"  # type: ignore[union-attr]
    assert route_host(f"[::1]:{PORT}", PORT).kind == "loopback"  # type: ignore[union-attr]
    site = route_host(f"{LABEL}.localhost:{PORT}", PORT)
    assert site is not None and site.address == ADDRESS and not site.onion
    onion = route_host(ADDRESS, PORT)
    assert onion is not None and onion.address == ADDRESS and onion.onion
    assert route_host(f"{ADDRESS}:80", PORT) == onion
    assert route_host(ADDRESS, PORT, authority=ADDRESS) == onion
    assert route_host("localhost", 80) is not None  # port 80 may be left out


def hostile_hosts(port: int, address: str) -> list[str | None]:
    """100 Host headers the proxy must refuse (DNS rebinding, numeric tricks, ports...)."""
    label = address.removesuffix(".onion")
    flipped = ("b" if label[0] == "a" else "a") + label[1:]  # checksum no longer matches
    out: list[str | None] = [
        None, "", " ", "evil.com", f"evil.com:{port}", f"attacker.example:{port}",
        f"127.0.0.1.nip.io:{port}", f"localhost.:{port}", f"LOCALHOST:{port}",
        f"Localhost:{port}", f"127.1:{port}", f"127.0.1:{port}", f"0x7f.0.0.1:{port}",
        f"0x7f000001:{port}", f"2130706433:{port}", f"017700000001:{port}",
        f"0177.0.0.1:{port}", f"127.0.0.2:{port}", f"0.0.0.0:{port}", f"0:{port}",
        f"[::ffff:127.0.0.1]:{port}", f"[0:0:0:0:0:0:0:1]:{port}", f"[::1%lo]:{port}",
        f"::1:{port}", f"[::1]{port}", "[::1", "localhost", "127.0.0.1", "[::1]",
        f"localhost:{port + 1}", f"localhost:{port - 1}", f"localhost:0{port}",
        f"localhost:+{port}", f"localhost:{port}:{port}", f"localhost: {port}",
        f"localhost :{port}", f"localhost:{port} x", f"local\thost:{port}",
        f"user@localhost:{port}", f"localhost:{port}@evil.com", f"localhost:{port}/",
        f"localhost:{port}#", f"localhost:{port}?", f"localhost%3a{port}",
        f"local host:{port}", f"localhost\x00:{port}", f"localhost\r\n:{port}",
        f"xn--localhost-:{port}", f"lоcalhost:{port}",  # Cyrillic o
        f"localhost.localdomain:{port}", f"ip6-localhost:{port}", f"127.0.0.1.:{port}",
        f"www.localhost:{port}", f"a.localhost:{port}", f"evil.localhost:{port}",
        f"{label}.localhost", f"{label}.localhost:{port + 1}", f"{label}.localhost:80",
        f"{label}.localhost.:{port}", f"{label.upper()}.localhost:{port}",
        f"www.{label}.localhost:{port}", f"{label}.{label}.localhost:{port}",
        f"{label}.onion.localhost:{port}", f"{label}x.localhost:{port}",
        f"{label[:-1]}.localhost:{port}", f"{flipped}.localhost:{port}",
        f"{label}.evil.com:{port}", f"{label}.localhost.evil.com:{port}",
        f"{label}.onion:{port}", f"{label}.onion:443", f"{label}.onion:8080",
        f"{label}.onion.", f"www.{label}.onion", f"{flipped}.onion",
        f"{label[:16]}.onion", f"{label}.onion:80:80", f"{label}.onion:080",
        f"{label}.ONION", f"{label}.tor", f"{label}.i2p", f"{label}",
        f"{label}:{port}", f".localhost:{port}",
        "x" * 300,
        f"{'a' * 63}.localhost:{port}", f"{'a' * 56}.localhost:{port}",
        f"{'2' * 56}.localhost:{port}", f"{'7' * 56}.onion",
        f"127.0.0.1:{port},evil.com", f"evil.com,127.0.0.1:{port}",
        f"127.0.0.1:{port} evil.com", f"[127.0.0.1]:{port}", f"[localhost]:{port}",
        f"http://localhost:{port}", f"localhost:{port}\\", f"localhost\\:{port}",
        f"192.168.1.1:{port}", f"169.254.169.254:{port}",
        f"127.0.0.1:{port}.", f"localhost:{port}a",
    ]
    assert len(out) == 100, len(out)
    assert len(set(out)) == 100
    return out


@pytest.mark.parametrize("host", hostile_hosts(PORT, ADDRESS))
def test_hostile_hosts_refused(host: str | None) -> None:
    assert route_host(host, PORT) is None


def test_absolute_form_authority_must_match_host() -> None:
    assert route_host(f"localhost:{PORT}", PORT, authority="evil.com") is None
    assert route_host(ADDRESS, PORT, authority=f"{ADDRESS}:80") is None  # not the same text


@pytest.mark.parametrize("target,want", [
    ("/", None), ("/a?b", None),
    ("http://h:1/x", "h:1"), ("HTTP://h:1/x", "h:1"), ("hTtP://h:1", "h:1"),
    ("http://h:1?q", "h:1"), ("http://u@h:1/", "u@h:1"),
    ("https://h:1/", ""), ("HTTPS://h:1/", ""), ("ftp://h:1/", ""), ("FTP://h/", ""),
    ("file:///etc/passwd", ""), ("*", ""), ("h:1", ""), ("", ""),
])
def test_absolute_form_scheme_in_any_case_and_only_http(target: str, want: str | None) -> None:
    from tidegate.engine.proxy.hosts import target_authority

    assert target_authority(target) == want
    if want == "":  # equals no Host: always refused
        assert route_host(f"localhost:{PORT}", PORT, target_authority(target)) is None


@pytest.mark.parametrize("header,size,want", [
    (None, 100, None),
    ("bytes=0-9", 100, (0, 10)),
    ("bytes=90-", 100, (90, 100)),
    ("bytes=-10", 100, (90, 100)),
    ("bytes=-1000", 100, (0, 100)),
    ("bytes=50-5000", 100, (50, 100)),
    ("bytes=99-99", 100, (99, 100)),
    ("BYTES=1-2", 100, (1, 3)),
    ("bytes=100-", 100, Unsatisfiable(100)),
    ("bytes=100-200", 100, Unsatisfiable(100)),
    ("bytes=-0", 100, Unsatisfiable(100)),
    ("bytes=0-", 0, Unsatisfiable(0)),
    ("bytes=5-1", 100, None),  # invalid: ignored
    ("bytes=0-1,5-6", 100, None),  # several ranges: ignored (whole file)
    ("items=0-1", 100, None),
    ("bytes=a-b", 100, None),
    ("bytes=-", 100, None),
    ("bytes=١-٢", 100, None),  # non-ASCII digits
    ("bytes=" + "9" * 40 + "-", 100, None),
    ("bytes 0-1", 100, None),
])
def test_parse_range(header: str | None, size: int, want: object) -> None:
    assert parse_range(header, size) == want


def test_conditionals() -> None:
    etag, modified = '"abc"', 1_700_000_000
    assert not_modified({"If-None-Match": '"abc"'}, etag, modified)
    assert not_modified({"If-None-Match": 'W/"abc", "x"'}, etag, modified)
    assert not_modified({"If-None-Match": "*"}, etag, modified)
    assert not not_modified({"If-None-Match": '"other"'}, etag, modified)
    # If-None-Match wins over If-Modified-Since
    assert not not_modified({"If-None-Match": '"x"',
                             "If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"}, etag, modified)
    assert not_modified({"If-Modified-Since": "Sat, 01 Jan 2050 00:00:00 GMT"}, etag, modified)
    assert not not_modified({"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, etag,
                            modified)
    assert not not_modified({"If-Modified-Since": "garbage"}, etag, modified)
    assert range_applies(None, etag, modified)
    assert range_applies('"abc"', etag, modified)
    assert not range_applies('"old"', etag, modified)
    assert not range_applies('W/"abc"', etag, modified)  # If-Range needs a strong match


def test_content_types_come_from_the_name_only() -> None:
    assert content_type("index.html") == "text/html"
    assert content_type("a/b/app.js") == "text/javascript"
    assert content_type("img/x.png") == "image/png"
    assert content_type("font.woff2") == "font/woff2"
    assert content_type("noext") == "application/octet-stream"
    assert content_type("archive.tar.gz") == "application/octet-stream"  # never Content-Encoding


@pytest.mark.parametrize("size,piece", [(1, 16 << 10), (16 << 10, 16 << 10),
                                        (1_000_000, 64 << 10), (3_333_333, 16 << 10),
                                        (5 << 20, 1 << 20)])
def test_piece_layers_match_libtorrent(tmp_path: Path, size: int, piece: int) -> None:
    data = os.urandom(size)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.bin").write_bytes(data)
    ct = lt.create_torrent(lt.list_files(str(tmp_path / "d" / "f.bin")), piece,
                           lt.create_torrent.v2_only)
    lt.set_piece_hashes(ct, str(tmp_path / "d"))
    meta = ct.generate()
    fs = lt.torrent_info(lt.bencode(meta)).layout()
    root = fs.root(0).to_bytes()
    leaves = merkle.file_leaves(tmp_path / "d" / "f.bin")
    assert merkle.root_of_leaves(leaves) == root
    layer = merkle.piece_layer(leaves, piece)
    if size > piece:
        assert b"".join(layer) == meta[b"piece layers"][root]
    assert merkle.root_from_layer(layer, piece) == root
    for i in (0, len(layer) - 1):
        assert merkle.piece_hash(data[i * piece:(i + 1) * piece], piece) == layer[i]
    # a layer with one wrong hash stands for another root
    bad = list(layer)
    bad[-1] = bytes(32)
    assert merkle.root_from_layer(bad, piece) != root
    length, layers = merkle.decode_layers(merkle.encode_layers(piece, {root: layer}))
    assert length == piece and layers == {root: layer}


@pytest.mark.parametrize("blob", [b"", b"de", b"d12:piece lengthi3ee", b"x" * 10,
                                  b"d12:piece lengthi16384e12:piece layersd1:a3:abcee"])
def test_bad_layers_files_are_errors(blob: bytes) -> None:
    with pytest.raises(ValueError):
        merkle.decode_layers(blob)


def test_open_regular_refuses_symlinks_and_specials(tmp_path: Path) -> None:
    (tmp_path / "site" / "d").mkdir(parents=True)
    (tmp_path / "site" / "d" / "ok.txt").write_bytes(b"ok")
    (tmp_path / "secret").write_bytes(b"secret")
    (tmp_path / "site" / "link.txt").symlink_to(tmp_path / "secret")
    (tmp_path / "site" / "dirlink").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "site" / "fifo")
    fd = open_regular(str(tmp_path / "site"), "d/ok.txt")
    assert os.read(fd, 10) == b"ok"
    os.close(fd)
    with pytest.raises(OSError):
        open_regular(str(tmp_path / "site"), "link.txt")
    with pytest.raises(OSError):
        open_regular(str(tmp_path / "site"), "dirlink/secret")
    with pytest.raises(Mismatch):
        open_regular(str(tmp_path / "site"), "fifo")
    with pytest.raises(Mismatch):
        open_regular(str(tmp_path / "site"), "d")


@pytest.mark.parametrize("headers,ok", [
    ({}, True),  # curl, scripts: the user's own request
    ({"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none",
      "Sec-Fetch-User": "?1"}, True),  # typed in the address bar
    ({"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate",
      "Sec-Fetch-Site": "cross-site", "Sec-Fetch-User": "?1"}, False),  # a link clicked, or
    # a script that moved the page in a click handler: the same headers
    ({"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate",
      "Sec-Fetch-Site": "same-site", "Sec-Fetch-User": "?1"}, False),
    ({"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate",
      "Sec-Fetch-Site": "cross-site"}, False),  # a script moved the page: not the user
    ({"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors",
      "Sec-Fetch-Site": "cross-site"}, False),  # <img> on any page
    ({"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"},
     False),  # fetch()
    ({"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate",
      "Sec-Fetch-Site": "cross-site", "Sec-Fetch-User": "?1"}, False),  # a frame
    ({"Sec-Fetch-Mode": "navigate"}, False),
])
def test_only_user_navigations_make_the_node_follow_a_site(headers: dict[str, str],
                                                           ok: bool) -> None:
    from tidegate.engine.proxy.hosts import may_visit

    assert may_visit(headers) is ok


@pytest.mark.parametrize("soft,in_use,peers,want", [
    (1024, 44, 500, (1024 - 44 - 500 - 64 - 128) // 2),
    (256, 44, 500, 16),  # libtorrent may take most of it: the floor
    (20000, 44, 500, (20000 - 44 - 500 - 64 - 128) // 2),
    (1 << 30, 44, 500, 1 << 16),
])
def test_proxy_connection_cap_leaves_descriptors_for_the_engine_and_api(
        soft: int, in_use: int, peers: int, want: int) -> None:
    from tidegate.engine.proxy.limits import Gate, connection_cap

    assert connection_cap(soft, in_use, peers) == want
    gate = Gate(2)
    assert gate.admit() and gate.admit() and not gate.admit() and gate.refused == 1
    gate.release()
    assert gate.admit() and gate.open == 2
