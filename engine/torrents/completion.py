"""Move on completion: downloads live in ``completion.incomplete_dir`` until complete,
then their data moves to its final folder (docs/automation.md "Move on completion").

The final folder is chosen at the add (the category's save path, else the default
download folder) and kept in the torrent's resume file (``TorrentExtras.complete_dir``),
so it survives restarts; putting the torrent in a category with a save path meanwhile
changes it (:mod:`.labels`). Once a second the engine looks at those torrents: one
complete on disk is moved through :class:`~.moves.StorageMoves`, the same crash-safe move
as the ``move`` command (target recorded durably first, settled on the next start by
:mod:`.recover`). ``complete_dir`` is cleared only once the torrent is in its final
folder, so a kill at any moment leaves either a torrent still to be moved (moved at the
next start), a move to settle, or a torrent already there.

Not moved: an add that names its own folder, a seed, a site's torrent (never given a
``complete_dir``), a torrent whose data the add's own check finds complete (it was
complete when added: it stays), and one the user moved by hand (``move``
clears it). A failed move is the torrent's error (``move_error``, phase ``error``),
never the engine's; ``resume`` tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import msgspec

from ..config import Config
from ..errors import TidegateError
from ..events import Event, Log, TorrentChecked, TorrentErrored
from ..requests import AddRequest
from ..state import Phase
from .moves import StorageMoves
from .record import Then, TorrentRecord
from .records import TorrentRecords


class CompletionMoves:
    """Torrents to move once complete, and their moves under way."""

    def __init__(self, cfg: Config, default_save_path: Path, records: TorrentRecords,
                 moves: StorageMoves, save: Callable[[TorrentRecord, Then | None], None],
                 emit: Callable[[Event], None]):
        self.cfg = cfg
        self._default = default_save_path
        self._records = records
        self._moves = moves
        self._save = save
        self._emit = emit
        self._moving: set[str] = set()
        """Ids whose completion move is under way."""
        self._fresh: set[str] = set()
        """Ids added (not restored) with a final folder whose first check has not ended."""

    def prepare(self, asked: AddRequest, req: AddRequest) -> tuple[AddRequest, str]:
        """An add (``asked`` as given, ``req`` with its category's folder) sent to the
        incomplete folder, and the folder it moves to once complete ("" when not)."""
        incomplete = self.cfg.completion.incomplete_dir
        if not incomplete or asked.save_path or asked.seed_mode or asked.site:
            return req, ""
        final = Path(req.save_path).expanduser() if req.save_path else self._default
        where = Path(incomplete).expanduser()
        if final == where:
            return req, ""
        return msgspec.structs.replace(req, save_path=str(where)), str(final)

    def added(self, torrent_id: str) -> None:
        """A new torrent downloads in the incomplete folder: its first check decides
        whether it was complete when added."""
        self._fresh.add(torrent_id)

    def seen(self, emit: Callable[[Event], None]) -> Callable[[Event], None]:
        """``emit``, letting this part see the end of each torrent's check first."""
        def emit_seen(event: Event) -> None:
            if isinstance(event, TorrentChecked):
                self._checked(event)
            emit(event)
        return emit_seen

    def _checked(self, event: TorrentChecked) -> None:
        if event.torrent_id not in self._fresh:
            return
        self._fresh.discard(event.torrent_id)
        t = self._records.torrents.get(event.torrent_id)
        if t is not None and event.progress >= 1.0 and t.extras.complete_dir:
            # every piece found by the add's check: complete when added (a seed)
            where = t.state.save_path if t.state else "the incomplete folder"
            self._emit(Log(level="info", message=f"torrent {t.id} was complete when added: "
                                                 f"it stays in {where}"))
            self._done(t)

    def moved_by_hand(self, t: TorrentRecord) -> None:
        """The user moved it (``move``): it is where they want it, never moved again."""
        if t.extras.complete_dir or t.extras.move_error:
            t.extras.complete_dir = t.extras.move_error = ""
            self._records.refresh(t)
            self._save(t, None)

    def retry(self, t: TorrentRecord) -> None:
        """``resume``: a failed completion move is tried again at the next tick."""
        if t.extras.move_error:
            t.extras.move_error = ""
            self._records.refresh(t)

    def tick(self) -> None:
        """Start the moves of torrents that are complete on disk (once a second)."""
        for t in list(self._records.torrents.values()):
            e, s = t.extras, t.state
            if not e.complete_dir or s is None:
                continue
            if t.id in self._fresh:
                if s.has_metadata and s.progress < 1.0 and s.phase is not Phase.CHECKING:
                    self._fresh.discard(t.id)  # seen unfinished after its check: a download
                continue  # else its first check has not ended: complete when added, or not
            if e.move_error or e.moving_to or t.id in self._moving or not s.complete_on_disk:
                continue
            if Path(s.save_path) == Path(e.complete_dir):
                self._done(t)  # moved before a restart, or put there meanwhile
            else:
                self._start(t, e.complete_dir)

    def _start(self, t: TorrentRecord, target: str) -> None:
        fut: Future[str] = Future()
        self._moving.add(t.id)
        fut.add_done_callback(lambda f: self._ended(t, target, f))
        try:
            self._moves.move(t, target, fut)
        except TidegateError as exc:
            if not fut.done():
                fut.set_exception(exc)
        self._emit(Log(level="info", message=f"torrent {t.id} is complete: moving it to "
                                             f"{target}"))

    def _ended(self, t: TorrentRecord, target: str, fut: Future[str]) -> None:
        """The move's end (on the engine thread: the moves resolve their futures there)."""
        self._moving.discard(t.id)
        if self._records.torrents.get(t.id) is not t:
            return  # removed meanwhile
        exc = fut.exception()
        if exc is None:
            self._done(t)
            return
        message = f"could not move to {target} when complete: {exc}"
        t.extras.move_error = message
        self._records.refresh(t)
        self._save(t, None)
        self._emit(TorrentErrored(torrent_id=t.id, message=message))

    def _done(self, t: TorrentRecord) -> None:
        self._fresh.discard(t.id)
        t.extras.complete_dir = ""
        self._records.refresh(t)
        self._save(t, None)
