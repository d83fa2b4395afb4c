"""The names files are written under: as the .torrent spells them, inside the folder.

libtorrent 2.1 rewrites file names when it loads a torrent, on every OS:

* it drops some format characters (measured on 2.1.1 over every code point of planes
  0-2 and the tag/variation-selector blocks: U+061C, U+200B-U+200F, U+202A-U+202E,
  U+2060-U+2064, U+2066-U+2069, U+FEFF). ``👩‍💻`` (joined by U+200D ZERO WIDTH
  JOINER), ``🏳️‍🌈`` and a name with a bidi mark lose a character;
* it renames files whose paths differ only by ASCII case (``a/con`` next to a folder
  ``a/CON`` becomes ``a/con.1``), which are two different files on Linux.

The .torrent was made from files that have those names (every other client writes
them), so a seed looked for files that are not there ("only 0% of the data is
present") and a download wrote other names. :func:`written_paths` gives each file the
path as the info dictionary spells it, where libtorrent changed it only in those two
ways, and the add applies the difference as ``renamed_files``.

What it never does: a component that libtorrent changed in any other way (a control
character made ``_``, a ``/`` or ``..``, invalid UTF-8) keeps libtorrent's name, and two
files whose paths collide on this OS (the same path, or a file where another has a
folder) keep libtorrent's de-duplicated names. Every path is still checked to stay in
the download folder (:func:`engine.torrents.inputs.check_file_paths`).
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from typing import Any

import fastbencode
import libtorrent as lt

from .text import read_text

DROPPED = frozenset({0x061C, *range(0x200B, 0x2010), *range(0x202A, 0x202F),
                     *range(0x2060, 0x2065), *range(0x2066, 0x206A), 0xFEFF})
"""Code points libtorrent 2.1.1 removes from file names (tests/engine/test_names.py measures it)."""
_STRIP = dict.fromkeys(DROPPED)
CASE_SENSITIVE = sys.platform.startswith("linux")
"""Paths that differ by case are different files here (libtorrent treats them as one)."""
_PAD_PREFIX = b"_____padding_file_"


def as_loaded(name: str) -> str:
    """What libtorrent makes of the file name ``name`` (the characters it drops, gone)."""
    return name.translate(_STRIP)


def _text(raw: Any) -> str | None:
    if not isinstance(raw, bytes):
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _v1_paths(info: dict[bytes, Any]) -> list[list[Any]] | None:
    name = info.get(b"name.utf-8", info.get(b"name"))
    files = info.get(b"files")
    if files is None:
        return [[name]]
    if not isinstance(files, list):
        return None
    out = []
    for f in files:
        if not isinstance(f, dict):
            return None
        path = f.get(b"path.utf-8", f.get(b"path"))
        if not isinstance(path, list) or not path:
            return None
        attr = f.get(b"attr", b"")
        if (isinstance(attr, bytes) and b"p" in attr) or (
                isinstance(path[-1], bytes) and path[-1].startswith(_PAD_PREFIX)):
            continue
        out.append([name, *path])
    return out


def _v2_paths(info: dict[bytes, Any]) -> list[list[Any]] | None:
    tree = info.get(b"file tree")
    if not isinstance(tree, dict):
        return None
    out: list[list[Any]] = []
    stack: list[tuple[list[Any], dict[bytes, Any]]] = [([], tree)]
    while stack:  # depth first, in the dictionary's order (libtorrent's order)
        prefix, node = stack.pop()
        children = []
        for key, child in node.items():
            if key == b"":
                out.append(prefix)
            elif isinstance(child, dict):
                children.append((prefix + [key], child))
            else:
                return None
        stack.extend(reversed(children))
    name = info.get(b"name")
    if len(out) == 1 and len(out[0]) == 1 and out[0][0] == name:
        return out  # a single-file torrent: the file is the name
    return [[name, *p] for p in out]


def raw_paths(info: dict[bytes, Any]) -> list[list[Any]] | None:
    """The path components of every file (pad files left out) as the info dictionary
    spells them, in libtorrent's order; None when the dictionary is not as expected."""
    if b"files" in info or b"length" in info:
        return _v1_paths(info)  # v1 and hybrid: libtorrent takes the v1 list
    return _v2_paths(info)


def _restored(raw: Any, loaded: str) -> str:
    """``raw``, when libtorrent made ``loaded`` of it only by dropping characters."""
    text = _text(raw)
    if text is None or text == loaded or text in ("", ".", "..") \
            or "/" in text or "\\" in text or "\x00" in text:
        return loaded
    return text if as_loaded(text) == loaded else loaded


def _key(path: str) -> str:
    return path if CASE_SENSITIVE else path.casefold()


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]


def written_paths(ti: lt.torrent_info, info_section: bytes | None = None) -> dict[int, str]:
    """Renames (file index -> path) that make libtorrent write each file under the name
    the info dictionary gives it (see the module's docstring); empty when none is needed
    or the info dictionary cannot be read."""
    layout = ti.layout()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        files = ti.files()  # after libtorrent's de-duplication: what it writes
    indices = [i for i in range(layout.num_files())
               if not layout.file_flags(i) & lt.file_storage.flag_pad_file]
    loaded = [read_text(lambda i=i: layout.file_path(i)) for i in indices]  # type: ignore[misc]
    written = [read_text(lambda i=i: files.file_path(i)) for i in indices]  # type: ignore[misc]
    try:
        info = fastbencode.bdecode(info_section if info_section is not None
                                   else ti.info_section())
        raws = raw_paths(info) if isinstance(info, dict) else None
    except Exception:  # the info dictionary libtorrent accepted; ours is only a view
        raws = None
    intended = list(loaded)
    if raws is not None and len(raws) == len(indices):
        for n, (raw, path) in enumerate(zip(raws, loaded, strict=True)):
            parts = path.split("/")
            if len(raw) == len(parts):
                intended[n] = "/".join(_restored(r, p) for r, p in zip(raw, parts, strict=True))
    if intended == written:
        return {}
    counts = Counter(_key(p) for p in intended)
    folders = {_key(d) for p in intended for d in _parents(p)}
    final = [p if counts[_key(p)] == 1 and _key(p) not in folders else w
             for p, w in zip(intended, written, strict=True)]
    keys = [_key(p) for p in final]
    if len(set(keys)) != len(keys) or any(_key(d) in set(keys) for p in final
                                          for d in _parents(p)):
        return {}  # a mix that collides: libtorrent's own names do not
    return {i: p for i, p, w in zip(indices, final, written, strict=True) if p != w}
