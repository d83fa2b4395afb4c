"""The actions on the selected torrents: the ones that ask in a dialog and run commands.

A part the app composes (``TidegateApp.torrent_actions``), not a mixin: it owns what it
keeps (the last magnet copied) and sees the app only as a :class:`~tui.host.Host`, the
engine, the snapshot, the selection and the two ways to run commands. The app's
``action_<name>`` methods, which the key bindings of :data:`tui.actions.ACTIONS` call,
hand over to the method of the same name here. Every action ends in one success or error
notification (:meth:`Host.run_command`); none blocks the UI.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from tidegate.engine import commands as cmds
from tidegate.engine.safetext import clean
from tidegate.engine.state import TorrentState

from .host import Host, Says
from .messages import CommandDone
from .screens.dialogs import (
    AddDialog,
    Added,
    LimitsDialog,
    MoveDialog,
    RemoveDialog,
    ShareLimitsDialog,
)
from .screens.labels import LabelsDialog


class TorrentActions:
    """Pause, remove, move, limits, queue, magnets, …: what the keys of the list ask for."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.last_copied = ""
        """What ``c`` (copy magnet) last put on the clipboard."""

    def _on_targets(self, what: str, start: Callable[[str], Future[Any]], failed: str,
                    says: Says | None = None) -> None:
        self.host.run_command(what, self.host.targets(), start, failed=failed, says=says)

    def _target_states(self) -> list[TorrentState]:
        torrents = self.host.snapshot.torrents
        return [torrents[t] for t in self.host.targets() if t in torrents]

    def pause(self) -> None:
        run = self.host.engine.run
        self._on_targets("Paused", lambda t: run(cmds.Pause(t)), "Pause failed")

    def resume(self) -> None:
        run = self.host.engine.run
        self._on_targets("Resumed", lambda t: run(cmds.Resume(t)), "Resume failed")

    def pause_resume(self) -> None:
        states = self._target_states()
        if states and all(s.paused for s in states):
            self.resume()
        else:
            self.pause()

    def recheck(self) -> None:
        # its end is a notification of its own (tui/notices.py: "Check finished")
        run = self.host.engine.run
        self._on_targets("Recheck started", lambda t: run(cmds.Recheck(t)), "Recheck failed")

    def reannounce(self) -> None:
        run = self.host.engine.run
        self._on_targets("Reannounced", lambda t: run(cmds.Reannounce(t)), "Reannounce failed",
                         announced)

    def sequential(self) -> None:
        states = self._target_states()
        on = not (states and all(s.sequential for s in states))
        run = self.host.engine.run
        self._on_targets("Sequential on" if on else "Sequential off",
                         lambda tid: run(cmds.SetSequential(tid, on)),
                         "Sequential order not set")

    def remove(self) -> None:
        host = self.host
        ids = host.selected()
        if not ids:
            return
        needed = [t for t in self._target_states() if t.site]
        if needed:  # the engine would refuse it too: the site would lose its data
            t = needed[0]
            site = host.snapshot.sites.get(t.site)
            host.notify(f"{clean(t.name)} is the {clean(t.site_role) or 'torrent'} of site "
                        f"{clean(site.name if site else t.site)}: to drop it, unfollow the "
                        f"site in the sites view (S)", title="Not removed", severity="error",
                        timeout=10)
            return
        torrents = host.snapshot.torrents
        names = [torrents[t].name for t in ids if t in torrents]

        def done(answer: bool | None) -> None:
            if answer is None:
                return
            host.run_command("Removed and data deleted" if answer else "Removed", ids,
                             lambda tid: host.engine.run(cmds.Remove(tid, delete_data=answer)),
                             failed="Remove failed")

        host.push_screen(RemoveDialog(names), done)

    def add(self) -> None:
        host = self.host

        def done(added: Added | None) -> None:
            if added is None:
                return
            host.post_message(CommandDone("Added", 1, [], added.torrent_id))
            if added.hint:
                name = host.snapshot.torrents.get(added.torrent_id)
                host.notify(added.hint, title=f"{clean(name.name) if name else 'Added'}: "
                            "no way to find peers", severity="warning", timeout=20)

        engine = host.engine
        host.push_screen(AddDialog(host.limits, lambda r: engine.run(cmds.Add(r)),
                                   lambda: engine.run(cmds.SessionSettings()),
                                   sorted(host.snapshot.categories)), done)

    def move(self) -> None:
        host = self.host
        ids = host.selected()
        if not ids:
            return
        first = host.snapshot.torrents.get(ids[0])

        def done(folder: str | None) -> None:
            if folder:
                host.run_command("Moved", ids, lambda tid: host.engine.run(cmds.Move(tid, folder)),
                                 failed="Move failed")

        host.push_screen(MoveDialog(first.save_path if first else ""), done)

    def labels(self) -> None:
        host = self.host
        states = self._target_states()
        if not states:
            return

        def done(what: str | None) -> None:
            if what:
                host.notify(what, title=f"{len(states)} torrent(s)")

        host.push_screen(LabelsDialog(host.engine, states, host.snapshot.categories), done)

    def limits(self) -> None:
        host = self.host
        ids = host.selected()
        if not ids:
            return
        first = host.snapshot.torrents.get(ids[0])
        current = (first.download_limit, first.upload_limit) if first else (0, 0)

        def done(limits: tuple[int, int] | None) -> None:
            if limits is not None:
                down, up = limits
                host.run_command("Limits set", ids,
                                 lambda tid: host.engine.run(cmds.SetLimits(tid, down=down, up=up)),
                                 failed="Limits not set")

        host.push_screen(LimitsDialog(f"Limits for {len(ids)} torrent(s)", current), done)

    def global_limits(self) -> None:
        host = self.host
        s = host.snapshot.stats

        def done(limits: tuple[int, int] | None) -> None:
            if limits is not None:
                down, up = limits
                host.run_one("Global limits set",
                             lambda: host.engine.run(cmds.SetGlobalLimits(down=down, up=up)),
                             failed="Global limits not set")

        host.push_screen(LimitsDialog("Global limits", (s.download_limit, s.upload_limit)),
                         done)

    def turtle(self) -> None:
        """Turtle mode on or off by hand (until the schedule's next boundary)."""
        host = self.host
        on = not host.snapshot.stats.alt_speed.on
        host.run_one("Turtle mode on" if on else "Turtle mode off",
                     lambda: host.engine.run(cmds.SetAltSpeed(on=on)),
                     failed="Turtle mode not switched")

    def share_limits(self) -> None:
        host = self.host
        ids = host.selected()
        if not ids:
            return
        first = host.snapshot.torrents.get(ids[0])
        current = (first.ratio_limit, first.seed_time_limit) if first else (-1.0, -1)

        def done(limits: tuple[float, int] | None) -> None:
            if limits is not None:
                ratio, seed_time = limits
                host.run_command("Share limits set", ids, lambda tid: host.engine.run(
                    cmds.SetShareLimits(tid, ratio=ratio, seed_time=seed_time)),
                    failed="Share limits not set")

        host.push_screen(ShareLimitsDialog(f"Share limits for {len(ids)} torrent(s)", current),
                         done)

    def queue_move(self, where: str) -> None:
        """Move the selected torrents in the queue, keeping their order among themselves:
        the commands run on the engine thread in the order they are sent."""
        host = self.host
        ids = host.selected()
        if not ids:
            return
        torrents = host.snapshot.torrents

        def position(tid: str) -> int:
            t = torrents.get(tid)
            return t.queue_position if t is not None else -1
        # up and bottom: the one nearest the top moves first; down and top: the one nearest
        # the bottom (so, for top, the one that was nearest the top ends there)
        ordered = sorted(ids, key=position, reverse=where in ("down", "top"))
        host.run_command(f"Moved {where} the queue" if where in ("up", "down")
                         else f"Moved to the {where} of the queue", ordered,
                         lambda tid: host.engine.run(cmds.QueueMove(tid, where)),
                         failed="Queue move failed")

    def copy_magnet(self) -> None:
        ids = self.host.selected()
        if ids:
            self.host.run_worker(self._copy_magnets(ids), group="copy-magnet")

    async def _copy_magnets(self, ids: list[str]) -> None:
        host = self.host
        magnets = []
        for tid in ids:
            try:  # the engine's magnet: trackers and web seeds included
                details = await asyncio.wrap_future(host.engine.run(cmds.Details(tid)))
            except Exception as exc:
                host.notify(clean(str(exc)), title="Copy magnet failed", severity="error")
                return
            magnets.append(details.magnet)
        text = "\n".join(magnets)
        host.copy_to_clipboard(text)  # OSC 52: not every terminal takes it, so shown too
        self.last_copied = text
        host.notify(clean(text), title=f"{len(magnets)} magnet(s) copied to the clipboard"
                    if len(magnets) > 1 else "Magnet copied to the clipboard", timeout=20)

    def open_folder(self) -> None:
        host = self.host
        ids = host.targets()
        first = host.snapshot.torrents.get(ids[0]) if ids else None
        if first is None:
            host.notify("no torrent selected", severity="warning")
            return
        folder = first.save_path
        opener = shutil.which("xdg-open")
        # a daemon over tcp is another machine: its folders are not ours to open
        here = not host.connection.startswith("daemon tcp://") and os.path.isdir(folder)
        if opener is None or not here:
            host.notify(clean(folder), title="Download folder", timeout=20)
            return
        try:
            proc = subprocess.Popen([opener, folder], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as exc:
            host.notify(f"{clean(folder)} ({clean(str(exc))})", title="Download folder",
                        severity="warning", timeout=20)
            return
        threading.Thread(target=proc.wait, name="tui-opener", daemon=True).start()  # no zombie
        host.notify(clean(folder), title="Opened the download folder")


def announced(results: list[list[str]]) -> str:
    """What a reannounce did, from the engine's answers (where each torrent announced)."""
    nowhere = sum(1 for where in results if not where)
    if not nowhere:
        if len(results) == 1:
            return "Announced to " + ", ".join(results[0])
        return f"Reannounced ({len(results)})"
    why = "no tracker, and DHT and local discovery are off or the torrent is private"
    if nowhere == len(results):
        return f"Nowhere to announce to: {why}" if nowhere == 1 else \
            f"Nowhere to announce {nowhere} torrents to: {why}"
    return f"Reannounced {len(results) - nowhere}; {nowhere} have nowhere to announce to ({why})"
