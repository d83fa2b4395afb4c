"""Config: strict decoding, errors naming key and file, provenance, TIDEGATE_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.engine import config
from tidegate.engine.errors import ConfigError
from tidegate.engine.paths import resolve_paths


def load_text(tmp_path: Path, text: str) -> config.LoadedConfig:
    (tmp_path / "config.toml").write_text(text)
    return config.load(resolve_paths({"TIDEGATE_HOME": str(tmp_path)}))


def test_defaults_without_a_file(tmp_path: Path) -> None:
    loaded = config.load(resolve_paths({"TIDEGATE_HOME": str(tmp_path)}))
    assert not loaded.file_exists
    assert loaded.config == config.Config()
    assert loaded.config.queue.active_seeds == -1
    assert loaded.download_dir() == tmp_path.resolve() / "downloads"
    assert all(loaded.source_of(k) == "default" for k in config.flatten(loaded.config))


def test_values_and_provenance(tmp_path: Path) -> None:
    loaded = load_text(tmp_path, '[rates]\ndownload = 1000\n[storage]\ndownload_dir = "~/x"\n')
    assert loaded.config.rates.download == 1000
    assert loaded.source_of("rates.download") == "file"
    assert loaded.source_of("rates.upload") == "default"
    assert loaded.download_dir() == Path("~/x").expanduser()


@pytest.mark.parametrize(("text", "key", "words"), [
    ("[network]\nconnections_limit = 'x'\n", "network.connections_limit", "Expected `int`"),
    ("[network]\nbogus = 1\n", "network", "unknown field `bogus`"),
    ("[nope]\na = 1\n", None, "unknown field `nope`"),
    ("[rates]\nupload = -5\n", "rates.upload", "must be 0 (unlimited) to 2147483647"),
    ("[network]\nencryption = 'maybe'\n", "network.encryption", "Invalid enum value 'maybe'"),
    ("[proxy]\ntype = 'socks5'\n", "proxy", "proxy.host and proxy.port are required"),
    ("[network]\ndht_bootstrap_nodes = ['nohost']\n", "network.dht_bootstrap_nodes[0]",
     "not host:port"),
    ("[engine]\nsnapshot_hz = 1000.0\n", "engine.snapshot_hz", "between 0.2 and 60"),
    ("this is = = not toml", None, "not valid TOML"),
])
def test_bad_values_name_key_and_file(tmp_path: Path, text: str, key: str | None,
                                      words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    message = str(info.value)
    assert words in message
    assert str(tmp_path / "config.toml") in message
    if key:
        assert key in message


def test_paths_follow_tidegate_home(tmp_path: Path) -> None:
    p = resolve_paths({"TIDEGATE_HOME": str(tmp_path / "h")})
    assert p.config_file == tmp_path / "h" / "config.toml"
    assert p.resume_dir == tmp_path / "h" / "data" / "resume"
    assert p.runtime_dir == tmp_path / "h" / "run"
