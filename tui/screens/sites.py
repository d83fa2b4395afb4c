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

import time
from collections.abc import Mapping
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
from tidegate.engine import units
from tidegate.engine.safetext import clean
from tidegate.engine.state import SiteState, Snapshot, TorState, WebState

from ..host import Host, host_of
from .dialogs import Dialog, _buttons

EMPTY_HINT = ("No sites yet. f follows a site by its address; "
              "`tidegate site new` creates one to publish.")
ADDRESS_FULL = 62
"""56 base32 characters and ``.onion``."""
ADDRESS_MIN = 14
NAME_MAX = 28
NAME_MIN = 16
"""Names are cut to between these, by the terminal's width."""
ERROR_MAX = 40
"""Error cells are cut here; the panel below the table shows the whole text."""
CELL_PADDING = 1

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("address", "Address"),
    ("role", "Role"),
    ("height", "Height"),
    ("age", "Head age"),
    ("announced", "Announced"),
    ("hosting", "Hosting"),
    ("peers", "Peers"),
    ("error", "Error"),
)
"""(key, title) of each column, left to right."""


# ---------------------------------------------------------------------- cells


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with ``…`` in the middle (both ends stay)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    keep, tail = width - 1, (width - 1) // 2
    return text[:keep - tail] + "…" + text[len(text) - tail:]


def shorten_end(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def short_address(address: str, width: int) -> str:
    """The address in ``width`` cells: whole if it fits, else its key part (without the
    ``.onion`` every address ends with) cut in the middle, so both ends stay."""
    if len(address) <= width:
        return address
    return shorten_middle(address.removesuffix(".onion"), width)


def head_age(site: SiteState, now: float) -> str:
    """How long ago the head entry was signed, humanised; ``-`` when there is none."""
    if site.head_time <= 0:
        return "-"
    return units.duration(max(0, int(now) - site.head_time))


def site_name(site: SiteState, width: int = NAME_MAX) -> Text:
    if site.name:
        return Text(shorten_end(clean(site.name), width))
    return Text("(not fetched yet)", style="dim")


def announced_cell(site: SiteState) -> Text:
    if site.announced < 0:
        return Text("-")
    if site.announced > site.height:
        return Text(f"{site.announced} behind", style="bold yellow")
    return Text(str(site.announced))


def hosting_cell(site: SiteState) -> Text:
    h = site.hosting
    if h.fetching >= 0:
        return Text(f"fetching {h.fetching} {h.progress * 100:.0f}%", style="cyan")
    if h.seq >= 0:
        return Text(f"seeding seq {h.seq}", style="green")
    return Text("-")


def error_text(site: SiteState) -> str:
    """The site's last error, else its hosting's ("" none), cleaned."""
    return clean(site.error or site.hosting.error)


def error_cell(site: SiteState) -> Text:
    if site.equivocating:
        return Text("EQUIVOCATING", style="bold red")
    return Text(shorten_end(error_text(site), ERROR_MAX), style="red")


def cells(site: SiteState, now: float, address_width: int = ADDRESS_FULL,
          name_width: int = NAME_MAX) -> dict[str, Text]:
    """The row of one site, by column key."""
    return {
        "name": site_name(site, name_width),
        "address": Text(short_address(clean(site.address), address_width)),
        "role": Text("owner" if site.owner else "follower",
                     style="bold" if site.owner else ""),
        "height": Text(str(site.height) if site.height >= 0 else "-", justify="right"),
        "age": Text(head_age(site, now), justify="right"),
        "announced": announced_cell(site),
        "hosting": hosting_cell(site),
        "peers": Text(str(site.hosting.peers), justify="right"),
        "error": error_cell(site),
    }


def ordered(sites: Mapping[str, SiteState]) -> list[SiteState]:
    """Owned sites first, then by name (unnamed last), then by address."""
    return sorted(sites.values(), key=lambda s: (not s.owner, not s.name,
                                                 s.name.casefold(), s.address))


def clock(unix: float) -> str:
    """``14:02`` today, else ``2026-12-05 14:02`` (local time): a time in the detail panel,
    which is not redrawn as the clock moves."""
    t = time.localtime(unix)
    return time.strftime("%H:%M" if t[:3] == time.localtime()[:3] else "%Y-%m-%d %H:%M", t)


def stored_text(site: SiteState) -> Text:
    """Where an owned site's head is in the DHT (its last puts; a follower's re-puts)."""
    if not site.owner:
        return Text(f"head re-put on {site.reput_nodes} nodes at {clock(site.reput_at)}")
    n = site.stored_nodes
    if n > 0:
        return Text(f"head stored on {n} node{'s' * (n > 1)} at {clock(site.stored_at)}")
    if site.stored_at > 0:
        return Text(f"the last put stored the head on no node (it last landed at "
                    f"{clock(site.stored_at)})", style="yellow")
    return Text("the head is not stored in the DHT yet", style="yellow")


def site_url(site: SiteState, web: WebState) -> str:
    """Where a browser opens the site: its own origin on the Smart Proxy."""
    return f"http://{site.address.removesuffix('.onion')}.localhost:{web.port}/" \
        if web.port else ""


def detail_text(site: SiteState | None, count: int, web: WebState | None = None,
                tor: TorState | None = None) -> Text:
    """What the panel below the table says about the selected site."""
    if site is None:
        return Text(EMPTY_HINT if count == 0 else "No site selected.", style="dim")
    out = Text()
    out.append("Address  ", style="bold")
    out.append(clean(site.address))
    if web is not None:
        out.append("\nBrowser  ", style="bold")
        if web.port:
            out.append(site_url(site, web))
            out.append("  (o copies it)", style="dim")
        else:
            out.append("the Smart Proxy is not running" +
                       (f": {clean(web.error)}" if web.error else ""), style="dim")
    onion = tor.onions.get(site.address) if tor is not None else None
    if onion is not None or site.onion:
        out.append("\nOnion    ", style="bold")
        out.append(f"http://{clean(site.address)}/  " if site.onion else "")
        out.append(onion.describe() if onion is not None else
                   "switched on; tor.mode is clearnet, so it is not published",
                   style="red" if onion is None or onion.state == "error" else "")
    if site.owner:
        out.append("\nFolder   ", style="bold")
        out.append(clean(site.source) if site.source else
                   "none yet: `tidegate site publish NAME DIR` gives one (remembered)",
                   style="" if site.source else "dim")
    if site.owner and site.height >= 0 or site.reput_at:  # where the head is in the DHT
        out.append("\nDHT      ", style="bold").append(stored_text(site))
    if n := site.links:  # other nodes holding the site, which new heads are pushed to
        out.append("\nLinks    ", style="bold").append(f"{n} node{'s' * (n > 1)} linked")
    out.append("\nError    ", style="bold")
    if site.equivocating:
        out.append("EQUIVOCATING", style="bold red")
        out.append(": its key signed two entries with one seq; nothing more is accepted",
                   style="red")
        if error_text(site):
            out.append(f" ({error_text(site)})", style="red")
    elif error_text(site):
        out.append(error_text(site), style="red")
    else:
        out.append("none", style="dim")
    return out


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
