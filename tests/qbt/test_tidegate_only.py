"""What tidegate's qBittorrent API does on its own (docs/qbittorrent-api.md): no default
password, no verb that runs programs, loopback by default, and the pure parts (password
hashes in qBittorrent's format, bans, ``sync/maindata`` deltas, state strings)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers.daemon_util import TIDEGATE, env_for
from tidegate.engine.config.load import from_dict
from tidegate.engine.errors import ConfigError
from tidegate.engine.qbt.auth import Bans, Sessions, check_password, hash_password
from tidegate.engine.qbt.mapping import state_of
from tidegate.engine.qbt.sync import SyncState
from tidegate.engine.state import Phase, TorrentState

from .servers import TidegateQbt

QBT_DEFAULT_HASH = ("ARQ77eY1NUZaQsuDHbIMCA==:0WMRkYTUWVT9wVvdDtHAjU9b3b7uB8NR1Gur2hmQCvCDpm39Q"
                    "+PsJRJPaCU51dEiz+dTzh8qbPsL8WkFljQYFQ==")
"""qBittorrent 4.x's ``WebUI\\Password_PBKDF2`` for its old default ``adminadmin``."""


def test_password_hash_is_qbittorrents_format() -> None:
    assert check_password("adminadmin", QBT_DEFAULT_HASH)
    assert not check_password("adminadmim", QBT_DEFAULT_HASH)
    made = hash_password("s3cret")
    assert check_password("s3cret", made) and not check_password("s3cre", made)
    assert not check_password("x", "garbage") and not check_password("x", "")


@pytest.mark.slow
def test_first_start_makes_a_password_printed_once_and_stored_hashed() -> None:
    server = TidegateQbt()
    server.start(password=None)
    try:
        stored = server.home / "data" / "qbt-password"
        text = stored.read_text().strip()
        assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
        c = server.client()
        assert c.login("adminadmin").text == "Fails."  # no default password
    finally:
        server.daemon.stop()
    lines = [ln for ln in server.daemon.stderr.splitlines() if "shown this once" in ln]
    assert len(lines) == 1
    password = lines[0].rsplit(": ", 1)[1]
    assert password not in text and check_password(password, text)
    # the second start keeps the stored password and prints none
    server.daemon.start(60)
    try:
        c = server.client()
        assert c.login(password).text == "Ok."
        assert c.call("app/webapiVersion", method="GET").text == "2.8.19"
        # no verb that sets preferences (qBittorrent's ran a program on completion)
        assert c.call("app/setPreferences", {"json": "{}"}).status == 404
    finally:
        stderr = server.stop()
    assert "shown this once" not in stderr


def test_listen_is_loopback_unless_allowed() -> None:
    with pytest.raises(ConfigError, match="qbt.listen"):
        from_dict({"qbt": {"listen": "0.0.0.0"}})
    with pytest.raises(ConfigError, match="qbt.listen"):
        from_dict({"qbt": {"listen": "localhost"}})
    assert from_dict({"qbt": {"listen": "0.0.0.0", "allow_remote": True}}).qbt.listen == \
        "0.0.0.0"
    cfg = from_dict({})
    assert (cfg.qbt.enabled, cfg.qbt.listen, cfg.qbt.port) == (False, "127.0.0.1", 8080)


def test_bans_and_sessions_expire() -> None:
    now = [0.0]
    bans = Bans(3, 60, clock=lambda: now[0])
    for _ in range(2):
        bans.failed("a")
    bans.succeeded("a")  # a success clears the count
    for _ in range(3):
        bans.failed("a")
    assert bans.banned("a") and not bans.banned("b")
    now[0] = 61
    assert not bans.banned("a")
    sessions = Sessions(100, clock=lambda: now[0])
    ended: list[str] = []
    sessions.on_end = ended.append
    sid = sessions.new()
    now[0] += 99
    assert sessions.touch(sid)
    now[0] += 101
    assert not sessions.touch(sid) and ended == [sid]


