"""One torrent up close: files, peers, trackers, pieces, speed and info, one tab each.

Details are not part of the snapshot (they are too big to publish for every
torrent), so the screen asks for them: once when mounted and then every second
while it is shown, never more than one request at a time. The engine's future
resolves on another thread; its done-callback only posts
:class:`DetailsArrived`, and the handler hands the values to the active tab's
widget. The one-line title follows the app's snapshot, which is fresher.

File priority changes (from :class:`~tui.widgets.files_tree.FilesTree`) are sent
as an engine command and shown at once; the optimistic values stay until
details requested after the command come back. The Trackers tab adds trackers
(``a``, a :class:`~tui.screens.dialogs.WordsDialog` that shows the engine's refusal)
and removes the one under the cursor (``d``); the Peers tab connects to peers
(``a``). The tables only post what the user asked for; commands are run here.
"""

from __future__ import annotations

from concurrent.futures import Future

import msgspec
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static, TabbedContent, TabPane, Tabs

from tidegate.engine import commands as cmds
from tidegate.engine import units
from tidegate.engine.safetext import clean
from tidegate.engine.state import Snapshot, TorrentDetails, TorrentState

from ..host import Host, host_of
from ..messages import CommandDone
from ..widgets.files_tree import FilesTree
from ..widgets.info_panel import InfoPanel
from ..widgets.peers_table import PeersTable
from ..widgets.pieces_map import PiecesMap
from ..widgets.speed_plot import SpeedPlot
from ..widgets.trackers_table import TrackersTable
from .dialogs import WordsDialog

TABS: tuple[tuple[str, str, str, type[Widget]], ...] = (
    ("files", "F", "[u]F[/]iles", FilesTree),
    ("peers", "P", "[u]P[/]eers", PeersTable),
    ("trackers", "T", "[u]T[/]rackers", TrackersTable),
    ("pieces", "C", "Pie[u]c[/]es", PiecesMap),
    ("speed", "D", "Spee[u]d[/]", SpeedPlot),
    ("info", "I", "[u]I[/]nfo", InfoPanel),
)
"""(id, key, title, widget) of each tab; the key's letter is underlined in the title."""
TAB_IDS = tuple(tab for tab, *_ in TABS)
REFRESH = 1.0
"""Seconds between details requests."""


class DetailsArrived(Message):
    """A details request finished (posted from the thread that resolved it)."""

    def __init__(self, seq: int, details: TorrentDetails | None,
                 error: BaseException | None) -> None:
        super().__init__()
        self.seq = seq
        self.details = details
        self.error = error


