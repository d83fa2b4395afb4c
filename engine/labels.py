"""Categories and tags: the names' rules (qBittorrent's) and their wire types.

A torrent has at most one category (``""`` none) and any number of tags. Categories are
declared first (``category_add``, optionally with a save path) and kept in the engine's
state folder; tags need no declaration. The rules are qBittorrent's, so names move
between the two unchanged (its ``Session::isValidCategoryName`` and ``Tag::isValid``):

* a category name is not empty, has no backslash, does not start or end with ``/`` and
  has no ``//`` (``tv/hd`` is allowed: qBittorrent calls it a subcategory); tidegate also
  refuses one that starts or ends with a space;
* a tag is trimmed of spaces, then must not be empty nor hold a comma.

Both also refuse control characters (a name is shown in terminals and written to
files) and more than :data:`MAX_NAME` characters. Pure functions, no IO.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Annotated

import msgspec

from .errors import InputError

MAX_NAME = 255
"""Longest category or tag name (characters)."""
MAX_NAMES = 10_000
"""Most ids, tags or categories one command may name."""

Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]
Names = Annotated[list[Name], msgspec.Meta(max_length=MAX_NAMES)]
Ids = Annotated[list[str], msgspec.Meta(max_length=MAX_NAMES)]


def _controls(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in text)


def check_category(name: str, allow_empty: bool = False) -> str:
    """``name`` if it is a valid category name (``""`` only with ``allow_empty``: no
    category), else InputError naming it and why."""
    if not isinstance(name, str):
        raise InputError(repr(name)[:60], "a category name is text")
    if not name:
        if allow_empty:
            return name
        raise InputError(name, "a category name cannot be empty")
    why = ""
    if len(name) > MAX_NAME:
        why = f"a category name has at most {MAX_NAME} characters"
    elif "\\" in name:
        why = "a category name cannot hold a backslash"
    elif name.startswith("/") or name.endswith("/"):
        why = "a category name cannot start or end with /"
    elif "//" in name:
        why = "a category name cannot hold //"
    elif name != name.strip():
        why = "a category name cannot start or end with a space"
    elif _controls(name):
        why = "a category name cannot hold control characters"
    if why:
        raise InputError(name, why)
    return name


def check_tag(tag: str) -> str:
    """``tag`` trimmed of spaces, if it is a valid tag, else InputError naming it."""
    if not isinstance(tag, str):
        raise InputError(repr(tag)[:60], "a tag is text")
    clean = tag.strip()
    why = ""
    if not clean:
        why = "a tag cannot be empty"
    elif "," in clean:
        why = "a tag cannot hold a comma"
    elif len(clean) > MAX_NAME:
        why = f"a tag has at most {MAX_NAME} characters"
    elif _controls(clean):
        why = "a tag cannot hold control characters"
    if why:
        raise InputError(tag, why)
    return clean


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Every tag checked and trimmed: sorted, each once."""
    return tuple(sorted({check_tag(t) for t in tags}))


def check_save_path(path: str) -> str:
    """A category's save path: ``""`` (none) or an absolute path."""
    if not isinstance(path, str):
        raise InputError(repr(path)[:60], "a save path is text")
    if path and not path.startswith("/"):
        raise InputError(path, "a category's save path must be absolute")
    if len(path) > 4096 or _controls(path):
        raise InputError(path, "a save path has at most 4096 characters and no control "
                               "characters")
    return path
