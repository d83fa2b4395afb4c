"""bench/suite.py end to end with the real programs (``--smoke`` sizes), aria2c hidden from
PATH: every row is in the table, every measured number is positive and each ratio is the
quotient of the two sides shown, aria2c's rows say "missing: aria2c" and the run exits 3."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "bench" / "suite.py"
# every program the suite runs from PATH, aria2c left out on purpose
PROGRAMS = ("git", "transmission-cli", "qbittorrent-nox", "mktorrent")
OTHERS_BIG = ["raw libtorrent, tidegate's settings", "raw libtorrent, its defaults", "aria2c",
              "transmission-cli", "qbittorrent-nox"]
SEEDS = "seed: tidegate download from a qbittorrent-nox seed"
EXPECTED = (
    [("download 16 MiB", o) for o in OTHERS_BIG]
    + [("download 16 MiB, seeds", SEEDS)]
    + [("recheck 16 MiB", o) for o in OTHERS_BIG[:2]]
    + [("recheck 16 MiB", "raw libtorrent, tidegate's settings, auto-managed")]
    + [(f"create 16 MiB {f}", "libtorrent set_piece_hashes") for f in ("v1", "v2", "hybrid")]
    + [("create 16 MiB v1", "mktorrent -t 2")]
    + [("download 40 x 64 KiB", o) for o in OTHERS_BIG if o != "transmission-cli"]
    + [("download 40 x 64 KiB, seeds", SEEDS)])
LIMITS = ("sha1_1", "sha1_2", "sha256_1", "sha256_2", "loopback", "disk_write",
          "disk_read_cold", "disk_read_warm")


def processes_using(folder: Path) -> list[int]:
    """pids whose command line or environment names ``folder`` (the suite's children all
    do: their arguments, TIDEGATE_HOME or HOME are in it)."""
    mark = str(folder).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if mark in (proc / "cmdline").read_bytes() or mark in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def run_suite(tmp_path: Path, work: Path, path_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": str(path_dir), "PYTHONPATH": str(ROOT)}
    out = tmp_path / "suite.json"
    proc = subprocess.Popen(
        [sys.executable, str(SUITE), "--smoke", "--tmp", str(work),
         "--json-out", str(out)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the suite stops its children and cleans up
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what it started
            proc.communicate()
        pytest.fail("bench/suite.py --smoke took over 240 s")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_smoke_suite_without_aria2(tmp_path: Path) -> None:
    found = {p: shutil.which(p) for p in (*PROGRAMS, "aria2c")}
    absent = [p for p, where in found.items() if where is None]
    if absent:
        pytest.skip(f"needs {', '.join(absent)} installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for prog in PROGRAMS:
        (bin_dir / prog).symlink_to(str(found[prog]))
    # short: the daemons' unix sockets live under it (107-byte limit)
    work = Path(tempfile.mkdtemp(prefix="tgs-", dir="/tmp"))
    try:
        done = run_suite(tmp_path, work, bin_dir)
        left = list(work.iterdir())
        alive = processes_using(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    assert done.returncode == 3, done.stderr[-3000:]
    assert "missing: aria2c" in done.stderr
    assert "INCOMPLETE: missing aria2c" in done.stdout
    assert left == []  # its temp folder is gone
    assert alive == []  # and every process it started has ended
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("| ")]
    header, body = lines[0], lines[1:]
    assert "ratio tidegate/other" in header
    printed = [[c.strip() for c in ln.strip("|").split("|")] for ln in body]
    assert [(c[0], c[1]) for c in printed] == EXPECTED

    report = json.loads((tmp_path / "suite.json").read_text())
    assert report["missing"] == ["aria2c"]
    assert all(report["results"]["limits"][k] > 0 for k in LIMITS)
    rows = report["rows"]
    assert [(r["measurement"], r["other_name"]) for r in rows] == EXPECTED
    for r, cells in zip(rows, printed, strict=True):
        assert r["limit_mb_s"] > 0, r
        assert 0 < r["tidegate_mb_s"] < 1e6, r
        if r["other_name"] == "aria2c":
            assert r["missing"] == "missing: aria2c" and r["other_mb_s"] is None, r
            assert r["ratio"] is None and cells[3] == "missing: aria2c", r
            continue
        assert r["missing"] == "" and 0 < r["other_mb_s"] < 1e6, r
        assert r["ratio"] == pytest.approx(r["tidegate_mb_s"] / r["other_mb_s"]), r
        tg, other, ratio = float(cells[2]), float(cells[3]), float(cells[4])
        assert ratio == pytest.approx(r["ratio"], abs=5e-4), (r, cells)
        # the printed ratio follows from the printed sides (each within 0.05 of the value)
        low, high = (tg - 0.05) / (other + 0.05), (tg + 0.05) / max(other - 0.05, 1e-9)
        assert low - 5e-4 <= ratio <= high + 5e-4, cells
