"""The engine never pulls UI libraries in; frontends never pull libtorrent in directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=60).stdout
    return set(json.loads(out))


def test_engine_imports_no_ui_code() -> None:
    loaded = modules_after("import tidegate.engine, tidegate.engine.metainfo")
    assert "libtorrent" in loaded
    for forbidden in ("textual", "rich", "tidegate.cli", "tidegate.tui"):
        assert not any(m == forbidden or m.startswith(forbidden + ".") for m in loaded), forbidden


def test_import_linter_contracts_hold() -> None:
    res = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "broken" in res.stdout and " 0 broken" in res.stdout


def test_cli_start_up_imports_no_api_sites_or_asyncio() -> None:
    """`tidegate download` and the other one-shot commands start without the API client,
    sites, the chain or asyncio: each cost tens of ms per process (docs/BENCHMARKS.md)."""
    loaded = modules_after("import tidegate.cli.main")
    for heavy in ("zmq", "asyncio", "cryptography", "nacl", "aiohttp", "textual",
                  "tidegate.engine.api", "tidegate.engine.sites", "tidegate.engine.chain",
                  "tidegate.engine.proxy", "tidegate.engine.engine", "libtorrent",
                  "rich", "platformdirs"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in loaded), heavy


def test_commands_that_drive_a_daemon_do_not_import_libtorrent() -> None:
    """`tidegate ls`, `add`, `pause`... need the API client, not the Engine: importing any
    `tidegate.engine` module does not import the Engine (its `__init__` is lazy), and the
    CLI imports libtorrent's users (metainfo, the Engine) inside the commands that run them."""
    loaded = modules_after("import tidegate.cli.main, tidegate.cli.remote, "
                           "tidegate.engine.api, tidegate.engine.daemon")
    assert "zmq" in loaded
    for heavy in ("libtorrent", "tidegate.engine.engine", "tidegate.engine.torrents",
                  "tidegate.engine.metainfo", "textual"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in loaded), heavy


def test_a_command_writing_to_a_pipe_does_not_load_rich(tmp_path: Path) -> None:
    """Rich (~13 ms, ~33 ms with its progress bars) is loaded only to draw on a terminal:
    `tidegate create` into a pipe prints its plain result line without it."""
    folder = tmp_path / "payload"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"x" * 100_000)
    code = ("import json, sys; from tidegate.cli.main import main; "
            f"rc = main(['create', {str(folder)!r}, '-o', {str(tmp_path / 't.torrent')!r}]); "
            "print(json.dumps([rc, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rich', 'platformdirs'))]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, env={**os.environ,
                                                     "TIDEGATE_HOME": str(tmp_path / "h")})
    rc, loaded = json.loads(res.stdout.splitlines()[-1])
    assert rc == 0, res.stderr
    assert res.stderr.startswith(f"wrote {tmp_path / 't.torrent'} (1 files, "), res.stderr
    assert loaded == []
