"""The sites view: every published and followed site, its chain head and its hosting.

A :class:`~textual.widgets.DataTable` (sites are few) with one row per site of the
app's snapshot. Rows are redone only when the snapshot's ``sites`` mapping is a new
object (the engine makes a new one only when a site changed): changed cells in place,
the whole table when sites come, go or the column widths change (also on resize). In
between only the head ages move; they are measured against the snapshot's own time,
so a frozen snapshot shows frozen ages. Below the table: the selected site's full
address, its folder and where its head is in the DHT (owned sites), its links, its error.

Actions run as engine commands through the app (:meth:`tui.host.Host.run_one`),
so each ends in one success or error notification, like the torrent actions:
``f`` follows an address (asked in a dialog), ``p`` publishes the selected owned
site from its remembered folder, ``c`` asks the DHT for its head now, ``u``
unfollows it (after asking). Names, folders and errors are hostile text: they go
through :func:`engine.safetext.clean` and are drawn as :class:`rich.text.Text`.
"""

from __future__ import annotations

from functools import partial
from typing import cast

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, Label, Static

from tidegate.engine import commands as cmds
from tidegate.engine.safetext import clean
from tidegate.engine.state import SiteState, Snapshot

from ..host import Host, host_of
from .dialogs import Dialog, _buttons
from .site_cells import (
    ADDRESS_FULL,
    ADDRESS_MIN,
    CELL_PADDING,
    COLUMNS,
    NAME_MAX,
    NAME_MIN,
    cells,
    detail_text,
    head_age,
    ordered,
    short_address,
    site_url,
)

# ---------------------------------------------------------------------- dialogs


class FollowDialog(Dialog[str]):
    """A site address to follow. The engine checks it: its refusal is the notification."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Follow a site", classes="title")
            yield Label("The site's address (56 base32 characters + .onion)")
            yield Input(id="address", compact=True, placeholder="….onion")
            yield Static("", classes="problem")
            yield _buttons("Follow")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        text = self.query_one("#address", Input).value.strip()
        if not text:
            self.problem("type a site address")
            return
        self.dismiss(text)


class UnfollowDialog(Dialog[bool]):
    """Asks before unfollowing; answers True to delete the site's data too."""

    def __init__(self, site: SiteState) -> None:
        super().__init__()
        self.site = site

    def compose(self) -> ComposeResult:
        label = clean(self.site.name) or short_address(clean(self.site.address), 24)
        with Vertical():
            yield Label("Unfollow site?", classes="title")
            yield Label(Text(f"{label}\n{clean(self.site.address)}"))
            if self.site.owner:
                yield Label("This site is owned here: its key stays in the data folder.")
            else:
                yield Checkbox("Also delete its chain and snapshots", id="delete",
                               compact=True)
            yield Static("", classes="problem")
            yield _buttons("Unfollow", "error")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        boxes = self.query("#delete").results(Checkbox)
        self.dismiss(any(box.value for box in boxes))


# ---------------------------------------------------------------------- the screen


