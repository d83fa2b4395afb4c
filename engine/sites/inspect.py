"""What ``site log`` and ``site verify`` report: read-only looks at a site's chain and files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..chain import ChainRejected
from ..chain.codec import encode_chain
from ..chain.entry import Genesis, Update
from ..errors import TidegateError
from ..state import ChainEntryInfo, SiteReport
from . import snapshot as snap
from .chain_file import ChainStore
from .merkle import verify_files
from .registry import SiteRecord


def chain_log(rec: SiteRecord) -> list[ChainEntryInfo]:
    """The verified chain, entry by entry (``site log``)."""
    chain = rec.store.chain
    out = []
    for entry, digest in zip(chain.entries, chain.hashes, strict=True):
        if isinstance(entry, Genesis):
            out.append(ChainEntryInfo(seq=0, kind="genesis", time=entry.time,
                                      hash=digest.hex(), name=entry.name))
        else:
            out.append(ChainEntryInfo(
                seq=entry.seq, kind="update", time=entry.time, hash=digest.hex(),
                prev=entry.prev.hex(), magnet=entry.magnet, files=len(entry.files),
                size=sum(f.size for f in entry.files)))
    return out

def verify_site(rec: SiteRecord, rebuild: str | None, hosted: int) -> SiteReport:
    """The chain from genesis (re-read from disk) and snapshot ``hosted``'s files; with
    ``rebuild``, the head's snapshot rebuilt from a source folder and compared."""
    problems: list[str] = []
    try:
        fresh = ChainStore.open(rec.store.path, rec.address).chain
        if fresh.hashes != rec.store.chain.hashes:
            problems.append("chain: the file on disk differs from the chain in memory")
    except ChainRejected as exc:
        problems.append(f"chain: {exc}")
        fresh = rec.store.chain
    entry = fresh.entries[hosted] if 0 <= hosted < len(fresh.entries) else None
    files = nbytes = 0
    if isinstance(entry, Update):
        base = rec.snapshot_dir(hosted) / snap.NAME
        found = verify_files(base, entry)
        problems += found
        files = len(entry.files) - len(found)
        nbytes = sum(f.size for f in entry.files)
    if rebuild is not None:
        head = fresh.entries[-1] if fresh.entries else None
        if not isinstance(head, Update):
            problems.append("rebuild: the site has published no snapshot yet")
        else:
            problems += _rebuild(rec, Path(rebuild).expanduser(), head, fresh)
    return SiteReport(address=rec.address, height=fresh.height, snapshot=hosted if entry
                      is not None else -1, files=files, bytes=nbytes, problems=problems,
                      rebuilt=rebuild is not None)

def _rebuild(rec: SiteRecord, source: Path, head: Update, chain: Any) -> list[str]:
    scratch = rec.folder / "rebuild"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        raws = [e.raw for e in chain.entries[:head.seq]]
        built = snap.snapshot(source, encode_chain(raws), scratch, link=True)
        return [f"rebuild: {d}" for d in snap.differences(head.files, head.magnet, built)]
    except TidegateError as exc:
        return [f"rebuild: {exc}"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
