"""The Speed tab: the torrent's download and upload rate over the last five minutes.

Drawn by ``textual-plotext`` (Plotext inside a Textual widget). The x axis is
seconds before the newest sample, so the plot scrolls left as time passes; the
y axis ends at a round rate and its ticks are labelled in human units (Plotext
would print raw byte counts). The two series take the theme's success and
accent colours.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import RenderResult
from textual.color import Color, ColorParseError
from textual_plotext import PlotextPlot

from tidegate.engine import units

WINDOW = 300
"""Seconds shown."""
Sample = tuple[float, int, int]
"""``(time, download bytes/s, upload bytes/s)``, as :class:`tui.history.RateHistory` keeps."""

_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
_X_TICKS = [-300.0, -240.0, -180.0, -120.0, -60.0, 0.0]
_X_LABELS = ["-5m", "-4m", "-3m", "-2m", "-1m", "now"]


def axis_top(peak: float) -> int:
    """A round rate (1, 2 or 5 times a power of ten of B, KiB, MiB or GiB /s) >= ``peak``."""
    for unit in (1, 1024, 1024**2, 1024**3):
        for s in _STEPS:
            if s * unit >= peak:
                return s * unit
    return int(peak) + 1


class SpeedPlot(PlotextPlot):
    """Down and up rate lines; feed it with :meth:`show`."""

    DEFAULT_CSS = """
    SpeedPlot { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.samples: list[Sample] = []
        self.now = 0.0
        self._version = 0
        self._rendered: RenderResult | None = None
        self._rendered_key: object = None

    def show(self, samples: Sequence[Sample], now: float | None = None) -> None:
        """Plot ``samples`` (oldest first) relative to ``now`` (default: the newest one)."""
        latest = samples[-1][0] if samples else 0.0
        now = latest if now is None else now
        cutoff = now - WINDOW
        kept = [s for s in samples if s[0] >= cutoff]
        if kept == self.samples and now == self.now:
            return
        self.samples, self.now = kept, now
        self._version += 1
        self._draw()
        self.refresh()

    def on_mount(self) -> None:
        self._draw()

    def render(self) -> RenderResult:
        # Plotext rebuilds the whole canvas on every call (10-300 ms at big sizes), and
        # Textual renders again for reasons unrelated to the data: reuse the last plot.
        key = (self.size, self._version, self.app.theme, self.theme)
        if key != self._rendered_key or self._rendered is None:
            self._rendered = super().render()
            self._rendered_key = key
        return self._rendered

    def _colour(self, variable: str, fallback: str) -> str | tuple[int, int, int]:
        value = self.app.theme_variables.get(variable) if self.is_mounted else None
        try:
            return Color.parse(value).rgb if value else fallback
        except ColorParseError:
            return fallback

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        xs = [t - self.now for t, _, _ in self.samples]
        down = [d for _, d, _ in self.samples]
        up = [u for _, _, u in self.samples]
        top = axis_top(max([*down, *up, 1024]))
        ticks = [top * i / 4 for i in range(5)]
        plt.xlim(-WINDOW, 0)
        plt.ylim(0, top)
        plt.xticks(_X_TICKS, _X_LABELS)
        plt.yticks(ticks, [units.rate(t) for t in ticks])
        if not self.samples:
            plt.title("no transfer in the last 5 minutes")
            return
        plt.title(f"down {units.rate(down[-1])}   up {units.rate(up[-1])}")
        plt.plot(xs, down, label="down", color=self._colour("success", "green"),
                 marker="braille")
        plt.plot(xs, up, label="up", color=self._colour("accent", "blue"), marker="braille")