class SitesScreen(Screen[None]):
    """Published and followed sites; escape (or S) goes back to the torrents."""

    BINDINGS = [
        Binding("escape,S", "app.pop_screen", "Back", key_display="esc"),
        Binding("f", "follow", "Follow"),
        Binding("p", "publish", "Publish"),
        Binding("c", "check", "Check now"),
        Binding("u", "unfollow", "Unfollow"),
        Binding("o", "open_url", "Copy URL"),
    ]
    DEFAULT_CSS = """
    SitesScreen #sites-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    SitesScreen DataTable { height: 1fr; background: $surface; }
    SitesScreen #site-detail {
        height: auto; min-height: 3; padding: 0 1; border-top: solid $panel-lighten-2;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.sites: dict[str, SiteState] = {}
        """The shown sites by address."""
        self.order: list[str] = []
        """The shown sites' addresses, in row order."""
        self._snapshot: Snapshot | None = None
        self._ages: dict[str, str] = {}
        self._widths = (0, 0)

    def compose(self) -> ComposeResult:
        yield Static("Sites", id="sites-title")
        table: DataTable[Text] = DataTable(id="sites", cursor_type="row",
                                           cell_padding=CELL_PADDING, zebra_stripes=False)
        yield table
        yield Static(id="site-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self._on_snapshot)
        self.table.focus()

    @property
    def tidegate(self) -> Host:
        """The app, as screens see it."""
        return host_of(self.app)

    @property
    def table(self) -> DataTable[Text]:
        return cast("DataTable[Text]", self.query_one("#sites", DataTable))

    def selected(self) -> SiteState | None:
        """The site under the cursor."""
        row = self.table.cursor_row
        if 0 <= row < len(self.order):
            return self.sites.get(self.order[row])
        return None

    # ------------------------------------------------------------------ state in

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        old, self._snapshot = self._snapshot, snapshot
        if old is not None and old.sites is snapshot.sites:
            self._tick_ages()  # no site changed: only the clock moved
            if old.tor != snapshot.tor or old.web != snapshot.web:
                self._show_detail()
        else:
            self.show_sites()

    def on_resize(self) -> None:
        if self._snapshot is not None and self._fit(
                ordered(self._snapshot.sites)) != self._widths:
            self.show_sites(rebuild=True)

    def _now(self) -> float:
        return self._snapshot.time if self._snapshot is not None else 0.0

    def _fit(self, sites: list[SiteState]) -> tuple[int, int]:
        """``(name, address)`` widths: names cut by the terminal's width, the address
        in what the other columns leave (whole when it fits)."""
        total = self.size.width or self.app.size.width
        name = max(NAME_MIN, min(NAME_MAX, total // 5))
        now = self._now()
        rows = [cells(s, now, ADDRESS_FULL, name) for s in sites]
        others = sum(max([cell_len(title)] + [r[key].cell_len for r in rows])
                     for key, title in COLUMNS if key != "address")
        padding = 2 * CELL_PADDING * len(COLUMNS)
        return name, max(ADDRESS_MIN, min(ADDRESS_FULL, total - others - padding - 2))

    def show_sites(self, rebuild: bool = False) -> None:
        """Show the newest snapshot's sites: cells updated in place while the rows and
        the column widths stay the same, the table rebuilt otherwise."""
        snap = self._snapshot
        if snap is None:
            return
        sites = ordered(snap.sites)
        order = [s.address for s in sites]
        widths = self._fit(sites)
        now = snap.time
        table = self.table
        if rebuild or order != self.order or widths != self._widths:
            chosen = self.selected()
            table.clear(columns=True)
            for key, title in COLUMNS:
                table.add_column(title, key=key)
            for site in sites:
                row = cells(site, now, widths[1], widths[0])
                table.add_row(*(row[key] for key, _ in COLUMNS), key=site.address)
            if chosen is not None and chosen.address in order:
                table.move_cursor(row=order.index(chosen.address), animate=False)
        else:
            for site in sites:
                if site is self.sites.get(site.address):
                    continue
                row = cells(site, now, widths[1], widths[0])
                for key, _ in COLUMNS:
                    table.update_cell(site.address, key, row[key], update_width=True)
        self.sites = {s.address: s for s in sites}
        self.order = order
        self._widths = widths
        self._ages = {s.address: head_age(s, now) for s in sites}
        title = f"Sites ({len(sites)})" if sites else "Sites"
        self.query_one("#sites-title", Static).update(Text(title))
        self._show_detail()

    def _tick_ages(self) -> None:
        now = self._now()
        for address, site in self.sites.items():
            age = head_age(site, now)
            if age != self._ages.get(address):
                self._ages[address] = age
                self.table.update_cell(address, "age", Text(age, justify="right"),
                                       update_width=True)

    def _show_detail(self) -> None:
        self.query_one("#site-detail", Static).update(detail_text(
            self.selected(), len(self.sites), self.tidegate.snapshot.web,
            self.tidegate.snapshot.tor))

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()

    # ------------------------------------------------------------------ actions

    def _target(self, owned: bool = False) -> SiteState | None:
        site = self.selected()
        if site is None:
            self.tidegate.notify("no site selected", severity="warning")
            return None
        if owned and not site.owner:
            self.tidegate.notify(f"{clean(site.name) or site.address} is followed here, "
                                 "not owned: only the holder of its key publishes",
                                 severity="warning")
            return None
        return site

    def action_open_url(self) -> None:
        site = self.selected()
        web = self.tidegate.snapshot.web
        if site is None:
            return
        if not web.port:
            self.notify("The Smart Proxy is not running" +
                        (f": {web.error}" if web.error else ""), severity="warning",
                        markup=False)
            return
        url = site_url(site, web)
        self.app.copy_to_clipboard(url)
        self.notify(f"Copied {url} (open it in a browser on this computer)", markup=False)

    def action_follow(self) -> None:
        app = self.tidegate

        def done(address: str | None) -> None:
            if address:
                app.run_one("Followed", lambda: app.engine.run(cmds.SiteFollow(address)),
                            failed="Follow failed")

        self.app.push_screen(FollowDialog(), done)

    def action_publish(self) -> None:
        site = self._target(owned=True)
        if site is not None:
            app, address, before = self.tidegate, site.address, site.height
            app.run_one("Published", lambda: app.engine.run(cmds.SitePublish(address)),
                        failed="Publish failed", says=partial(_published, before))

    def action_check(self) -> None:
        site = self._target()
        if site is not None:
            app, address = self.tidegate, site.address
            app.run_one("Check requested", lambda: app.engine.run(cmds.SiteCheck(address)),
                        failed="Check failed")

    def action_unfollow(self) -> None:
        site = self._target()
        if site is None:
            return
        app, address = self.tidegate, site.address

        def done(delete: bool | None) -> None:
            if delete is not None:
                app.run_one("Unfollowed and data deleted" if delete else "Unfollowed",
                            lambda: app.engine.run(cmds.SiteUnfollow(address, delete_data=delete)),
                            failed="Unfollow failed")

        self.app.push_screen(UnfollowDialog(site), done)


def _published(before: int, results: list[SiteState]) -> str:
    """What ``publish`` did: a new entry, or none because the folder did not change (the
    engine then announces the head again and answers with the same height)."""
    after = results[0].height if results else before
    if after > before:
        return f"Published: height {after}"
    return "Nothing changed since the last publication: no new entry (head announced again)"
