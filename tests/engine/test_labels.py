"""Categories and tags: the names' rules, the commands on a real engine, a category's save
path moving data, and everything kept across a restart (categories.json and the resume
files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EngineFactory, build_engine, make_payload, make_torrent, tree_bytes
from tidegate.engine import AddRequest
from tidegate.engine import commands as cmds
from tidegate.engine.errors import InputError, UnknownCategoryError, UnknownTorrentError
from tidegate.engine.labels import check_category, check_tag, check_tags
from tidegate.engine.state import CategoryState

T = 15


@pytest.mark.parametrize("name", ["tv", "tv/hd", "a b", "Ünïcode", "x.y", "1"])
def test_category_names_qbittorrent_takes(name: str) -> None:
    assert check_category(name) == name


@pytest.mark.parametrize("name", ["", "/tv", "tv/", "tv//hd", "a\\b", " tv", "tv ", "a\x1bb",
                                  "x" * 256])
def test_category_names_refused_name_the_name(name: str) -> None:
    with pytest.raises(InputError) as info:
        check_category(name)
    assert info.value.source == name


def test_tags_are_trimmed_and_need_no_comma() -> None:
    assert check_tag("  x ") == "x"
    assert check_tags(["b", " a", "b "]) == ("a", "b")
    for bad in ("", "   ", "a,b", "a\nb"):
        with pytest.raises(InputError):
            check_tag(bad)


def _torrent(tmp_path: Path, name: str) -> tuple[AddRequest, Path]:
    folder = make_payload(tmp_path / "src" / name, name, sizes=(200_000, 7))
    created = make_torrent(folder, piece_size=32768)
    return AddRequest(torrent=created.data, source=name, save_path=created.save_path,
                      seed_mode=True), folder


def test_categories_and_tags_on_an_engine_and_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    req1, _ = _torrent(tmp_path, "one")
    req2, _ = _torrent(tmp_path, "two")
    engine = build_engine(home).start()
    try:
        run = engine.run
        run(cmds.CategoryAdd("tv")).result(T)
        run(cmds.CategoryAdd("films", "/nonexistent/films")).result(T)
        run(cmds.CategoryAdd("films", "")).result(T)  # an existing one: a new save path
        a = run(cmds.Add(req1)).result(T)
        b = run(cmds.Add(msgspec_replace(req2, category="tv", tags=(" x", "y")))).result(T)
        with pytest.raises(UnknownCategoryError, match="nope"):
            run(cmds.SetCategory([a], "nope")).result(T)
        with pytest.raises(InputError, match="tv//hd"):
            run(cmds.CategoryAdd("tv//hd")).result(T)
        with pytest.raises(UnknownTorrentError):
            run(cmds.SetCategory([a, "ab" * 20], "tv")).result(T)
        assert engine.snapshot.torrents[a].category == ""  # one bad id changes nothing
        run(cmds.SetCategory([a], "films")).result(T)
        run(cmds.AddTags([a, b], ["z", "x"])).result(T)
        run(cmds.RemoveTags([b], ["y"])).result(T)
        with pytest.raises(InputError, match="a,b"):
            run(cmds.AddTags([a], ["a,b"])).result(T)
        snap = engine.wait_for(lambda s: s.torrents[a].tags == ("x", "z")
                               and s.torrents[b].tags == ("x", "z"), T)
        assert snap.torrents[a].category == "films" and snap.torrents[b].category == "tv"
        assert snap.categories == {"films": CategoryState(name="films"),
                                   "tv": CategoryState(name="tv")}
        run(cmds.RemoveTags([a], [])).result(T)  # no tags: all of them
        run(cmds.CategoryRemove(["tv"])).result(T)  # its torrents are left with none
        with pytest.raises(UnknownCategoryError):
            run(cmds.CategoryRemove(["tv"])).result(T)
    finally:
        engine.stop()
    again = build_engine(home).start()
    try:
        snap = again.wait_for(lambda s: {a, b} <= s.torrents.keys(), T)
        assert set(snap.categories) == {"films"}
        assert (snap.torrents[a].category, snap.torrents[a].tags) == ("films", ())
        assert (snap.torrents[b].category, snap.torrents[b].tags) == ("", ("x", "z"))
    finally:
        again.stop()


def test_a_category_save_path_moves_data_and_places_adds(make_engine: EngineFactory,
                                                          tmp_path: Path) -> None:
    engine = make_engine("e")
    req, folder = _torrent(tmp_path, "moved")
    want = tree_bytes(folder)
    tid = engine.run(cmds.Add(req)).result(T)
    engine.wait_for(lambda s: s.torrents[tid].phase == "seeding", T)
    target = tmp_path / "tv"
    engine.run(cmds.CategoryAdd("tv", str(target))).result(T)
    engine.run(cmds.SetCategory([tid], "tv")).result(T)  # replies once moved
    snap = engine.wait_for(lambda s: s.torrents[tid].save_path == str(target), T)
    assert snap.torrents[tid].category == "tv"
    assert tree_bytes(target / folder.name) == want
    assert not folder.exists() or not any(folder.iterdir())
    # an add to the category with no folder of its own is saved in the category's
    req2, _ = _torrent(tmp_path, "added")
    tid2 = engine.run(cmds.Add(msgspec_replace(req2, save_path=None, category="tv",
                                               seed_mode=False))).result(T)
    assert engine.wait_for(lambda s: tid2 in s.torrents, T).torrents[tid2].save_path == \
        str(target)


def msgspec_replace(req: AddRequest, **changes: object) -> AddRequest:
    import msgspec

    return msgspec.structs.replace(req, **changes)
