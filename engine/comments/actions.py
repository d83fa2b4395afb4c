"""What the comment commands do, over a store and an author key (run on the comment
service's worker thread: mining and verifying take the CPU for a while)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .event import BadComment, Comment, CommentError, as_record, make_comment
from .pow import WorkNotFound
from .urls import BadUrl, url_hash
from .views import CommentsInfo, CommentView, ImportResult

if TYPE_CHECKING:
    from .author import AuthorKey
    from .store import CommentStore

MINE_SLACK = 12
"""Mining gives up after 2**(difficulty + this) tries (4096 times the expected number)."""


def view(comment: Comment) -> CommentView:
    return CommentView(id=comment.id, url=comment.url, content=comment.content,
                       created_at=comment.created_at, author=comment.author,
                       nostr=comment.pubkey, parent=comment.parent, work=comment.work)


def _hash(url: str) -> str:
    try:
        return url_hash(url)
    except BadUrl as exc:
        raise BadComment(str(exc)) from None


def post(store: CommentStore, author: AuthorKey, url: str, text: str, parent: str,
         clock: Callable[[], float] = time.time) -> CommentView:
    """Sign, mine and keep a new comment."""
    held = None
    if parent:
        held = store.get(parent.lower())
        if held is None:
            raise BadComment(f"no comment {parent!r} is held here to reply to")
    difficulty = 0 if store.allow_authors else store.difficulty
    try:
        comment = make_comment(author, url, text, parent=held, now=clock(),
                               difficulty=difficulty,
                               max_tries=1 << min(difficulty + MINE_SLACK, 62))
    except WorkNotFound as exc:
        raise CommentError(f"mining gave up: {exc}") from None
    return view(store.add(comment.raw))


def listing(store: CommentStore, url: str) -> list[CommentView]:
    return [view(c) for c in store.for_url(_hash(url))]


def export(store: CommentStore, url: str) -> list[str]:
    return [c.event_json().decode("utf-8") for c in store.for_url(_hash(url))]


def import_records(store: CommentStore, records: list[str]) -> list[ImportResult]:
    """Each record (or bare NIP-22 event) accepted or refused with its reason."""
    results = []
    for index, text in enumerate(records):
        try:
            comment = store.add(as_record(text.encode("utf-8", "surrogatepass")))
        except CommentError as exc:
            results.append(ImportResult(index=index, error=type(exc).__name__,
                                        reason=str(exc)))
        else:
            results.append(ImportResult(index=index, id=comment.id))
    return results


def status(store: CommentStore, author: AuthorKey, url: str, network: str,
           failure: str) -> CommentsInfo:
    return CommentsInfo(url=url, network=network,
                        difficulty=0 if store.allow_authors else store.difficulty,
                        allow_authors=len(store.allow_authors), count=store.count(),
                        author=author.ed25519_public, nostr=author.nostr_public,
                        failure=failure)
