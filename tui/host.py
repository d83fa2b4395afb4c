"""What the screens and the app's parts need of the app, as a narrow :class:`Host` Protocol.

``tui/app.py`` imports the screens to push them; if the screens imported the app back (even
only to type ``self.app``) the two would form a cycle, and every screen would see all of
the app. They see this instead: the engine, the newest snapshot, the rate history, the two
ways to run commands (each ending in one notification) and a few navigation calls.
:class:`~tui.app.TidegateApp` satisfies it (mypy checks that where the app hands itself to
its parts); a screen gets it with :func:`host_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.notifications import SeverityLevel

from tidegate.engine.config import LimitsConfig
from tidegate.engine.interface import EngineAPI
from tidegate.engine.state import Snapshot

from .history import RateHistory

if TYPE_CHECKING:
    from textual.app import App
    from textual.message import Message
    from textual.screen import Screen

Says = Callable[[list[Any]], str]
"""Words for a success, made from the commands' results."""


class Host(Protocol):
    """The app as its screens and parts see it."""

    @property
    def engine(self) -> EngineAPI:
        """The engine every command goes to (``engine.run(cmds.X(...))``)."""
    @property
    def snapshot(self) -> Snapshot:
        """The newest snapshot (reactive on the app: screens ``watch`` it)."""
    @property
    def rates(self) -> RateHistory:
        """Rates of the session and of active torrents (the Speed tab)."""
    @property
    def limits(self) -> LimitsConfig:
        """Input limits for .torrent files the add dialog reads."""
    @property
    def connection(self) -> str:
        """What the status bar says about the engine ("embedded", "daemon tcp://…")."""
    @property
    def connected(self) -> bool:
        """False once a daemon went away (the status bar says so)."""

    def run_command(self, what: str, targets: Sequence[str],
                    start: Callable[[str], Future[Any]], *, failed: str,
                    says: Says | None = None) -> None:
        """Run ``start(id)`` for every target; one notification when all are done."""

    def run_one(self, what: str, future_factory: Callable[[], Future[Any]], *, failed: str,
                says: Says | None = None) -> None:
        """Run one command that is not about a torrent; one notification when done."""

    def targets(self) -> list[str]:
        """The torrents an action applies to on the current screen."""

    def selected(self) -> list[str]:
        """:meth:`targets`, after telling the user when there is none."""

    def open_details(self, torrent_id: str, tab: str = "files") -> None:
        """Show the detail screen of ``torrent_id`` on ``tab``."""

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """A toast; plain text unless ``markup``."""

    def push_screen(self, screen: Screen[Any], callback: Callable[[Any], Any] | None = None,
                    ) -> Any:
        """Show ``screen``; ``callback`` gets what it is dismissed with."""

    def post_message(self, message: Message) -> bool:
        """Post ``message`` to the app (thread-safe)."""

    def copy_to_clipboard(self, text: str) -> None:
        """Put ``text`` on the terminal's clipboard (OSC 52)."""

    def run_worker(self, work: Coroutine[Any, Any, None], *, group: str = "default") -> Any:
        """Run ``work`` in the app's event loop."""


def host_of(app: App[Any]) -> Host:
    """``app`` (a :class:`~tui.app.TidegateApp`) as its screens see it."""
    return cast(Host, app)
