"""State folders are 0700 and secrets 0600 (issue 20): data folders were created 0755, so
another local user could list every info-hash. Checked with a real second Unix user."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.helpers.other_user import open_folder, other_user, run_as
from tests.helpers.sites_util import site_engine
from tidegate.engine import AddRequest
from tidegate.engine.paths import private_dir

MAGNET = "magnet:?xt=urn:btih:" + "ab" * 20


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _use(home: Path, again: bool = False) -> tuple[Path, str]:
    """Start a real engine with sites in ``home``: add a torrent (its resume file is
    durable when the add returns) and make a site (key, chain); stop it. ``again``: both
    are there already, only start (they are restored) and stop."""
    engine = site_engine(home).start()
    try:
        if again:
            snap = engine.wait_for(lambda s: bool(s.torrents) and bool(s.sites), 10)
            tid, address = next(iter(snap.torrents)), next(iter(snap.sites))
        else:
            tid = engine.add(AddRequest(uri=MAGNET, save_path=str(home / "dl"))).result(30)
            address = engine.site_new("private", None).result(30).address
    finally:
        engine.stop()
    return home / "data", f"{tid}.resume\n{address}"


def _assert_private(user: str, data: Path, names: str) -> None:
    resume = data / "resume"
    tid_file, address = names.split("\n")
    site = data / "sites" / address
    for folder in (data, resume, data / "sites", site):
        assert mode(folder) == 0o700, f"{folder} is {mode(folder):o}"
    for secret in (site / "key", resume / tid_file, site / "chain", site / "site.json"):
        assert mode(secret) & 0o077 == 0, f"{secret} is {mode(secret):o}"
    assert mode(site / "key") == 0o600
    for target in (data, resume, data / "sites"):
        listed = run_as(user, "ls", str(target))
        assert listed.returncode != 0 and "Permission denied" in listed.stderr, \
            (target, listed.stdout, listed.stderr)
    read = run_as(user, "cat", str(resume / tid_file))
    assert read.returncode != 0 and "Permission denied" in read.stderr


def test_another_user_cannot_list_the_state_of_a_new_data_folder() -> None:
    with other_user() as user, open_folder() as base:
        home = base / "home"
        home.mkdir(mode=0o755)
        # the other user reaches the folder: only the state folders' modes stop it
        assert run_as(user, "ls", str(home)).returncode == 0
        data, names = _use(home)
        assert names.split("\n")[0] in os.listdir(data / "resume")
        _assert_private(user, data, names)


def test_folders_an_older_version_made_0755_are_narrowed_at_start() -> None:
    with other_user() as user, open_folder() as base:
        home = base / "home"
        home.mkdir(mode=0o755)
        data, names = _use(home)
        for folder in (data, data / "resume", data / "sites", data / "run"):
            if folder.is_dir():
                folder.chmod(0o755)
        assert run_as(user, "ls", str(data / "resume")).returncode == 0  # as found
        data, names = _use(home, again=True)
        _assert_private(user, data, names)


def test_private_dir_creates_every_missing_component_0700(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        deep = private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old)
    for p in (tmp_path / "a", tmp_path / "a" / "b", deep):
        assert mode(p) == 0o700
