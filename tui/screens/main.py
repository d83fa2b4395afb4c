"""The main screen: state filters, the filter box, the torrent list and the status bar.

It watches the app's snapshot, asks :mod:`tui.model` which rows to show in which
order, and hands them to the table. Marks and the cursor are kept by torrent id,
so they survive re-sorting and filtering.
"""

from __future__ import annotations

import time
from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input

from tidegate.engine.state import Snapshot

from ..actions import MAIN_ONLY, bindings
from ..host import host_of
from ..model import COLUMNS, NameOrder, ViewSpec, columns_for, count_states, next_sort, rows
from ..widgets.state_tabs import StateTabs
from ..widgets.status_bar import StatusBar
from ..widgets.torrent_table import EMPTY_HINT, FILTERED_HINT, TorrentTable

LOADING_REFRESH = 1.0
"""Seconds between two list refreshes while the engine loads its torrents (each snapshot
then brings new torrents, and a refresh of 50,000 rows took ~0.2 s of the UI's time)."""


class MainScreen(Screen[None]):
    """The torrent list."""

    BINDINGS = bindings(MAIN_ONLY)
    DEFAULT_CSS = """
    MainScreen #filter { height: 1; border: none; padding: 0 1; background: $surface; }
    MainScreen #filter:focus { background: $boost; }
    """

    def __init__(self, connection: str) -> None:
        super().__init__()
        self.connection = connection
        self.spec = ViewSpec()
        self.marked: frozenset[str] = frozenset()
        self.shown: list[str] = []
        self._snapshot: Snapshot | None = None
        self._order = NameOrder()
        self._counts: dict[str, int] = {}
        self._counted: object = None
        self._counted_sites = False
        self._columns = COLUMNS
        """The torrents mapping ``_counts`` was made from."""
        self._refreshed_at = 0.0
        self._deferred: Timer | None = None
        """The refresh waiting for its turn while torrents load."""

    def compose(self) -> ComposeResult:
        yield StateTabs(id="states")
        yield Input(placeholder="/ filter by name or hash", id="filter", compact=True)
        yield TorrentTable(id="torrents")
        yield Footer()
        yield StatusBar(self.connection, id="status")

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self._on_snapshot)
        self.query_one(TorrentTable).focus()

    @property
    def table(self) -> TorrentTable:
        return self.query_one(TorrentTable)

    # ------------------------------------------------------------------ state in

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        old, self._snapshot = self._snapshot, snapshot
        if old is not None and old.torrents is snapshot.torrents:
            self._show_status()  # no torrent changed (the engine reuses the mapping)
            return
        since = time.monotonic() - self._refreshed_at
        if snapshot.stats.loading and since < LOADING_REFRESH:
            if self._deferred is None:
                self._deferred = self.set_timer(max(0.05, LOADING_REFRESH - since),
                                                self._refresh_deferred)
            self._show_status()
            return
        self.refresh_rows()

    def _refresh_deferred(self) -> None:
        self._deferred = None
        self.refresh_rows()

    def refresh_rows(self) -> None:
        """Recompute the shown rows from the newest snapshot and the view spec."""
        snap = self._snapshot
        if snap is None:
            return
        self._refreshed_at = time.monotonic()
        if self._deferred is not None:
            self._deferred.stop()
            self._deferred = None
        shown = rows(snap.torrents, self.spec, self._order)
        self.shown = [t.id for t in shown]
        if self.marked and not self.marked <= snap.torrents.keys():
            self.marked = frozenset(m for m in self.marked if m in snap.torrents)
        self.table.empty_hint = FILTERED_HINT if snap.torrents else EMPTY_HINT
        self.table.site_names = {a: s.name for a, s in snap.sites.items()}
        if snap.torrents is not self._counted:
            self._columns = columns_for(snap.torrents.values())
        self.table.show(shown, self.marked, self.spec.sort, self.spec.reverse, self._columns)
        if snap.torrents is not self._counted or self.spec.sites != self._counted_sites:
            listed = snap.torrents.values()
            self._counts = count_states(listed if self.spec.sites else
                                        (t for t in listed if not t.site))
            self._counted, self._counted_sites = snap.torrents, self.spec.sites
        self._show_status()

    def _show_marks(self) -> None:
        """Marks changed, rows did not: no re-sort."""
        self.table.show(self.table.rows, self.marked, self.spec.sort, self.spec.reverse)
        self._show_status()

    def _show_status(self) -> None:
        snap = self._snapshot
        if snap is None:
            return
        self.query_one(StateTabs).show(self.spec.state, self._counts)
        total = self._counts.get("all", len(snap.torrents))  # without hidden site torrents
        self.query_one(StatusBar).show(snap.stats, len(self.shown), total,
                                       len(self.marked), host_of(self.app).connected)

    def targets(self) -> list[str]:
        """Marked torrents, or the one under the cursor."""
        if self.marked:
            return [tid for tid in self.shown if tid in self.marked] or sorted(self.marked)
        cursor = self.table.cursor_id
        return [cursor] if cursor else []

    # ------------------------------------------------------------------ messages up

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.spec = replace(self.spec, text=event.value)
        self.refresh_rows()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.table.focus()

    @on(StateTabs.Changed)
    def _tab_clicked(self, event: StateTabs.Changed) -> None:
        self.action_state_filter(event.key)

    @on(TorrentTable.SortClicked)
    def _sort_clicked(self, event: TorrentTable.SortClicked) -> None:
        reverse = not self.spec.reverse if event.key == self.spec.sort else self.spec.reverse
        self.spec = replace(self.spec, sort=event.key, reverse=reverse)
        self.refresh_rows()

    @on(TorrentTable.Activated)
    def _activated(self, event: TorrentTable.Activated) -> None:
        host_of(self.app).open_details(event.torrent_id, tab="files")

    # ------------------------------------------------------------------ actions

    def action_details(self) -> None:
        cursor = self.table.cursor_id
        if cursor:
            host_of(self.app).open_details(cursor, tab="files")

    def action_mark(self) -> None:
        cursor = self.table.cursor_id
        if cursor:
            self.marked = self.marked ^ {cursor}
            self.table.action_cursor(1)
            self._show_marks()

    def action_mark_all(self) -> None:
        self.marked = frozenset(self.shown)
        self._show_marks()

    def action_unmark(self) -> None:
        filt = self.query_one("#filter", Input)
        if self.focused is filt or self.spec.text:
            filt.value = ""
            self.table.focus()
            self.refresh_rows()
        else:
            self.marked = frozenset()
            self._show_marks()

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_state_filter(self, key: str) -> None:
        self.spec = replace(self.spec, state=key)
        self.refresh_rows()

    def action_sort(self, step: int) -> None:
        self.spec = next_sort(self.spec, step)
        self.refresh_rows()

    def action_sort_reverse(self) -> None:
        self.spec = replace(self.spec, reverse=not self.spec.reverse)
        self.refresh_rows()

    def action_toggle_site_torrents(self) -> None:
        self.spec = replace(self.spec, sites=not self.spec.sites)
        self.refresh_rows()
        self.notify("Showing the torrents sites need, labelled with their site"
                    if self.spec.sites else "Hiding the torrents sites need", timeout=3)