def test_maindata_deltas() -> None:
    sync = SyncState()
    t1 = {"state": "pausedUP", "name": "a"}
    full = sync.maindata("s", 0, {"h1": t1}, {"tv": {"name": "tv", "savePath": ""}}, ["x"],
                         {"dht_nodes": 0})
    assert full["full_update"] is True and full["rid"] == 1
    same = sync.maindata("s", 1, {"h1": dict(t1)}, {"tv": {"name": "tv", "savePath": ""}},
                         ["x"], {"dht_nodes": 0})
    assert same == {"rid": 2}
    delta = sync.maindata("s", 2, {"h1": {**t1, "state": "stalledUP"}, "h2": {"name": "b"}},
                          {}, ["y"], {"dht_nodes": 3})
    assert delta == {"rid": 3, "torrents": {"h1": {"state": "stalledUP"}, "h2": {"name": "b"}},
                     "categories_removed": ["tv"], "tags": ["y"], "tags_removed": ["x"],
                     "server_state": {"dht_nodes": 3}}
    gone = sync.maindata("s", 3, {}, {}, [], {"dht_nodes": 3})
    assert gone == {"rid": 4, "torrents_removed": ["h1", "h2"], "tags_removed": ["y"]}
    assert sync.maindata("s", 1, {}, {}, [], {})["full_update"] is True  # a stale rid
    assert sync.maindata("other", 5, {}, {}, [], {})["full_update"] is True


def _state(phase: Phase, done: bool, down: int = 0, up: int = 0, error: str = "") -> str:
    t = TorrentState(
        id="a" * 40, name="n", info_hash_v1="a" * 40, info_hash_v2=None, phase=phase,
        progress=1.0 if done else 0.5, total_size=10, wanted=10, wanted_done=10 if done else 5,
        download_rate=down, upload_rate=up, num_peers=0, num_seeds=0, swarm_seeds=-1,
        swarm_peers=-1, all_time_download=0, all_time_upload=0, ratio=0.0, eta=-1,
        save_path="/d", added_time=0, completed_time=0, seeding_time=0, has_metadata=True,
        paused=phase == Phase.PAUSED, sequential=False, queue_position=-1,
        download_limit=0, upload_limit=0, ratio_limit=-1, seed_time_limit=-1,
        complete_on_disk=done, error=error, num_pieces=1, pieces_done=1 if done else 0)
    return state_of(t)


def test_state_strings_are_qbittorrent_4s() -> None:
    assert _state(Phase.DOWNLOADING, False, down=5) == "downloading"
    assert _state(Phase.DOWNLOADING, False) == "stalledDL"
    assert _state(Phase.SEEDING, True, up=5) == "uploading"
    assert _state(Phase.SEEDING, True) == "stalledUP"
    assert _state(Phase.PAUSED, False) == "pausedDL"
    assert _state(Phase.PAUSED, True) == "pausedUP"
    assert _state(Phase.QUEUED, False) == "queuedDL"
    assert _state(Phase.QUEUED, True) == "queuedUP"
    assert _state(Phase.CHECKING, False) == "checkingDL"
    assert _state(Phase.CHECKING, True) == "checkingUP"
    assert _state(Phase.METADATA, False) == "metaDL"
    assert _state(Phase.MOVING, True) == "moving"
    assert _state(Phase.ERROR, False, error="disk full") == "error"
    assert _state(Phase.ERROR, False, error="No such file or directory") == "missingFiles"


def test_qbt_password_generate_prints_one_and_stores_its_hash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = subprocess.run([*TIDEGATE, "qbt", "password", "--generate"], env=env_for(home),
                          capture_output=True, text=True, timeout=60, check=True)
    password = done.stdout.strip()
    stored = (home / "data" / "qbt-password").read_text()
    assert len(password) >= 12 and password not in stored
    assert check_password(password, stored.strip())
    refused = subprocess.run([*TIDEGATE, "qbt", "password", "--stdin"], input="\n",
                             env=env_for(home), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "1 to 1024 characters" in refused.stderr
    assert (home / "data" / "qbt-password").read_text() == stored  # unchanged
