"""Where tidegate keeps its config, data and runtime files.

``TIDEGATE_HOME`` relocates all three under one folder (tests use it); otherwise
the platform's directories are used. Nothing is created at import time.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

APP = "tidegate"


@dataclass(frozen=True, slots=True)
class Paths:
    """The three roots tidegate uses."""

    config_file: Path
    """The TOML config file (may not exist: every key has a default)."""
    data_dir: Path
    """Resume data, keys, chains: everything that must survive a restart."""
    runtime_dir: Path
    """Sockets and lock files for a running daemon."""
    default_download_dir: Path
    """Where downloads go when neither the command nor the config says."""

    @property
    def resume_dir(self) -> Path:
        return self.data_dir / "resume"


def resolve_paths(environ: dict[str, str] | None = None) -> Paths:
    """Compute the paths from the environment (``TIDEGATE_HOME``) or the platform."""
    env = os.environ if environ is None else environ
    home = env.get("TIDEGATE_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Paths(
            config_file=root / "config.toml",
            data_dir=root / "data",
            runtime_dir=root / "run",
            default_download_dir=root / "downloads",
        )
    import platformdirs  # here: ~5 ms of start-up that TIDEGATE_HOME does not need

    config_file = Path(env["TIDEGATE_CONFIG"]) if env.get("TIDEGATE_CONFIG") else (
        Path(platformdirs.user_config_dir(APP)) / "config.toml"
    )
    with warnings.catch_warnings():
        # without XDG_RUNTIME_DIR platformdirs falls back to /tmp/runtime-UID and warns
        warnings.simplefilter("ignore")
        runtime = Path(platformdirs.user_runtime_dir(APP))
    return Paths(
        config_file=config_file,
        data_dir=Path(platformdirs.user_data_dir(APP)),
        runtime_dir=runtime,
        default_download_dir=Path(platformdirs.user_downloads_dir()),
    )


PRIVATE = 0o700
"""State folders: only the user may list them (info-hashes, site addresses, keys)."""


def private_dir(path: Path) -> Path:
    """Make ``path`` a folder only its owner can enter: every missing component is created
    0700 (never wider for a moment), and an existing folder with any group or other bit is
    narrowed to 0700. Only for tidegate's own state folders, never a shared one."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE)
        except FileExistsError:
            pass
    st = os.stat(path)
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.chmod(path, PRIVATE)
    return path


def secure_state(paths: Paths, *more: Path) -> None:
    """Narrow tidegate's state folders to 0700 (creating the data folder): the data folder
    and, where they exist, the runtime folder and the folders under the data folder that
    hold state, plus ``more`` (created). Run at every start, so folders an older version
    made 0755 are fixed."""
    private_dir(paths.data_dir)
    for sub in ("resume", "sites", "keys", "tor", "oneshot"):
        if (paths.data_dir / sub).is_dir():
            private_dir(paths.data_dir / sub)
    if paths.runtime_dir.is_dir():
        private_dir(paths.runtime_dir)
    for extra in more:
        private_dir(extra)
