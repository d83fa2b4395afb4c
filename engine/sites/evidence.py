"""Refused pushes kept as evidence, inside the site's own folder and bounded.

A push refused for its content (a bad signature, a malformed item, an older head than the
one held, a second head for a held height) is written under ``sites/<address>/evidence/``
as two files: ``<ns>-<reason>.msg``, the bytes exactly as received, and
``<ns>-<reason>.json``: the reason, the message, the sender and the time. At most
:data:`MAX_KEPT` refusals are kept per site (the oldest go first), each at most one link
message (4 KiB): a flood costs a bounded folder. An equivocation kept here is the proof
that the owner's key signed two heads for one height.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from ..paths import private_dir

MAX_KEPT = 32
"""Refusals kept per site."""
FOLDER = "evidence"


def keep(site_folder: Path, raw: bytes, reason: str, message: str, sender: str) -> Path:
    """Write one refusal; returns the path of its ``.msg`` file."""
    folder = site_folder / FOLDER
    private_dir(folder)
    stem = f"{time.time_ns()}-{re.sub(r'[^a-z_]', '', reason)[:32] or 'refused'}"
    meta = {"reason": reason, "message": message, "sender": sender, "received": time.time(),
            "bytes": len(raw)}
    (folder / f"{stem}.msg").write_bytes(raw)
    (folder / f"{stem}.json").write_text(json.dumps(meta, indent=1))
    prune(folder)
    return folder / f"{stem}.msg"


def prune(folder: Path) -> None:
    stems = sorted({p.stem for p in folder.iterdir() if p.suffix in (".msg", ".json")})
    for stem in stems[:-MAX_KEPT] if len(stems) > MAX_KEPT else []:
        for suffix in (".msg", ".json"):
            (folder / f"{stem}{suffix}").unlink(missing_ok=True)


def kept(site_folder: Path) -> list[dict[str, object]]:
    """The refusals kept for a site, oldest first (each with its ``path``)."""
    folder = site_folder / FOLDER
    if not folder.is_dir():
        return []
    out: list[dict[str, object]] = []
    for meta in sorted(folder.glob("*.json")):
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out.append({**data, "path": str(meta.with_suffix(".msg"))})
    return out
