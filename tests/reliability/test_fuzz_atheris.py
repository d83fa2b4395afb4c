"""Coverage-guided fuzzing with atheris: each target of atheris_targets.py in its own
process, started from a corpus of real inputs (seeds.py).

CI runs a bounded number of inputs per target (``TIDEGATE_ATHERIS_RUNS``, 50,000);
``make fuzz`` runs each for ``TIDEGATE_ATHERIS_SECONDS`` and keeps the corpus libFuzzer
grows in ``TIDEGATE_FUZZ_CORPUS`` between runs. libFuzzer itself enforces the limits:
``-timeout=1`` (an input slower than a second is a crash), ``-rss_limit_mb`` (memory), and
the target raises for any exception but the parser's documented one. A crash leaves the
input in the test's folder and its traceback in the failure message.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.daemon_util import ROOT
from tidegate.engine.chain.codec import encode_chain

from . import seeds
from .fuzzkit import TEST_TIMEOUT

pytest.importorskip("atheris")
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TEST_TIMEOUT)]

RUNS = int(os.environ.get("TIDEGATE_ATHERIS_RUNS") or 50_000)
SECONDS = int(os.environ.get("TIDEGATE_ATHERIS_SECONDS") or 0)
"""When set, each target runs this long instead of ``RUNS`` inputs (``make fuzz``)."""
RSS_LIMIT_MB = 1024


def corpus(target: str) -> dict[str, bytes]:
    """The seed inputs of one target."""
    c = seeds.chain()
    if target == "torrent":
        return dict(seeds.torrents())
    if target == "magnet":
        return {f"m{i}": m.encode() for i, m in enumerate(seeds.MAGNETS)}
    if target == "entry":
        return {f"e{i}": raw for i, raw in enumerate(c["valid"] + c["invalid"])}
    if target == "chain_file":
        return {"full": c["chain_file"], "genesis": encode_chain(c["valid"][:1])}
    if target == "head":
        return {f"h{i}": h for i, h in enumerate(seeds.heads())}
    if target == "request":
        return {f"r{i}": f for i, f in enumerate(seeds.request_frames())}
    if target == "reply":
        frames = seeds.reply_bodies() + [pub[2] for pub in seeds.publications()]
        return {f"r{i}": f for i, f in enumerate(frames)}
    if target == "bus":
        return {f"b{i}": b for i, b in enumerate(seeds.bus_bodies())}
    if target == "config":
        return {"config.toml": seeds.CONFIG.encode()}
    if target == "http":
        return {"range": b"\x00\x10bytes=0-99\x00" + b"x.localhost:8475"}
    raise KeyError(target)


TARGETS = ["torrent", "magnet", "entry", "chain_file", "head", "request", "reply", "bus",
           "config", "http"]
MAX_LEN = {"torrent": 65536, "entry": 16384, "chain_file": 16384, "request": 16384,
           "reply": 16384, "config": 8192}


@pytest.mark.parametrize("target", TARGETS)
def test_atheris(target: str, tmp_path: Path) -> None:
    keep = os.environ.get("TIDEGATE_FUZZ_CORPUS")
    folder = Path(keep) / target if keep else tmp_path / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in corpus(target).items():
        (folder / f"seed-{name}").write_bytes(data)
    budget = [f"-max_total_time={SECONDS}", "-runs=-1"] if SECONDS else [
        f"-runs={RUNS}", "-max_total_time=120"]
    cmd = [sys.executable, "-m", "tests.reliability.atheris_targets", target, *budget,
           "-timeout=1", f"-rss_limit_mb={RSS_LIMIT_MB}", "-print_final_stats=1",
           f"-max_len={MAX_LEN.get(target, 4096)}", f"-artifact_prefix={tmp_path}/",
           str(folder)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=SECONDS + 600 if SECONDS else 300)
    out = proc.stdout + proc.stderr
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-",
                                                                         "oom-", "leak-"))]
    assert proc.returncode == 0 and not crashes, (
        f"{target}: exit {proc.returncode}, {crashes}\n{out[-4000:]}")
    runs = int(re.search(r"stat::number_of_executed_units: (\d+)", out).group(1))  # type: ignore[union-attr]
    rss = int(re.search(r"stat::peak_rss_mb:\s+(\d+)", out).group(1))  # type: ignore[union-attr]
    done = re.search(r"Done \d+ runs in (\d+) second", out)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", out)
    print(f"\nATHERIS {target}: runs={runs} seconds={done.group(1) if done else '?'} "
          f"peak_rss_mb={rss} cov/ft={'/'.join(cov[-1]) if cov else '?'} "
          f"corpus={len(list(folder.iterdir()))}")
    assert runs >= (1000 if SECONDS else RUNS)
    assert rss < RSS_LIMIT_MB
