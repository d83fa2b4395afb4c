"""The engine never pulls UI libraries in; frontends never pull libtorrent in directly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=60).stdout
    return set(json.loads(out))


def test_engine_imports_no_ui_code() -> None:
    loaded = modules_after("import engine, engine.metainfo")
    assert "libtorrent" in loaded
    for forbidden in ("textual", "rich", "cli", "tui"):
        assert not any(m == forbidden or m.startswith(forbidden + ".") for m in loaded), forbidden


def test_import_linter_contracts_hold() -> None:
    res = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "broken" in res.stdout and " 0 broken" in res.stdout


def test_cli_start_up_imports_no_api_sites_or_asyncio() -> None:
    """`tidegate download` and the other one-shot commands start without the API client,
    sites, the chain or asyncio: each cost tens of ms per process (docs/BENCHMARKS.md)."""
    loaded = modules_after("import cli.main")
    for heavy in ("zmq", "asyncio", "cryptography", "nacl", "aiohttp", "textual",
                  "engine.api", "engine.sites", "engine.chain", "engine.proxy"):
        assert not any(m == heavy or m.startswith(heavy + ".") for m in loaded), heavy
