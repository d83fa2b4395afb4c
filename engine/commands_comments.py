"""The comment commands (engine/comments/; docs/comments.md). They are run by a
:class:`engine.node.Node` with ``comments.enabled``; a bare Engine refuses them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from .command_base import Command
from .comments.net_state import CommentsNetState
from .comments.views import CommentsInfo, CommentView, ImportResult

CommentUrl = Annotated[str, msgspec.Meta(max_length=2048)]
CommentText = Annotated[str, msgspec.Meta(max_length=8192)]
"""Characters; the record also bounds the text's UTF-8 bytes (8 KiB)."""
CommentId = Annotated[str, msgspec.Meta(max_length=64)]
RecordText = Annotated[str, msgspec.Meta(max_length=32 * 1024)]
Records = Annotated[list[RecordText], msgspec.Meta(max_length=1000)]

COMMENTS_TUI = "Comments screen (C)"


class CommentPost(Command[CommentView], frozen=True, forbid_unknown_fields=True):
    """Comment on a URL (or reply to a comment, ``parent``): the node signs with its
    author key and mines the work ``comments.difficulty`` asks."""

    cmd = "comment_post"
    timeout = 600.0
    cli = "comment post"
    tui = "Comments screen (C): Post / Reply"
    url: CommentUrl
    text: CommentText
    parent: CommentId = ""


class CommentList(Command[list[CommentView]], frozen=True, forbid_unknown_fields=True):
    """A URL's comments, oldest first."""

    cmd = "comment_list"
    cli = "comment show"
    tui = "Comments screen (C): Show"
    url: CommentUrl


class CommentImport(Command[list[ImportResult]], frozen=True, forbid_unknown_fields=True):
    """Import records or NIP-22 events (JSON texts, at most 1000 a call): each is
    accepted or refused with its reason."""

    cmd = "comment_import"
    timeout = 600.0
    cli = "comment import"
    no_face = "TUI: import reads a file; the CLI's `tidegate comment import FILE`"
    records: Records


class CommentExport(Command[list[str]], frozen=True, forbid_unknown_fields=True):
    """A URL's comments as NIP-22 Nostr events (JSON texts), oldest first."""

    cmd = "comment_export"
    cli = "comment export"
    no_face = "TUI: export writes a file; the CLI's `tidegate comment export URL`"
    url: CommentUrl


class CommentStatus(Command[CommentsInfo], frozen=True, forbid_unknown_fields=True):
    """The comment endpoint: its URL, network, difficulty, count and this node's author."""

    cmd = "comment_status"
    cli = "comment status"
    tui = COMMENTS_TUI


class CommentPeers(Command[CommentsNetState], frozen=True, forbid_unknown_fields=True):
    """The comments network (docs/comments.md "The comments network"): this node's DHT announce and
    every comment server it pulls from, with its last sync, last error and the records
    pulled from it and refused."""

    cmd = "comment_peers"
    cli = "comment peers"
    no_face = "TUI: a diagnostic; the CLI's `tidegate comment peers`"


COMMENT_ORDER = (CommentPost, CommentList, CommentImport, CommentExport, CommentStatus,
                 CommentPeers)
"""Commands the node runs (its comment service), not the torrent engine, in the order
docs/api.md lists them."""

__all__ = ["COMMENT_ORDER", "CommentExport", "CommentImport", "CommentList", "CommentPeers",
           "CommentPost", "CommentStatus"]
