"""The Textual TUI. It reaches the engine only through :class:`engine.interface.EngineAPI`."""

from __future__ import annotations

from engine.config import LimitsConfig
from engine.interface import EngineAPI

from .app import TidegateApp

__all__ = ["TidegateApp", "run_app"]


def run_app(engine: EngineAPI, *, connection: str, limits: LimitsConfig | None = None) -> None:
    """Run the app on ``engine`` until the user quits (the caller stops the engine)."""
    TidegateApp(engine, connection=connection, limits=limits).run()
