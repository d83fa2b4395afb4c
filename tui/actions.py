"""Every user action, declared once: its key, its title and what it says in help.

The app's key bindings, the command palette and the help screen are all built
from :data:`ACTIONS`, so a key can never work without being listed or be
listed without working.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    """The app's ``action_<name>`` (with arguments, as Textual writes them)."""
    keys: str
    """Comma-separated Textual key names; empty for palette-only actions."""
    title: str
    help: str
    footer: bool = False
    """Shown in the footer (the few that matter most; all are in help)."""
    key_label: str = ""


ACTIONS: tuple[Action, ...] = (
    Action("add", "a", "Add torrent", "Add a .torrent file, a magnet link or an info-hash",
           footer=True),
    Action("pause_resume", "p", "Pause/resume",
           "Pause the selected torrents, or resume them if all are paused", footer=True),
    Action("pause", "", "Pause", "Pause the selected torrents"),
    Action("resume", "", "Resume", "Resume the selected torrents"),
    Action("remove", "x,delete", "Remove", "Remove the selected torrents (asks first; "
           "can delete their data)", footer=True, key_label="x"),
    Action("recheck", "v", "Verify (recheck)", "Hash-check the selected torrents' data"),
    Action("reannounce", "n", "Reannounce", "Announce to every tracker now"),
    Action("move", "m", "Move data", "Move the selected torrents' data to another folder"),
    Action("limits", "l", "Torrent limits", "Set download/upload rate limits of the selected "
           "torrents"),
    Action("global_limits", "L", "Global limits", "Set the session's download/upload limits"),
    Action("turtle", "T", "Turtle mode", "Switch the alternative global limits (turtle "
           "mode, [schedule] alt_download/alt_upload) on or off until the schedule's next "
           "change"),
    Action("share_limits", "r", "Share limits", "Stop seeding the selected torrents at a "
           "share ratio or after a seeding time"),
    Action("labels", "g", "Category and tags", "Set the category (one with a save path moves "
           "the data there) and the tags of the selected torrents"),
    Action("copy_magnet", "c", "Copy magnet", "Copy the magnet link (with trackers and web "
           "seeds) of the selected torrents to the clipboard, and show it"),
    Action("open_folder", "O", "Open download folder", "Open the folder holding the torrent's "
           "data (xdg-open), or show its path"),
    Action("queue_move('up')", "K", "Queue up", "Move the selected torrents up the queue (the "
           "order in which queued torrents start)"),
    Action("queue_move('down')", "J", "Queue down", "Move the selected torrents down the queue"),
    Action("queue_move('top')", "U", "Queue top", "Move the selected torrents to the top of "
           "the queue"),
    Action("queue_move('bottom')", "B", "Queue bottom", "Move the selected torrents to the "
           "bottom of the queue"),
    Action("sequential", "o", "Toggle sequential", "Download the selected torrents in order "
           "(for streaming), or stop doing so"),
    Action("priorities", "f", "Files and priorities", "Open the Files tab: space toggles a "
           "file, + and - change its priority"),
    Action("details", "enter", "Details", "Files, peers, trackers, pieces and speed of the "
           "torrent under the cursor", footer=True, key_label="⏎"),
    Action("mark", "space", "Mark", "Mark or unmark the torrent under the cursor (actions "
           "apply to every marked torrent)", key_label="␣"),
    Action("mark_all", "asterisk,ctrl+a", "Mark all shown", "Mark every torrent the list shows",
           key_label="*"),
    Action("unmark", "escape", "Unmark / clear", "Clear marks and the text filter",
           key_label="esc"),
    Action("filter", "slash", "Filter", "Type to filter by name or info-hash; cat:NAME and "
           "tag:NAME show one category, or the torrents with a tag", footer=True,
           key_label="/"),
    Action("state_filter('all')", "1", "Show all", "Show every torrent"),
    Action("state_filter('downloading')", "2", "Show downloading", "Show downloading torrents"),
    Action("state_filter('seeding')", "3", "Show seeding", "Show seeding and finished torrents"),
    Action("state_filter('paused')", "4", "Show paused", "Show paused torrents"),
    Action("state_filter('errored')", "5", "Show errored", "Show torrents with an error"),
    Action("state_filter('checking')", "6", "Show checking", "Show torrents being checked or "
           "moved"),
    Action("toggle_site_torrents", "t", "Show/hide site torrents",
           "Show or hide the torrents sites need (their snapshots and chains), labelled "
           "with their site; hidden by default"),
    Action("sort(1)", "greater_than_sign", "Sort by next column", "Sort by the next column",
           key_label=">"),
    Action("sort(-1)", "less_than_sign", "Sort by previous column",
           "Sort by the previous column", key_label="<"),
    Action("sort_reverse", "i", "Invert sort", "Reverse the sort order"),
    Action("sites", "S", "Sites", "Show hosted and followed sites"),
    Action("rss", "R", "RSS", "RSS feeds (their errors) and rules: add a feed, poll now"),
    Action("comments", "C", "Comments", "Comments on any URL: read a thread, comment or "
           "reply (comments.enabled)"),
    Action("watch_folders", "W", "Watch folders", "Show each watch folder (watch.folders): "
           "files added and refused, and its last error"),
    Action("toggle_dark", "ctrl+t", "Light/dark", "Switch between the light and dark theme"),
    Action("help", "question_mark,f1", "Help", "List every key", footer=True, key_label="?"),
    Action("quit", "q", "Quit", "Quit (an embedded engine saves resume data first)",
           footer=True),
)

MAIN_ONLY = frozenset({"mark", "mark_all", "unmark", "filter", "sort(1)", "sort(-1)",
                       "toggle_site_torrents",
                       "sort_reverse", "state_filter('all')", "state_filter('downloading')",
                       "state_filter('seeding')", "state_filter('paused')",
                       "state_filter('errored')", "state_filter('checking')", "details"})
"""Actions that only mean something on the torrent list."""

ON_TORRENTS = frozenset({"pause_resume", "pause", "resume", "remove", "recheck", "reannounce",
                         "move", "limits", "labels", "sequential", "priorities", "share_limits",
                         "copy_magnet", "open_folder", "queue_move", "queue_move('up')",
                         "queue_move('down')", "queue_move('top')", "queue_move('bottom')"})
"""Actions on the selected torrents: off (not in the footer, the palette or the keys) on
screens that select none, such as the sites view, where p and f are the sites' own."""


def bindings(names: frozenset[str] | None = None, exclude: frozenset[str] = frozenset()
             ) -> list[BindingType]:
    """Textual bindings for the actions in ``names`` (all when None)."""
    return [Binding(a.keys, a.name, a.title, show=a.footer, key_display=a.key_label or None)
            for a in ACTIONS
            if a.keys and (names is None or a.name in names) and a.name not in exclude]


def key_text(action: Action) -> str:
    """How help shows an action's keys."""
    names = {"asterisk": "*", "slash": "/", "greater_than_sign": ">", "less_than_sign": "<",
             "question_mark": "?", "space": "space", "escape": "esc", "enter": "enter"}
    return ", ".join(names.get(k, k) for k in action.keys.split(",")) if action.keys else "—"
