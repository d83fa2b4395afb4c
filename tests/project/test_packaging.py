"""The distribution installs one import package, ``tidegate`` (issue 22, "Packaging").

The repository keeps its top-level folders (engine/, cli/, tui/); ``tidegate/`` holds the
package's ``__init__``/``__main__`` and symbolic links to them, so a checkout imports the same
``tidegate.engine`` the wheel installs. These tests build the wheel the way ``pip install .``
and ``pipx install .`` do and check that nothing generic lands in site-packages, that every
source file is in it, that it runs from outside the checkout, and that ``import tidegate``
costs nothing: no libtorrent, Textual or ZeroMQ until a subpackage is imported.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBPACKAGES = ("engine", "cli", "tui")
HEAVY = ("libtorrent", "textual", "zmq", "rich", "msgspec", "aiohttp", "cryptography",
         "asyncio", "platformdirs")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT),
                          "-w", str(out)], capture_output=True, text=True, timeout=600,
                         cwd=out)
    if res.returncode != 0 and "No matching distribution found for setuptools" in res.stderr:
        pytest.skip("no package index to build the wheel's build requirements from")
    assert res.returncode == 0, res.stdout + res.stderr
    (found,) = out.glob("tidegate-*.whl")
    return found


def source_files(folder: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_the_wheel_holds_only_tidegate_and_every_source_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        assert {n.split("/")[0] for n in names} == {"tidegate", dist_info}
        assert z.read(f"{dist_info}/top_level.txt").decode().split() == ["tidegate"]
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
        assert "tidegate = tidegate.cli.main:entry" in entry_points
    packaged = {n.removeprefix("tidegate/") for n in names if n.startswith("tidegate/")}
    for sub in SUBPACKAGES:
        # the symbolic links were followed: every file of the folder, at the same place
        missing = source_files(sub) - packaged
        assert not missing, f"not in the wheel: {sorted(missing)}"
    assert {"__init__.py", "__main__.py"} <= packaged


@pytest.mark.slow
def test_the_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """A pure-Python wheel unpacked is installed: put it first on sys.path in a folder
    away from the checkout and run ``python -m tidegate`` from it."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    code = ("import json, runpy, sys; sys.path.insert(0, sys.argv[1]); "
            "import tidegate.engine, tidegate.cli.main, tidegate.tui; "
            "print(json.dumps([tidegate.__file__, tidegate.engine.__file__, "
            "tidegate.cli.main.__file__, tidegate.tui.__file__, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('engine', 'cli', 'tui'))]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    *files, generic = json.loads(res.stdout)
    for f in files:
        assert Path(f).is_relative_to(site), f
    assert generic == []

    env["TIDEGATE_HOME"] = str(tmp_path / "home")
    res = subprocess.run([sys.executable, "-c", "import runpy, sys; sys.path.insert(0, "
                          f"{str(site)!r}); sys.argv = ['tidegate', '--help']; "
                          "runpy.run_module('tidegate', run_name='__main__', alter_sys=True)"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "download" in res.stdout and "daemon" in res.stdout


def test_import_tidegate_imports_nothing_heavy() -> None:
    code = "import json, sys; import tidegate; print(json.dumps(sorted(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, check=True)
    loaded = set(json.loads(res.stdout))
    for heavy in HEAVY:
        assert not any(m == heavy or m.startswith(heavy + ".") for m in loaded), heavy
    assert sorted(m for m in loaded if m.startswith("tidegate")) == ["tidegate"]
    for generic in SUBPACKAGES:
        assert generic not in loaded


def test_the_checkout_links_the_subpackages_into_tidegate() -> None:
    """``tidegate/engine`` etc. are symbolic links (git keeps them): if a checkout lost
    them (core.symlinks=false), the package and the wheel would have no subpackages."""
    for sub in SUBPACKAGES:
        link = ROOT / "tidegate" / sub
        assert link.is_symlink() and link.resolve() == (ROOT / sub).resolve(), link


def test_no_module_imports_a_generic_top_level_name() -> None:
    """From the repository's root ``import engine`` would still work, and load a second copy
    of every module next to ``tidegate.engine`` (two ``Engine`` classes, two sets of
    exceptions): code and tests import only ``tidegate.…`` or relatively."""
    found = []
    for folder in (*SUBPACKAGES, "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_bytes())):
                names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                         else [a.name for a in node.names] if isinstance(node, ast.Import)
                         else [])
                found += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names
                          if name.split(".")[0] in SUBPACKAGES]
    assert found == []