class DetailScreen(Screen[None]):
    """Tabs about one torrent; Esc goes back to the list."""

    BINDINGS = [
        Binding("escape,backspace", "back", "Back", key_display="esc"),
        Binding("tab", "cycle(1)", "Next tab", show=False),
        Binding("shift+tab", "cycle(-1)", "Previous tab", show=False),
        *(Binding(key, f"show_tab('{tab}')", tab.title(), show=False)
          for tab, key, _, _ in TABS),
    ]
    DEFAULT_CSS = """
    DetailScreen #detail-title { height: 1; padding: 0 1; background: $panel; }
    DetailScreen TabbedContent { height: 1fr; }
    DetailScreen ContentSwitcher { height: 1fr; }
    DetailScreen TabPane { padding: 0; height: 1fr; }
    """

    def __init__(self, torrent_id: str, tab: str = "files") -> None:
        super().__init__()
        self.torrent_id = torrent_id
        self.initial_tab = tab if tab in TAB_IDS else "files"
        self.details: TorrentDetails | None = None
        """The newest details (with optimistic priorities applied)."""
        self.error: str = ""
        self.state: TorrentState | None = None
        self.in_flight = False
        self._seq = 0
        self._overrides: dict[int, int] = {}
        self._overrides_from = 0
        """Details requested with this seq or later already include the overrides."""
        self._seen = False
        self._gone = False

    def compose(self) -> ComposeResult:
        yield Static(Text(self.torrent_id), id="detail-title")
        with TabbedContent(initial=self.initial_tab):
            for tab, _, title, widget in TABS:
                with TabPane(title, id=tab):
                    yield widget(id=f"{tab}-view")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.app, "snapshot", self._on_snapshot)
        self.request()
        self.set_interval(REFRESH, self.request)
        self._focus_tab(self.initial_tab)

    @property
    def tidegate(self) -> Host:
        """The app, as screens see it."""
        return host_of(self.app)

    def targets(self) -> list[str]:
        """App-level actions (pause, remove, …) apply to this torrent."""
        return [self.torrent_id]

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    def show_tab(self, tab: str) -> None:
        """Switch to ``tab`` (one of :data:`TAB_IDS`)."""
        if tab in TAB_IDS:
            self.query_one(TabbedContent).active = tab
            self._focus_tab(tab)

    def _focus_tab(self, tab: str) -> None:
        widget = self.query_one(f"#{tab}-view")
        if widget.focusable:
            widget.focus()
        else:
            self.query_one(TabbedContent).query_one(Tabs).focus()

    # ------------------------------------------------------------------ state in

    def request(self) -> None:
        """Ask the engine for details unless a request is in flight or we are hidden."""
        if self.in_flight or not self.is_current or self._gone:
            return
        self.in_flight = True
        self._seq += 1
        seq = self._seq
        future: Future[TorrentDetails]
        try:
            future = self.tidegate.engine.run(cmds.Details(self.torrent_id))
        except Exception as exc:  # a client may refuse before any future exists
            future = Future()
            future.set_exception(exc)
        future.add_done_callback(lambda f: self._resolved(seq, f))

    def _resolved(self, seq: int, future: Future[TorrentDetails]) -> None:
        # Any thread: only post. A closed screen drops the message, which is fine.
        error = future.exception()
        self.post_message(DetailsArrived(seq, None if error else future.result(), error))

    def on_details_arrived(self, message: DetailsArrived) -> None:
        self.in_flight = False
        if message.details is None:
            self.error = clean(str(message.error) or type(message.error).__name__)
            self._show_title()
            return
        self.error = ""
        if message.seq >= self._overrides_from:
            self._overrides = {}
        self.details = self._with_overrides(message.details)
        self._show_title()
        self._push(self.active_tab)

    def _with_overrides(self, details: TorrentDetails) -> TorrentDetails:
        if not self._overrides:
            return details
        files = tuple(msgspec.structs.replace(f, priority=self._overrides[f.index])
                      if f.index in self._overrides else f for f in details.files)
        return msgspec.structs.replace(details, files=files)

    def _push(self, tab: str) -> None:
        """Hand the newest values to the widget of ``tab`` (hidden tabs wait).

        Runs once a second (with the details), so the speed plot, which is costly
        to draw, is not redrawn for every snapshot."""
        if tab == "speed":
            app = self.tidegate
            self.query_one(SpeedPlot).show(app.rates.of(self.torrent_id),
                                           app.snapshot.time or None)
            return
        d = self.details
        if d is None:
            return
        if tab == "files":
            self.query_one(FilesTree).show(d.files)
        elif tab == "peers":
            self.query_one(PeersTable).show(d.peers)
        elif tab == "trackers":
            self.query_one(TrackersTable).show(d.trackers)
        elif tab == "pieces":
            self.query_one(PiecesMap).show(d.pieces)
        elif tab == "info":
            self.query_one(InfoPanel).show(d, dht_nodes=self.tidegate.snapshot.stats.dht_nodes)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        state = snapshot.torrents.get(self.torrent_id)
        if state is not None:
            self._seen = True
            self.state = state
            self._show_title()
        elif self._seen and not self._gone:
            self._gone = True
            self.in_flight = True  # no more requests
            self.error = "removed"
            self._show_title()
            self.app.notify("the torrent was removed", title="Details closed")
            if self.is_active:
                self.app.pop_screen()

    def on_screen_resume(self) -> None:
        if self._gone:
            self.app.pop_screen()

    def _show_title(self) -> None:
        t = self.state or (self.details.torrent if self.details else None)
        text = Text(no_wrap=True, overflow="ellipsis")
        if t is None:
            text.append(self.torrent_id[:16])
        else:
            text.append(clean(t.name) or t.id[:16], "bold")
            text.append(f"  {t.phase.value}  {t.progress * 100:.1f}%")
            text.append(f"  ↓ {units.rate(t.download_rate)}  ↑ {units.rate(t.upload_rate)}")
            text.append(f"  peers {t.num_peers}")
            if t.error:
                text.append(f"  {clean(t.error)}", "bold red")
        if self.error:
            text.append(f"  details: {self.error}", "bold red")
        self.query_one("#detail-title", Static).update(text)

    # ------------------------------------------------------------------ messages up

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane is not None and event.pane.id:
            self._push(event.pane.id)

    def on_files_tree_priorities_changed(self, event: FilesTree.PrioritiesChanged) -> None:
        prios = dict(event.priorities)
        engine = self.tidegate.engine
        self.tidegate.run_command("Priorities set", [self.torrent_id],
                                  lambda tid: engine.run(cmds.SetFilePriorities(tid, prios)),
                                  failed="Priorities not set")
        self._overrides.update(prios)
        self._overrides_from = self._seq + 1
        if self.details is not None:
            self.details = self._with_overrides(self.details)
            self.query_one(FilesTree).show(self.details.files)

    def on_trackers_table_add_wanted(self) -> None:
        host, tid = self.tidegate, self.torrent_id

        def done(urls: list[str] | None) -> None:
            if urls:
                host.post_message(CommandDone(
                    "Tracker added" if len(urls) == 1 else f"{len(urls)} trackers added", 1, []))
                self.request()

        self.app.push_screen(WordsDialog(
            "Add trackers", "Tracker URLs (http, https or udp), separated by spaces",
            "udp://tracker.example:6969/announce",
            lambda urls: host.engine.run(cmds.AddTrackers(tid, urls))), done)

    def on_trackers_table_remove_wanted(self, event: TrackersTable.RemoveWanted) -> None:
        trackers = self.details.trackers if self.details is not None else ()
        url = next((t.url for t in trackers if event.url and clean(t.url) == event.url), None)
        if url is None:
            self.tidegate.notify("no tracker under the cursor", severity="warning")
            return
        run = self.tidegate.engine.run
        self.tidegate.run_command(f"Removed tracker {clean(url)}", [self.torrent_id],
                                  lambda tid: run(cmds.RemoveTrackers(tid, [url])),
                                  failed="Tracker not removed")

    def on_peers_table_add_wanted(self) -> None:
        host, tid = self.tidegate, self.torrent_id

        def done(peers: list[str] | None) -> None:
            if peers:
                host.post_message(CommandDone(
                    f"Connecting to {clean(', '.join(peers))} (kept with the torrent)", 1, []))
                self.request()

        self.app.push_screen(WordsDialog(
            "Connect to peers", "Peers as IP:PORT or [IPv6]:PORT, separated by spaces; they "
            "are kept and dialled again at every start", "192.168.1.20:6881",
            lambda peers: host.engine.run(cmds.AddPeers(tid, peers)), ok="Connect"), done)

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_show_tab(self, tab: str) -> None:
        self.show_tab(tab)

    def action_cycle(self, step: int) -> None:
        index = TAB_IDS.index(self.active_tab) if self.active_tab in TAB_IDS else 0
        self.show_tab(TAB_IDS[(index + step) % len(TAB_IDS)])
