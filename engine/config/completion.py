"""The ``[completion]`` section: where unfinished downloads live until they complete."""

from __future__ import annotations

from typing import Annotated

import msgspec

Folder = Annotated[str, msgspec.Meta(pattern=r"^($|/|~)", max_length=4096)]
"""Empty, or an absolute path (``~`` allowed)."""


class CompletionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Move on completion (docs/automation.md "Move on completion")."""

    incomplete_dir: Folder = ""
    """Folder new downloads are written to until complete; then their data moves to its
    final folder (the category's save path, else ``storage.download_dir``). Empty: off,
    torrents download where they stay. An add that names its own folder, a seed (data
    already complete) and a site's torrent are not moved."""
