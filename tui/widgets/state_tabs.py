"""One line of state filters with their counts: ``1 All 12  2 Downloading 3 …``.

Click a filter or press its number. Narrow terminals get short titles.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from ..model import STATE_FILTERS

SHORT = {"all": "All", "downloading": "Down", "seeding": "Seed", "paused": "Paused",
         "errored": "Error", "checking": "Check"}


class StateTabs(Widget):
    """The state filter bar; :attr:`current` is the chosen filter's key."""

    DEFAULT_CSS = """
    StateTabs { height: 1; background: $panel; }
    """
    COMPONENT_CLASSES = {"state-tabs--current", "state-tabs--key"}
    DEFAULT_CSS += """
    StateTabs > .state-tabs--current { background: $primary; color: $text; text-style: bold; }
    StateTabs > .state-tabs--key { color: $text-muted; }
    """

    class Changed(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current = "all"
        self.counts: dict[str, int] = {}
        self._spans: list[tuple[int, int, str]] = []

    def show(self, current: str, counts: dict[str, int]) -> None:
        if (current, counts) != (self.current, self.counts):
            self.current, self.counts = current, counts
            self.refresh()

    def render(self) -> Text:
        long = self.size.width >= 96
        text = Text(no_wrap=True, overflow="ellipsis")
        self._spans = []
        key_style = self.get_component_rich_style("state-tabs--key")
        current_style = self.get_component_rich_style("state-tabs--current")
        for n, f in enumerate(STATE_FILTERS, 1):
            start = len(text)
            title = f.title if long else SHORT[f.key]
            text.append(f" {n}", key_style)
            label = f" {title} {self.counts.get(f.key, 0)} "
            text.append(label, current_style if f.key == self.current else "")
            self._spans.append((start, len(text), f.key))
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.post_message(self.Changed(key))
                return
