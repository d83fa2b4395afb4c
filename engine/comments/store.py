"""The comment store: verified records in one SQLite file, ``<data_dir>/comments/comments.db``.

Thread-safe by one lock around one connection (WAL). A record is parsed and verified
before it is inserted and kept as the exact bytes received; each insert gets a local
sequence number (``seq``) that ``since``/``head`` expose for syncing. A database that
cannot be opened or read is renamed ``*.corrupt`` and started anew (``problem`` says
so): never fatal.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import TidegateError
from .event import Comment, OversizedComment, ReplayedComment, parse_record

MAX_PER_URL = 5000
"""Most comments kept on one URL (more are refused as oversized)."""
MAX_COMMENTS = 2_000_000
"""Most comments kept in all."""
CACHE = 4096
"""Parsed comments kept in memory, by id."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    url_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_by_url ON comments (url_hash, created_at, seq);
"""


class CommentStoreError(TidegateError):
    """The database could not be written (disk full, read-only): the message says why."""


class CommentStore:
    """Comments by URL hash, verified on the way in.

    Args:
        path: the database file (its folder is made 0700).
        difficulty: NIP-13 bits :meth:`add` requires (unless ``allow_authors``).
        clock: seconds since the epoch, for refusing comments from the future.
        allow_authors: hex ed25519 or Nostr keys; when any, only they are admitted and
            no work is required.
    """

    def __init__(self, path: Path, difficulty: int, clock: Callable[[], float] = time.time,
                 *, allow_authors: Iterable[str] = ()) -> None:
        self.path = path
        self.difficulty = difficulty
        self.clock = clock
        self.allow_authors = frozenset(a.lower() for a in allow_authors)
        self.problem = ""
        """Why the database was set aside at open ("" when it opened cleanly)."""
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Comment] = OrderedDict()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            self.problem = self._set_aside(exc)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            row = db.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {row[0] if row else 'no answer'}")
        except BaseException:
            db.close()
            raise
        self.path.chmod(0o600)
        return db

    def _set_aside(self, exc: Exception) -> str:
        aside = self.path.with_name(self.path.name + ".corrupt")
        self.path.replace(aside)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.replace(aside.with_name(aside.name + suffix))
        return f"the comment database {self.path} could not be read ({exc}); set aside as {aside}"

    # ---------------------------------------------------------------- writing

    def add(self, raw: bytes) -> Comment:
        """Parse, verify and insert one record; raises a ``CommentError`` subclass
        (:class:`ReplayedComment` when its id is already held)."""
        comment = parse_record(raw, now=self.clock(), difficulty=self.difficulty,
                               allow_authors=self.allow_authors)
        with self._lock:
            db = self._db
            if db.execute("SELECT 1 FROM comments WHERE id = ?", (comment.id,)).fetchone():
                raise ReplayedComment(f"comment {comment.id} is already held")
            on_url = db.execute("SELECT COUNT(*) FROM comments WHERE url_hash = ?",
                                (comment.url_hash,)).fetchone()[0]
            if on_url >= MAX_PER_URL:
                raise OversizedComment(f"this URL holds {on_url} comments, the most kept")
            if self._count() >= MAX_COMMENTS:
                raise OversizedComment(f"this node holds {MAX_COMMENTS} comments, the most kept")
            try:
                db.execute("INSERT INTO comments (id, url_hash, created_at, raw) "
                           "VALUES (?, ?, ?, ?)",
                           (comment.id, comment.url_hash, comment.created_at, comment.raw))
            except sqlite3.Error as exc:
                raise CommentStoreError(f"cannot write {self.path}: {exc}") from None
            self._remember(comment)
        return comment

    # ---------------------------------------------------------------- reading

    def _remember(self, comment: Comment) -> None:
        """Keep a parsed comment (called with the lock held)."""
        self._cache[comment.id] = comment
        self._cache.move_to_end(comment.id)
        while len(self._cache) > CACHE:
            self._cache.popitem(last=False)

    def _load(self, rows: list[tuple[str, bytes]]) -> list[Comment]:
        """Rows as comments: from the cache, or parsed outside the lock (a cold URL's
        verification does not hold up writers)."""
        with self._lock:
            held = [self._cache.get(i) for i, _ in rows]
        out = []
        for (_, raw), comment in zip(rows, held, strict=True):
            if comment is None:
                # verified again on the way out: a file edited behind our back is an error
                comment = parse_record(bytes(raw), now=float("inf"), difficulty=0)
                with self._lock:
                    self._remember(comment)
            out.append(comment)
        return out

    def for_url(self, url_hash: str) -> list[Comment]:
        """The comments on a URL (by its hash), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, raw FROM comments WHERE url_hash = ? ORDER BY created_at, seq",
                (url_hash,)).fetchall()
        return self._load(rows)

    def get(self, comment_id: str) -> Comment | None:
        with self._lock:
            row = self._db.execute("SELECT id, raw FROM comments WHERE id = ?",
                                   (comment_id,)).fetchone()
        return self._load([row])[0] if row else None

    def since(self, seq: int, limit: int) -> list[tuple[int, bytes]]:
        """(local seq, raw record) of the records inserted after ``seq``, ascending, at
        most ``limit``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, raw FROM comments WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, max(0, min(limit, 100_000)))).fetchall()
        return [(s, bytes(r)) for s, r in rows]

    def head(self) -> int:
        """The newest local seq (0 when empty)."""
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) FROM comments").fetchone()
        return int(row[0] or 0)

    def _count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM comments").fetchone()[0])

    def count(self) -> int:
        with self._lock:
            return self._count()

    def digest(self) -> str:
        """Hex SHA-256 over the sorted ids (each as its 32 bytes): equal sets, equal
        digests."""
        h = hashlib.sha256()
        with self._lock:
            for (comment_id,) in self._db.execute("SELECT id FROM comments ORDER BY id"):
                h.update(bytes.fromhex(comment_id))
        return h.hexdigest()

    def close(self) -> None:
        with self._lock:
            self._db.close()
