"""Categories and tags of torrents, on the engine thread (the names' rules: engine/labels.py).

The categories are kept in ``categories.json`` in the engine's state folder, beside the
resume files, written atomically (engine/durable.py: temp file, fsync, rename, folder
fsync) before the command that changed them replies. A torrent's category and tags are
kept in its resume file (``TorrentExtras.category``, ``tags``), so a command that changes
them replies once every file it touched is durable (:mod:`.saves`): acknowledged means
it survives a kill -9. Putting torrents in a category that has a save path moves their
data there through :class:`~.moves.StorageMoves`, whose target is recorded durably
first and settled after a crash (:mod:`.recover`), like qBittorrent's automatic mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType

import msgspec

from ..durable import sync_folder, write_synced
from ..errors import EngineError, InputError, TidegateError, UnknownCategoryError
from ..events import Event, Log
from ..labels import check_category, check_save_path, check_tags
from ..requests import AddRequest
from ..state import CategoryState
from . import move_target
from .moves import StorageMoves
from .record import Then, TorrentRecord
from .records import TorrentRecords
from .resume import TorrentExtras
from .text import read_text

FILE = "categories.json"


class _All:
    """Resolves ``fut`` once ``n`` parts are done (with the first error, if any)."""

    def __init__(self, fut: Future[None], n: int, then: Callable[[], None] | None = None):
        self.fut, self.left, self.then = fut, n, then
        self.error: BaseException | None = None
        if n == 0:
            self._finish()

    def one(self, error: BaseException | None = None) -> None:
        self.error = self.error or error
        self.left -= 1
        if self.left == 0:
            self._finish()

    def _finish(self) -> None:
        try:
            if self.then is not None and self.error is None:
                self.then()
        except (OSError, TidegateError) as exc:
            self.error = exc
        if self.fut.done():
            return
        if self.error is not None:
            self.fut.set_exception(self.error)
        else:
            self.fut.set_result(None)


def _save_path(t: TorrentRecord) -> str:
    return read_text(lambda: t.handle.status().save_path)


def _failed(done: _All, exc: BaseException) -> Then:
    return lambda: done.one(exc)


class TorrentLabels:
    """The categories, and the commands that label torrents.

    Args:
        folder: the engine's state folder (``categories.json`` goes there).
        save: :meth:`.saves.ResumeSaves.save_soon`.
        moves: the moves under way (a category's save path moves data).
    """

    def __init__(self, folder: Path, records: TorrentRecords,
                 save: Callable[[TorrentRecord, Then | None], None], moves: StorageMoves,
                 emit: Callable[[Event], None]):
        self._path = folder / FILE
        self._records = records
        self._save = save
        self._moves = moves
        self._emit = emit
        self.categories: MappingProxyType[str, CategoryState] = MappingProxyType(self._load())
        """Every category by name (a new mapping whenever one changes)."""

    # ------------------------------------------------------------------ the file

    def _load(self) -> dict[str, CategoryState]:
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self._emit(Log(level="error", message=f"cannot read {self._path}: {exc}"))
            return {}
        try:
            found = msgspec.json.decode(data, type=list[CategoryState])
            for c in found:
                check_category(c.name)
                check_save_path(c.save_path)
        except (msgspec.DecodeError, msgspec.ValidationError, InputError) as exc:
            kept = self._path.with_name(FILE + ".corrupt")
            try:
                os.replace(self._path, kept)
            except OSError:
                kept = self._path
            self._emit(Log(level="error", message=f"{self._path} is unreadable ({exc}); kept "
                                                  f"as {kept.name}, categories start empty"))
            return {}
        return {c.name: c for c in found}

    def _write(self, categories: dict[str, CategoryState]) -> None:
        data = msgspec.json.encode(sorted(categories.values(), key=lambda c: c.name))
        try:
            write_synced(self._path, data)
            sync_folder(self._path.parent)
        except OSError as exc:
            raise EngineError(f"cannot write {self._path}: {exc}") from None

    def _set(self, categories: dict[str, CategoryState]) -> None:
        self.categories = MappingProxyType(categories)
        self._records.dirty = True

    def recover(self, extras: Iterable[TorrentExtras]) -> None:
        """Categories that restored torrents name and the file lost (it was damaged)
        come back with no save path, as qBittorrent recovers them."""
        lost = {e.category for e in extras if e.category and e.category not in self.categories}
        if lost:
            new = dict(self.categories) | {n: CategoryState(name=n) for n in lost}
            self._emit(Log(level="warning", message=f"categories recovered from torrents: "
                                                    f"{', '.join(sorted(lost))}"))
            try:
                self._write(new)
            except EngineError as exc:  # known for this run; written with the next change
                self._emit(Log(level="error", message=str(exc)))
            self._set(new)

    # ------------------------------------------------------------------ commands

    def category_add(self, name: str, save_path: str) -> None:
        """Add ``name`` (or give it a new save path): on disk before this returns."""
        name, save_path = check_category(name), check_save_path(save_path)
        new = dict(self.categories)
        new[name] = CategoryState(name=name, save_path=save_path)
        self._write(new)
        self._set(new)

    def category_remove(self, names: list[str], fut: Future[None]) -> None:
        """Remove categories; their torrents are saved without one first, then the file."""
        for name in names:
            if check_category(name) not in self.categories:
                raise UnknownCategoryError(name)
        gone = set(names)
        self._set({n: c for n, c in self.categories.items() if n not in gone})
        touched = [t for t in self._records.torrents.values() if t.extras.category in gone]
        for t in touched:
            t.extras.category = ""
            self._records.refresh(t)
        done = _All(fut, len(touched), lambda: self._write(dict(self.categories)))
        for t in touched:
            self._save(t, lambda: done.one())

    def set_category(self, ids: list[str], category: str, fut: Future[None]) -> None:
        """Put torrents in ``category``; with a save path, their data is moved there and
        ``fut`` resolves once every move is done and recorded."""
        if check_category(category, allow_empty=True) and category not in self.categories:
            raise UnknownCategoryError(category)
        torrents = [self._records.get(i) for i in dict.fromkeys(ids)]
        where = self.categories[category].save_path if category else ""
        target = move_target.check_target(where) if where else None
        for t in torrents:
            t.extras.category = category
            self._records.refresh(t)
        done = _All(fut, len(torrents))
        for t in torrents:
            old = Path(_save_path(t))
            if t.extras.complete_dir and target is not None:
                # still downloading in the incomplete folder: it goes there once complete
                t.extras.complete_dir = str(target)
                self._records.refresh(t)
            if target is None or target == old or t.extras.complete_dir:
                self._save(t, lambda: done.one())
                continue
            moved: Future[str] = Future()
            moved.add_done_callback(lambda f: done.one(f.exception()))
            try:
                self._moves.move(t, str(target), moved)  # saves the category first
            except TidegateError as exc:  # the category is kept; the data stays
                self._save(t, _failed(done, exc))

    def add_tags(self, ids: list[str], tags: list[str], fut: Future[None]) -> None:
        given = check_tags(tags)
        self._retag(ids, lambda old: sorted(set(old) | set(given)), fut)

    def remove_tags(self, ids: list[str], tags: list[str], fut: Future[None]) -> None:
        """Take ``tags`` from torrents; no tags: every tag."""
        given = set(check_tags(tags))
        self._retag(ids, lambda old: [t for t in old if given and t not in given], fut)

    def _retag(self, ids: list[str], change: Callable[[list[str]], list[str]],
               fut: Future[None]) -> None:
        torrents = [self._records.get(i) for i in dict.fromkeys(ids)]
        done = _All(fut, len(torrents))
        for t in torrents:
            t.extras.tags = change(t.extras.tags)
            self._records.refresh(t)
            self._save(t, lambda: done.one())  # also when unchanged: an earlier change
            # to it may not be on disk yet, and this reply must not come before it

    def prepare(self, req: AddRequest) -> AddRequest:
        """An add's category and tags checked; a category's save path is where it goes
        when the request names no folder."""
        if not req.category and not req.tags:
            return req
        if check_category(req.category, allow_empty=True) \
                and req.category not in self.categories:
            raise UnknownCategoryError(req.category)
        where = self.categories[req.category].save_path if req.category else ""
        return msgspec.structs.replace(req, tags=check_tags(req.tags),
                                       save_path=req.save_path or where or None)
