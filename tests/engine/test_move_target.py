"""A move goes to a real folder or fails naming it; the data never ends up nowhere.

libtorrent's move_storage takes "no such file or directory" for "not downloaded yet" and
skips the file, so a move to /proc/self reported success, moved nothing, and left the
torrent pointing at a folder without its data."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EngineFactory, make_payload, make_torrent, start_seed, tree_bytes
from tidegate.engine import Engine
from tidegate.engine.errors import EngineError, InputError
from tidegate.engine.events import StorageMoved, StorageMoveFailed
from tidegate.engine.torrents import move_target


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path | None]:
    """A read-only tmpfs (root ignores a folder's mode, not a read-only mount)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                          capture_output=True, timeout=10)
    yield folder if done.returncode == 0 else None
    if done.returncode == 0:
        subprocess.run(["umount", str(folder)], capture_output=True, timeout=10)


def seeding(engine: Engine, tmp_path: Path) -> tuple[str, Path, dict[str, bytes]]:
    folder = make_payload(tmp_path / "src", sizes=(300_000, 10))
    tid = start_seed(engine, make_torrent(folder), folder)
    return tid, folder, tree_bytes(folder)


def test_move_to_special_or_unwritable_places_fails_and_data_stays(
        make_engine: EngineFactory, tmp_path: Path, read_only_folder: Path | None) -> None:
    eng = make_engine("a")
    events = eng.subscribe()
    tid, folder, original = seeding(eng, tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"x")
    targets = ["/proc/self", "/proc", "/sys/kernel", "/dev/shm", str(a_file)]
    if read_only_folder is not None:
        targets += [str(read_only_folder), str(read_only_folder / "sub")]
    for target in targets:
        with pytest.raises(InputError) as caught:
            eng.move(tid, target).result(10)
        assert target in str(caught.value)
        state = eng.snapshot.torrents[tid]
        assert state.save_path == str(folder.parent) and state.phase == "seeding"
        assert tree_bytes(folder) == original
    assert not any(isinstance(e, StorageMoved) for e in events.drain())
    # a real folder still works
    moved = eng.move(tid, str(tmp_path / "moved")).result(10)
    assert tree_bytes(Path(moved) / folder.name) == original


def test_a_move_that_moved_nothing_is_undone_and_reported(
        make_engine: EngineFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the check of the target (taken away here: a folder that goes bad between the
    check and the move), libtorrent's own report is not believed without the files."""
    monkeypatch.setattr(move_target, "check_target", lambda path: Path(path))
    eng = make_engine("a")
    events = eng.subscribe()
    tid, folder, original = seeding(eng, tmp_path)
    with pytest.raises(EngineError, match="not moved to /proc/self"):
        eng.move(tid, "/proc/self").result(10)
    # back in its folder (libtorrent checks it again there) and seeding all of it
    eng.wait_for(lambda s: s.torrents[tid].save_path == str(folder.parent) and
                 s.torrents[tid].phase == "seeding" and s.torrents[tid].progress == 1.0, 10)
    assert tree_bytes(folder) == original
    kinds = [type(e) for e in events.drain()]
    assert StorageMoveFailed in kinds and StorageMoved not in kinds
    moved = eng.move(tid, str(tmp_path / "moved")).result(10)
    assert tree_bytes(Path(moved) / folder.name) == original
