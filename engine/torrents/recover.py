"""Repairs made when resume data is loaded: a move that the process died in the middle of.

A move is recorded before it starts (``TorrentExtras.moving_to``, durable in the resume
file before libtorrent is asked to move anything) and cleared once libtorrent reports it
done and the new folder is saved. A resume file that still names a target therefore means
the process died in between: before libtorrent moved anything, in the middle (some files
renamed or copied, one maybe half copied), or after it finished but before the new folder
was saved. Without this record the torrent would come back pointing at the old folder,
find its files gone, and download every piece again.

What is known: libtorrent moves file by file and deletes a source only once its copy is
whole, so a file still in the old folder is complete; and ``move`` refuses a target that
already holds one of the torrent's files, so a torrent file found in the target was put
there by the move. Hence:

* no torrent file in the target: the move had not begun; it is cancelled (old folder);
* otherwise it is finished: each file still in the old folder is moved over (replacing a
  half copy), and the torrent is loaded from the target.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import libtorrent as lt

from .inputs import hash_hex


def torrent_files(params: lt.add_torrent_params) -> list[str]:
    """The torrent's files relative to its save path (pad files left out; renames and
    libtorrent's part file included), or none when it has no metadata yet."""
    ti = params.ti
    if ti is None:
        return []
    fs = ti.layout()
    renamed = dict(params.renamed_files)
    out = []
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        out.append(renamed.get(i, fs.file_path(i)))
    v1, v2 = hash_hex(ti.info_hashes())
    out += sorted({f".{h}.parts" for h in (v1, v2, v2[:40] if v2 else None) if h})
    return out


def settle_move(params: lt.add_torrent_params, target: str) -> str:
    """Cancel or finish the interrupted move of ``params`` to ``target`` (see the module's
    doc); sets ``params.save_path`` and returns what was done, for the log."""
    old, new = Path(params.save_path), Path(target)
    files = torrent_files(params)
    if not any((new / rel).is_file() for rel in files):
        return f"a move to {new} had not begun when tidegate stopped; the data stays in {old}"
    moved = 0
    for rel in files:
        src = old / rel
        if src.is_file():
            dst = new / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dst)  # a rename on one file system; replaces a half copy
            moved += 1
    params.save_path = str(new)
    return (f"finished a move to {new} that was interrupted when tidegate stopped "
            f"({moved} files still in {old} moved over)")
