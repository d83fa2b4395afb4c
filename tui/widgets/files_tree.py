"""The Files tab: a torrent's files as a folder tree with checkboxes and priorities.

The tree is built once per file layout; later :meth:`FilesTree.show` calls only
recompute each node's summary (checkbox, size, progress, priority) and repaint
the nodes whose summary changed, so the cursor and the expanded folders stay
put while a download runs. The widget never talks to the engine: a toggle or a
priority step posts :class:`FilesTree.PrioritiesChanged` with the new values
and the screen decides what to do with them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tidegate.engine import units
from tidegate.engine.safetext import clean
from tidegate.engine.state import FileState

SKIP, LOW, NORMAL, HIGH = 0, 1, 4, 7
LEVELS = (SKIP, LOW, NORMAL, HIGH)
"""The priority steps ``+`` and ``-`` walk through."""
PRIORITY_NAMES = {SKIP: "skip", LOW: "low", NORMAL: "normal", HIGH: "high"}
CHECKS = {"all": "[x]", "none": "[ ]", "some": "[-]"}
EXPAND_ALL_UP_TO = 200
"""Torrents with at most this many files open with every folder expanded."""

_CHECK_META = Style.from_meta({"check": True})
_SEPARATORS = tuple({"/", os.sep})


def priority_name(priority: int) -> str:
    """``skip``/``low``/``normal``/``high``, or ``prio N`` for an in-between value."""
    return PRIORITY_NAMES.get(priority, f"prio {priority}")


def step(priority: int, up: bool) -> int:
    """The next priority level above (``up``) or below ``priority``."""
    if up:
        return next((p for p in LEVELS if p > priority), HIGH)
    return next((p for p in reversed(LEVELS) if p < priority), SKIP)


@dataclass(slots=True, eq=False)
class Entry:
    """What a tree node stands for: one file, or a folder and every file under it."""

    name: str
    """The path component, already cleaned."""
    indices: list[int] = field(default_factory=list)
    is_file: bool = False
    children: list[Entry] = field(default_factory=list)
    attached: bool = False
    """The children have tree nodes (folders get them when first expanded)."""
    summary: tuple[str, str, str, str] = ("none", "", "", "")
    """(check, size, progress, priority) as shown."""


def build_entries(files: tuple[FileState, ...]) -> Entry:
    """The folder hierarchy of ``files`` (in torrent order) under a nameless root."""
    root = Entry("")
    folders: dict[tuple[str, ...], Entry] = {}
    for f in files:
        *dirs, name = _split(f.path)
        parent = root
        root.indices.append(f.index)
        for depth in range(len(dirs)):
            key = tuple(dirs[: depth + 1])
            folder = folders.get(key)
            if folder is None:
                folder = folders[key] = Entry(clean(dirs[depth]))
                parent.children.append(folder)
            folder.indices.append(f.index)
            parent = folder
        parent.children.append(Entry(clean(name), [f.index], is_file=True))
    return root


def _split(path: str) -> list[str]:
    parts = [path]
    for sep in _SEPARATORS:
        parts = [p for part in parts for p in part.split(sep)]
    return [p for p in parts if p] or [path]


class FilesTree(Tree[Entry]):
    """Folders and files with ``[x]`` checkboxes; space toggles, ``+``/``-`` step priority."""

    BINDINGS = [
        Binding("space", "toggle_check", "Toggle file", key_display="␣"),
        Binding("plus,equals_sign", "priority(1)", "Priority +", key_display="+"),
        Binding("minus", "priority(-1)", "Priority -", key_display="-"),
    ]
    COMPONENT_CLASSES = {"files-tree--details", "files-tree--skipped"}
    DEFAULT_CSS = """
    FilesTree {
        height: 1fr;
        & > .files-tree--details { color: $text-muted; }
        & > .files-tree--skipped { color: $text-disabled; }
    }
    """

    class PrioritiesChanged(Message):
        """The user asked for new priorities: ``{file index: priority}``."""

        def __init__(self, priorities: dict[int, int]) -> None:
            super().__init__()
            self.priorities = priorities

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("no files yet (waiting for metadata)"), id=id)
        self.show_root = False
        self.guide_depth = 3
        self.files: dict[int, FileState] = {}
        self._given: tuple[FileState, ...] | None = None
        self._paths: tuple[tuple[int, str], ...] = ()
        self._attached: list[TreeNode[Entry]] = []
        """Nodes that exist so far, each folder before its contents."""

    @property
    def attached_nodes(self) -> list[TreeNode[Entry]]:
        """Every node created so far (contents of never-opened folders have none)."""
        return list(self._attached)

    # ------------------------------------------------------------------ attributes down

    def show(self, files: tuple[FileState, ...]) -> None:
        """Display ``files``; rebuilds only when the file layout itself changed."""
        if files == self._given:
            return
        self._given = files
        self.files = {f.index: f for f in files}
        self.show_root = not files
        paths = tuple((f.index, f.path) for f in files)
        if paths != self._paths:
            self._paths = paths
            self.clear()
            self._attached = []
            self._grow(build_entries(files), self.root, expand_all=len(files)
                         <= EXPAND_ALL_UP_TO)
            if self._attached and self.cursor_line < 0:
                self.cursor_line = 0
            return
        for node in self._attached:
            entry = node.data
            assert entry is not None
            summary = self._summary(entry)
            if summary != entry.summary:
                entry.summary = summary
                node.refresh()

    def _grow(self, entry: Entry, node: TreeNode[Entry], expand_all: bool = False) -> None:
        """Create the nodes of ``entry``'s children (and of folders opened with them)."""
        entry.attached = True
        for child in entry.children:
            child.summary = self._summary(child)
            if child.is_file:
                self._attached.append(node.add_leaf(Text(child.name), child))
                continue
            expand = expand_all or node is self.root
            folder = node.add(Text(child.name), child, expand=expand)
            self._attached.append(folder)
            if expand:
                self._grow(child, folder, expand_all)

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[Entry]) -> None:
        entry = event.node.data
        if entry is not None and not entry.attached:
            self._grow(entry, event.node)

    def _summary(self, entry: Entry) -> tuple[str, str, str, str]:
        files = [self.files[i] for i in entry.indices if i in self.files]
        wanted = sum(1 for f in files if f.priority > 0)
        check = "all" if wanted == len(files) else "none" if wanted == 0 else "some"
        size = sum(f.size for f in files)
        done = sum(min(f.done, f.size) for f in files)
        progress = f"{100 * done / size:.0f}%" if size else "100%"
        prios = {f.priority for f in files}
        prio = priority_name(prios.pop()) if len(prios) == 1 else "mixed"
        return check, units.size(size), progress, prio

    # ------------------------------------------------------------------ messages up

    def _target(self) -> Entry | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def toggle(self, entry: Entry) -> None:
        """Skip every file of ``entry`` if all are wanted, else want the skipped ones."""
        files = [self.files[i] for i in entry.indices if i in self.files]
        if all(f.priority > 0 for f in files):
            new = {f.index: SKIP for f in files}
        else:
            new = {f.index: NORMAL for f in files if f.priority == SKIP}
        if new:
            self.post_message(self.PrioritiesChanged(new))

    def action_toggle_check(self) -> None:
        entry = self._target()
        if entry is not None:
            self.toggle(entry)

    def action_priority(self, direction: int) -> None:
        entry = self._target()
        files = [self.files[i] for i in entry.indices if i in self.files] if entry else []
        new = {f.index: step(f.priority, direction > 0) for f in files}
        new = {i: p for i, p in new.items() if p != self.files[i].priority}
        if new:
            self.post_message(self.PrioritiesChanged(new))

    async def _on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        if meta.get("check") and "line" in meta:
            event.prevent_default()
            event.stop()
            node = self.get_node_at_line(meta["line"])
            if node is not None and node.data is not None:
                self.cursor_line = meta["line"]
                self.toggle(node.data)

    # ------------------------------------------------------------------ drawing

    def _parts(self, entry: Entry) -> tuple[str, str]:
        check, size, progress, prio = entry.summary
        return f"{CHECKS[check]} ", f"  {size:>10} {progress:>5} {prio:>6}"

    def get_label_width(self, node: TreeNode[Entry]) -> int:
        entry = node.data
        if entry is None:
            return 0
        check, details = self._parts(entry)
        return 2 + len(check) + cell_len(entry.name) + len(details)

    def render_label(self, node: TreeNode[Entry], base_style: Style, style: Style) -> Text:
        entry = node.data
        if entry is None:  # the root, shown only while there are no files
            return Text(str(node.label), style)
        check, details = self._parts(entry)
        if node.allow_expand:
            icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        else:
            icon = "  "
        name_style = style
        if entry.summary[0] == "none":
            name_style = self.get_component_rich_style("files-tree--skipped", partial=True) + style
        detail_style = self.get_component_rich_style("files-tree--details", partial=True) + style
        text = Text.assemble((icon, base_style), (check, style + _CHECK_META),
                             (entry.name, name_style), no_wrap=True)
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth, parent = depth + 1, parent.parent
        room = self.size.width - depth * self.guide_depth - text.cell_len - len(details)
        text.append(" " * max(0, room), style)
        text.append(details, detail_style)
        return text
