"""The Textual TUI. It reaches the engine only through :class:`engine.interface.EngineAPI`."""

from __future__ import annotations

from collections.abc import Callable

from tidegate.engine.config import LimitsConfig
from tidegate.engine.interface import EngineAPI

from .app import TidegateApp

__all__ = ["TidegateApp", "run_app"]


def run_app(engine: EngineAPI, *, connection: str, limits: LimitsConfig | None = None,
            on_app: Callable[[TidegateApp], None] | None = None) -> int:
    """Run the app on ``engine`` until the user quits, the terminal goes away or SIGTERM
    comes (the caller stops the engine); returns the exit status: 0, or 128 + signal.
    ``on_app`` is given the app before it runs."""
    app = TidegateApp(engine, connection=connection, limits=limits)
    if on_app is not None:
        on_app(app)
    app.run()
    return app.return_code or 0
