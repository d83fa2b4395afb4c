"""The qBittorrent Web API contract: each request as Sonarr (QBittorrentProxyV2.cs) or
cross-seed (src/clients/QBittorrent.ts) sends it, to tidegate and to the real
qbittorrent-nox 4.5.2 in the same test; the replies must have the same status and shape
(keys and JSON types). Values are compared where both can be made to agree.

What tidegate serves differently on purpose is in docs/qbittorrent-api.md and tested in
test_tidegate_only.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_payload, make_torrent

from .conftest import Pair, shape, wait_for
from .servers import Client

pytestmark = pytest.mark.slow


def test_api_probe_before_login_is_403_as_sonarr_expects(pair: Pair) -> None:
    # Sonarr's IsApiSupported: 404 = no v2 API, 403 = v2 API that wants a login
    ours, theirs = pair.both("app/webapiVersion", method="GET")
    assert ours.status == theirs.status == 403
    assert ours.text == theirs.text == "Forbidden"


def test_login_logout(pair: Pair) -> None:
    for c in pair.clients:
        wrong = c.login("not-the-password")
        assert (wrong.status, wrong.text, c.sid) == (200, "Fails.", ""), c.name
        right = c.login()
        assert (right.status, right.text) == (200, "Ok."), c.name
        cookie = right.headers.get("Set-Cookie", "")
        assert c.sid and "HttpOnly" in cookie and "SameSite=Strict" in cookie, c.name
        assert c.call("app/version", method="GET").status == 200, c.name
    ours, theirs = pair.both("auth/logout", method="GET")
    assert ours.status == theirs.status == 405  # a verb that changes state needs POST
    ours, theirs = pair.both("auth/logout")
    assert ours.status == theirs.status == 200
    ours, theirs = pair.both("app/version", method="GET")
    assert ours.status == theirs.status == 403


def test_app_and_transfer_shapes(pair: Pair) -> None:
    pair.login()
    ours, theirs = pair.both("app/webapiVersion", method="GET")
    assert ours.text == theirs.text  # the version whose shapes are served
    ours, theirs = pair.both("app/version", method="GET")
    assert ours.text.startswith("v") and theirs.text.startswith("v")
    ours, theirs = pair.both("app/defaultSavePath", method="GET")
    assert ours.text == str(pair.tidegate.downloads)
    assert theirs.text == str(pair.real.downloads)
    ours, theirs = pair.both("app/preferences", method="GET")
    mine, real = shape(ours.json()), shape(theirs.json())
    assert set(mine) <= set(real), set(mine) - set(real)
    assert {k: real[k] for k in mine} == mine
    # the keys Sonarr's and Radarr's QBittorrentPreferences read
    assert {"save_path", "max_ratio_enabled", "max_ratio", "max_seeding_time_enabled",
            "max_seeding_time", "max_ratio_act", "queueing_enabled"} <= set(mine)
    ours, theirs = pair.both("transfer/info", method="GET")
    assert shape(ours.json()) == shape(theirs.json())
    for path, empty in (("torrents/categories", {}), ("torrents/tags", []),
                        ("torrents/info", [])):
        ours, theirs = pair.both(path)  # cross-seed POSTs its reads
        assert ours.json() == theirs.json() == empty, path


def _torrent(tmp_path: Path) -> tuple[bytes, str, str]:
    payload = make_payload(tmp_path / "src", sizes=(300_000,))
    created = make_torrent(payload, fmt="v1")
    assert created.info_hash_v1
    return created.data, created.info_hash_v1, created.save_path


def _listed(c: Client, h: str, states: set[str] | None = None) -> dict[str, object] | None:
    found = c.call("torrents/info", {"hashes": h}, method="GET").json()
    if found and (states is None or found[0]["state"] in states):
        return dict(found[0])
    return None


SEEDING = {"uploading", "stalledUP", "queuedUP", "forcedUP"}


def test_add_track_and_remove_a_torrent(pair: Pair, tmp_path: Path) -> None:
    data, h, save_path = _torrent(tmp_path)
    pair.login()
    fields = {"savepath": save_path, "paused": "true", "skip_checking": "true",
              "foo": "bar"}  # cross-seed's last field, sent against a parser bug of its own
    ours, theirs = pair.both("torrents/add", fields, files=[("x.cross-seed.torrent", data)])
    assert (ours.status, ours.text) == (theirs.status, theirs.text) == (200, "Ok.")
    infos = [wait_for(f"{c.name} to list it paused", lambda c=c: _listed(
        c, h, {"pausedUP"})) for c in pair.clients]
    assert shape(infos[0]) == shape(infos[1])
    for info in infos:
        assert (info["hash"], info["infohash_v1"], info["progress"]) == (h, h, 1)
        assert info["save_path"] == save_path
    for verb in ("properties", "files", "trackers"):
        ours, theirs = pair.both(f"torrents/{verb}", {"hash": h})  # cross-seed: POST
        assert ours.status == theirs.status == 200, verb
        assert shape(ours.json()) == shape(theirs.json()), verb
    ours, theirs = pair.both("torrents/files", {"hash": h}, method="GET")  # Sonarr: GET
    assert [(f["name"], f["size"], f["progress"], f["priority"]) for f in ours.json()] == \
        [(f["name"], f["size"], f["progress"], f["priority"]) for f in theirs.json()]

    full = [c.call("sync/maindata", {"rid": "0"}, method="GET").json() for c in pair.clients]
    assert set(full[0]) == set(full[1]) and full[0]["full_update"] is True
    assert shape(full[0]["torrents"][h]) == shape(full[1]["torrents"][h])
    assert shape(full[0]["server_state"]) == shape(full[1]["server_state"])
    assert full[0]["rid"] >= 1 and full[1]["rid"] >= 1

    ours, theirs = pair.both("torrents/resume", {"hashes": h})
    assert ours.status == theirs.status == 200
    for c, first in zip(pair.clients, full, strict=True):
        rid = first["rid"]

        def delta(c: Client = c) -> dict[str, object] | None:
            nonlocal rid
            got = c.call("sync/maindata", {"rid": str(rid)}, method="GET").json()
            assert "full_update" not in got or got["full_update"] is False, c.name
            rid = got["rid"]
            state = got.get("torrents", {}).get(h, {}).get("state")
            return got if state in SEEDING else None
        got = wait_for(f"{c.name}'s maindata delta to show it seeding", delta)
        assert set(got["torrents"][h]) < set(first["torrents"][h])  # only what changed

    for c in pair.clients:
        wait_for(f"{c.name}'s seeding filter", lambda c=c: c.call(
            "torrents/info", {"filter": "seeding"}, method="GET").json())
    ours, theirs = pair.both("torrents/setShareLimits", {
        "hashes": h, "ratioLimit": "2", "seedingTimeLimit": "60"})
    assert ours.status == theirs.status == 200
    for c in pair.clients:
        def limits(c: Client = c) -> bool:
            info = _listed(c, h) or {}
            return (info.get("ratio_limit"), info.get("seeding_time_limit")) == (2, 60)
        wait_for(f"{c.name} to show the limits", limits, 10)
    for verb in ("topPrio", "recheck", "pause"):
        ours, theirs = pair.both(f"torrents/{verb}", {"hashes": h})
        assert ours.status == theirs.status, verb
    ours, theirs = pair.both("torrents/delete", {"hashes": h, "deleteFiles": "false"})
    assert ours.status == theirs.status == 200
    for c in pair.clients:
        wait_for(f"{c.name} to forget it", lambda c=c: c.call(
            "torrents/info", method="GET").json() == [])
    assert Path(save_path, "payload").exists()  # deleteFiles=false kept the data


def test_add_by_magnet_in_urls(pair: Pair, tmp_path: Path) -> None:
    _, h, _ = _torrent(tmp_path)
    pair.login()
    ours, theirs = pair.both("torrents/add", {"urls": f"magnet:?xt=urn:btih:{h}",
                                              "paused": "true"})
    assert (ours.status, ours.text) == (theirs.status, theirs.text) == (200, "Ok.")
    for c in pair.clients:
        info = wait_for(f"{c.name} to list the magnet", lambda c=c: _listed(c, h))
        assert info["state"] in ("pausedDL", "metaDL"), (c.name, info["state"])


def test_errors(pair: Pair, tmp_path: Path) -> None:
    data, h, save_path = _torrent(tmp_path)
    pair.login()
    cases = [
        ("torrents/properties", {}, "GET", 400),
        ("torrents/properties", {"hash": "0" * 40}, "GET", 404),
        ("torrents/files", {"hash": "0" * 40}, "POST", 404),
        ("torrents/trackers", {"hash": "0" * 40}, "GET", 404),
        ("torrents/pause", {"hashes": h}, "GET", 405),
        ("torrents/nonsense", {}, "GET", 404),
        ("torrents/pause", {"hashes": "0" * 40}, "POST", 200),  # unknown hashes: ignored
    ]
    for path, params, method, status in cases:
        ours, theirs = pair.both(path, params, method=method)
        assert ours.status == theirs.status == status, (path, method, ours.text, theirs.text)
    ours, theirs = pair.both("torrents/add", {}, files=[("bad.torrent", b"not bencode")])
    assert ours.status == theirs.status == 415
    assert ours.text == theirs.text == "Error: 'bad.torrent' is not a valid torrent file."
    ours, theirs = pair.both("torrents/add", {"savepath": save_path}, files=[])
    assert ours.text == theirs.text == "Fails."  # nothing to add
    for expected in ("Ok.", "Fails."):  # the second add is a duplicate
        ours, theirs = pair.both("torrents/add", {"savepath": save_path, "paused": "true"},
                                 files=[("t.torrent", data)])
        assert ours.text == theirs.text == expected


def test_csrf_and_host_checks(pair: Pair) -> None:
    pair.login()
    for c in pair.clients:
        same = f"http://127.0.0.1:{c.port}"
        cases = [({"Origin": "http://evil.example"}, 401),
                 ({"Referer": "http://evil.example/page"}, 401),
                 ({"Origin": same}, 200),
                 ({"Referer": same + "/"}, 200),
                 ({"Host": f"evil.example:{c.port}"}, 401),  # DNS rebinding
                 ({"Host": f"127.0.0.1:{c.port + 1}"}, 401),
                 ({"Host": f"localhost:{c.port}"}, 200)]
        for headers, status in cases:
            got = c.call("app/version", method="GET", headers=headers)
            assert got.status == status, (c.name, headers, got.text)


def test_failed_logins_ban_the_address(pair: Pair) -> None:
    texts = []
    for c in pair.clients:
        for _ in range(5):
            assert c.login("wrong").text == "Fails.", c.name
        banned = c.login()
        assert banned.status == 403 and not c.sid, c.name
        texts.append(banned.text)
    assert texts[0] == texts[1]


def test_categories_and_tags(pair: Pair, tmp_path: Path) -> None:
    data, h, save_path = _torrent(tmp_path)
    pair.login()
    ours, theirs = pair.both("torrents/createCategory", {"category": "tv",
                                                          "savePath": save_path})
    assert ours.status == theirs.status == 200
    ours, theirs = pair.both("torrents/createCategory", {"category": "tv"})
    assert ours.status == theirs.status == 409
    ours, theirs = pair.both("torrents/createCategory", {"category": "a//b"})
    assert (ours.status, ours.text) == (theirs.status, theirs.text)
    ours, theirs = pair.both("torrents/categories", method="GET")
    assert ours.json() == theirs.json() == {"tv": {"name": "tv", "savePath": save_path}}
    ours, theirs = pair.both("torrents/add", {"category": "tv", "tags": "cross-seed,x",
                                              "paused": "true", "skip_checking": "true",
                                              "savepath": save_path},
                             files=[("t.torrent", data)])
    assert ours.text == theirs.text == "Ok."
    for c in pair.clients:
        info = wait_for("the labelled torrent", lambda c=c: _listed(c, h))
        assert (info["category"], info["tags"]) == ("tv", "cross-seed, x"), c.name
        assert c.call("torrents/info", {"category": "tv"}, method="GET").json(), c.name
        assert c.call("torrents/info", {"category": ""}, method="GET").json() == []
        assert c.call("torrents/info", {"tag": "x"}, method="GET").json(), c.name
    ours, theirs = pair.both("torrents/setCategory", {"hashes": h, "category": "nope"})
    assert (ours.status, ours.text) == (theirs.status, theirs.text) == (
        409, "Incorrect category name")
    for verb, tags in (("addTags", "y"), ("removeTags", "x")):
        ours, theirs = pair.both(f"torrents/{verb}", {"hashes": h, "tags": tags})
        assert ours.status == theirs.status == 200
    for c in pair.clients:
        wait_for("the tags", lambda c=c: _listed(c, h) and _listed(c, h)["tags"] ==
                 "cross-seed, y")
        md = c.call("sync/maindata", {"rid": "0"}, method="GET").json()
        assert "tv" in md["categories"] and "y" in md["tags"], c.name
    ours, theirs = pair.both("torrents/setCategory", {"hashes": h, "category": ""})
    assert ours.status == theirs.status == 200
