"""A node: the torrent engine composed with the services that run sites.

The composition root. :class:`Node` builds the :class:`~engine.engine.Engine` (the
torrent thread) and, when the config allows, the sites thread
(:class:`~engine.sites.service.SitesService`: the Blockchain Handler and the Hosting
Component), the Smart Proxy, tor and the comment service (``comments.enabled``), wires
each to what it needs, starts them in order and stops them in reverse. The daemon and
the TUI's embedded engine run a node; one-shot jobs (``download``, ``seed``) run a bare
Engine.

A node runs every command of :mod:`engine.commands`: the sites thread's (``site_*``)
here, the others on the engine. The services see the engine only through
:class:`engine.services.TorrentService` (mypy checks the Engine conforms where the node
builds them), never the node, so nothing below imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import commands as cmds
from . import commands_apps as app_cmds
from .channel import failed
from .commands import R, implementations, implements
from .commands_apps import MAX_READ, SiteChunk, SiteListing
from .config import Config, LoadedConfig
from .engine import Engine
from .errors import EngineError
from .events import EventStream, Log
from .state import ChainEntryInfo, OnionReply, SiteReport, SiteState, Snapshot
from .supervisor import EnginePart, Part, Supervisor

if TYPE_CHECKING:
    from .automation.hooks import HookRunner
    from .automation.rss_rules import RssRule
    from .automation.rss_service import RssService
    from .automation.rss_state import RssFeedState, RssState
    from .automation.state import WatchFolderState
    from .automation.watch import WatchService
    from .comments.net_state import CommentsNetState
    from .comments.service import CommentService
    from .comments.sync import CommentNet
    from .comments.views import CommentsInfo, CommentView, ImportResult
    from .proxy.service import ProxyService
    from .proxy.site_reader import SiteReader
    from .qbt.service import QbtService
    from .sites.service import SitesService
    from .tor.service import TorService


class Node:
    """The engine and the sites, proxy and tor services, built and wired together.

    Args:
        loaded: the configuration with its paths; read from the environment when None.
        sites: run published and followed sites (``sites.enabled`` permitting), the Smart
            Proxy (``web.enabled``) and tor (``tor.mode`` not ``clearnet``).
        state_dir, restore, download_dir: as :class:`~engine.engine.Engine`'s.
        on_fatal: called (from the watcher's thread) with the reason when the torrent
            engine's thread died: the daemon exits non-zero (docs/watcher.md).
    """

    def __init__(self, loaded: LoadedConfig | None = None, *, sites: bool = True,
                 state_dir: Path | None = None, restore: bool = True,
                 download_dir: Path | None = None,
                 on_fatal: Callable[[str], None] | None = None):
        self.engine = Engine(loaded, state_dir=state_dir, restore=restore,
                             download_dir=download_dir,
                             no_sites="sites are off in this config (sites.enabled = false)")
        self.loaded = self.engine.loaded
        self.sites: SitesService | None = None
        """The sites thread (None when sites are off)."""
        self.proxy: ProxyService | None = None
        """The Smart Proxy (with sites, when ``web.enabled``)."""
        self.tor: TorService | None = None
        """Tor and the onion services (with sites, unless ``tor.mode`` is clearnet)."""
        self.qbt: QbtService | None = None
        """The qBittorrent Web API endpoint (``qbt.enabled``; docs/qbittorrent-api.md)."""
        self.rss: RssService | None = None
        """The RSS thread (feeds and rules; polls while ``rss.enabled``)."""
        self.watch: WatchService | None = None
        """The watch folders (``watch.folders``; docs/automation.md)."""
        self.hooks: HookRunner | None = None
        """The event hooks, from the config file only (``[hooks]``; docs/automation.md)."""
        self.reader: SiteReader | None = None
        """Programs' verified reads of sites (``site_read``; docs/program-api.md)."""
        self.on_fatal = on_fatal or (lambda why: None)
        self.watcher: Supervisor | None = None
        """Restarts the parts that die (engine/supervisor.py; started by :meth:`start`)."""
        self._extra_parts: list[Part] = []
        self.comments: CommentService | None = None
        """The comment store and endpoint (``comments.enabled``; docs/comments.md)."""
        self.comments_net: CommentNet | None = None
        """Discovery and sync with other comment servers (docs/comments.md)."""
        if sites and self.config.sites.enabled:
            # imported here: sites pull in the chain, cryptography and asyncio (~60 ms)
            from .sites.service import SitesService
            self.sites = SitesService(self.engine, self.loaded.paths.data_dir / "sites",
                                      tor=lambda: self.tor)

    @property
    def config(self) -> Config:
        return self.engine.config

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> Node:
        """Start the engine, then the qBittorrent API, the sites thread, the proxy and
        tor."""
        self.engine.start(timeout)
        try:
            self._start_automation()
            self._start_comments()
            if self.config.qbt.enabled:
                from .qbt.service import QbtService
                self.qbt = QbtService(self, self.loaded.paths.data_dir,
                                      str(self.engine.download_dir)).start()
            if self.sites is None:
                return self
            sites = self.sites
            self.sites.start()
            from .proxy.site_reader import SiteReader
            self.reader = SiteReader(lambda: sites.served.current,
                                     lambda: self.engine.snapshot.sites, sites.report_bad)
            if self.config.web.enabled:
                from .proxy.service import ProxyService
                self.proxy = ProxyService(self.engine, sites.served, sites.report_bad,
                                          handlers=sites.handlers)
                self.proxy.start()
            if self.config.tor.mode != "clearnet":
                from .tor.service import TorService
                paths = self.loaded.paths
                self.tor = TorService(self.engine, self.proxy, paths.data_dir / "tor",
                                      paths.runtime_dir)
                self.tor.supervised = True
                self.tor.start()  # the sites thread's next tick tells it what to publish
        except BaseException:
            self.stop()
            raise
        finally:
            if self.engine.running:
                self._watch()
        return self

    def add_part(self, part: Part) -> None:
        """Have the watcher supervise ``part`` too (started and stopped by its owner)."""
        self._extra_parts.append(part)
        if self.watcher is not None:
            self.watcher.add(part)

    def _watch(self) -> None:
        """Start the watcher over the engine and every service this node started."""
        parts: list[Part] = [EnginePart(self.engine, self.on_fatal)]
        parts += [p for p in (self.qbt, self.comments, self.sites, self.proxy, self.tor)
                  if p is not None]
        self.watcher = Supervisor(parts + self._extra_parts, self.engine.set_parts,
                                  self.engine.post_event).start()

    def stop(self, timeout: float | None = None, save: bool = True) -> None:
        """Stop the qBittorrent API, tor, the proxy and the sites thread, then the engine
        (resume data)."""
        try:
            if self.watcher is not None:
                self.watcher.stop()  # what stops now stops on purpose
                self.watcher = None
            for part in (self.rss, self.watch, self.hooks):
                if part is not None:
                    part.stop()
            if self.qbt is not None:
                self.qbt.stop()
            if self.comments is not None:
                self.comments.stop()
            if self.tor is not None:
                self.tor.stop()
            if self.proxy is not None:
                self.proxy.stop()
            if self.reader is not None:
                self.reader.close()
            if self.sites is not None:
                self.sites.stop()
        finally:
            self.engine.stop(timeout, save)

    def _start_automation(self) -> None:
        """RSS, the hooks (as the config file says: ``self.loaded``, never a live config)
        and the watch folders."""
        from .automation.rss_service import RssService
        self.rss = RssService(self.engine, self.loaded.paths.data_dir / "rss").start()
        hooks, watch = self.loaded.config.hooks, self.loaded.config.watch
        if hooks.on_add or hooks.on_complete or hooks.on_error:
            from .automation.hooks import HookRunner
            self.hooks = HookRunner(self.engine, hooks).start()
        if watch.folders:
            from .automation.watch import WatchService
            self.watch = WatchService(self.engine, watch).start()

    def _start_comments(self) -> None:
        """The comment store and endpoint, when ``comments.enabled`` (as the config file
        says: a later ``apply_config`` does not start or stop it)."""
        cfg = self.loaded.config.comments
        if not cfg.enabled:
            return
        from .comments.service import CommentService

        def log(line: str) -> None:
            self.engine.post_event(Log(level="error", message=f"comments: {line}"[:500]))

        service = CommentService(cfg, self.loaded.paths.data_dir / "comments", log=log)
        from .comments.sync import CommentNet
        self.comments_net = CommentNet.attach(service, self.engine,
                                              use_dht=self.config.network.enable_dht)
        self.comments = service.start()

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ EngineAPI

    @property
    def snapshot(self) -> Snapshot:
        return self.engine.snapshot

    @property
    def running(self) -> bool:
        return self.engine.running

    @property
    def event_seq(self) -> int:
        return self.engine.event_seq

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        return self.engine.wait_for(predicate, timeout)

    def glance(self) -> None:
        self.engine.glance()

    def subscribe(self, maxsize: int = 10_000) -> EventStream:
        return self.engine.subscribe(maxsize)

    def unsubscribe(self, stream: EventStream) -> None:
        self.engine.unsubscribe(stream)

    def add_listener(self, wake: Callable[[], None]) -> None:
        self.engine.add_listener(wake)

    def remove_listener(self, wake: Callable[[], None]) -> None:
        self.engine.remove_listener(wake)

    def frontend_attached(self, on: bool) -> None:
        self.engine.frontend_attached(on)

    def run(self, cmd: cmds.Command[R]) -> Future[R]:
        """Run a command: a site command on the sites thread, any other on the engine."""
        impl = _IMPLEMENTATIONS.get(type(cmd))
        if impl is None:
            return self.engine.run(cmd)
        return impl(self, *cmds.arguments(cmd))

    def __getattr__(self, name: str) -> Any:
        """The engine's public members (its command implementations, ``dht_put``...), for
        in-process callers that hold a node: ``node.add(request)``."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.engine, name)

    # ------------------------------------------------------------------ site commands

    def _submit(self, kind: str, *args: Any) -> Future[Any]:
        if self.sites is None:
            return failed(EngineError(self.engine.no_sites))
        return self.sites.submit(kind, *args)

    @implements(cmds.SiteNew)
    def site_new(self, name: str, folder: str | None = None) -> Future[SiteState]:
        """Create a site: a new key and its GENESIS; ``folder`` is what it publishes."""
        return self._submit("new", name, folder)

    @implements(cmds.SiteImport)
    def site_import(self, name: str, key: str, folder: str | None = None) -> Future[SiteState]:
        """Own a site again from the text of its key file; its chain is recovered from the
        DHT before anything can be published."""
        return self._submit("import", name, key, folder)

    @implements(cmds.SitePublish)
    def site_publish(self, site: str, folder: str | None = None) -> Future[SiteState]:
        """Snapshot the site's folder, append an UPDATE, seed it and announce it."""
        return self._submit("publish", site, folder)

    @implements(cmds.SiteFollow)
    def site_follow(self, address: str) -> Future[SiteState]:
        """Follow a site by address: fetch, verify and seed each new snapshot."""
        return self._submit("follow", address)

    @implements(cmds.SiteOnion)
    def site_onion(self, site: str, enabled: bool | None = None, add_client: str = "",
                   client_key: str = "", remove_client: str = "") -> Future[OnionReply]:
        """Switch an owned site's onion service on or off (kept across restarts), and
        allow or remove a client (v3 client authorisation). Needs ``tor.mode``
        ``tor-hosting`` or ``tor-all``; ``Snapshot.tor.onions`` shows the service."""
        return self._submit("onion", site, enabled, add_client, client_key, remove_client)

    @implements(cmds.SiteUnfollow)
    def site_unfollow(self, site: str, delete_data: bool = False) -> Future[None]:
        return self._submit("unfollow", site, delete_data)

    @implements(cmds.SiteCheck)
    def site_check(self, site: str) -> Future[None]:
        """Look the site's head up in the DHT now instead of at the next poll."""
        return self._submit("check", site)

    @implements(cmds.SiteList)
    def site_list(self) -> Future[list[SiteState]]:
        fut: Future[list[SiteState]] = Future()
        fut.set_result(list(self.snapshot.sites.values()))
        return fut

    @implements(cmds.SiteLog)
    def site_log(self, site: str) -> Future[list[ChainEntryInfo]]:
        return self._submit("log", site)

    @implements(cmds.SiteVerify)
    def site_verify(self, site: str, rebuild: str | None = None) -> Future[SiteReport]:
        """Verify the chain from genesis and the newest snapshot's files on disk (and,
        with ``rebuild``, rebuild the snapshot from a source folder and compare)."""
        return self._submit("verify", site, rebuild)

    # ------------------------------------------------------------------ program API

    def _read(self, call: Callable[[SiteReader], Future[Any]]) -> Future[Any]:
        if self.reader is None:
            return failed(EngineError(self.engine.no_sites if self.sites is None else
                                      "sites are not started"))
        return call(self.reader)

    @implements(app_cmds.SiteFiles)
    def site_files(self, site: str, start: int = 0) -> Future[SiteListing]:
        """The newest verified snapshot's files (a page of up to ``MAX_LISTED``)."""
        return self._read(lambda r: r.files(site, start))

    @implements(app_cmds.SiteRead)
    def site_read(self, site: str, path: str, offset: int = 0,
                  length: int = MAX_READ) -> Future[SiteChunk]:
        """Up to 1 MiB of a site's file, every byte verified against the chain."""
        return self._read(lambda r: r.read(site, path, offset, length))

    @implements(app_cmds.SiteWrite)
    def site_write(self, site: str, path: str, data: bytes, offset: int | None = None,
                   truncate: bool = False) -> Future[int]:
        """Write a file of an owned site's source folder (publish it with site_publish)."""
        return self._submit("write", site, path, data, offset, truncate)

    @implements(app_cmds.SiteDelete)
    def site_delete(self, site: str, path: str) -> Future[None]:
        return self._submit("delete", site, path)

    @implements(app_cmds.HandlerRegister)
    def handler_register(self, site: str, prefix: str, target: str,
                         ttl: float = 30.0) -> Future[float]:
        """Lease ``prefix`` of an owned site to the program at ``target``."""
        return self._submit("handler_register", site, prefix, target, ttl)

    @implements(app_cmds.HandlerUnregister)
    def handler_unregister(self, site: str, prefix: str) -> Future[bool]:
        return self._submit("handler_unregister", site, prefix)

    # ------------------------------------------------------------------ RSS commands

    def _rss(self, call: Callable[[RssService], Any]) -> Future[Any]:
        """Run ``call`` on the RSS service (quick: it writes feeds.json) as a future."""
        if self.rss is None:
            return failed(EngineError("RSS runs in a started node (the daemon or the TUI)"))
        fut: Future[Any] = Future()
        try:
            fut.set_result(call(self.rss))
        except Exception as exc:
            fut.set_exception(exc)
        return fut

    @implements(cmds.RssFeedAdd)
    def rss_feed_add(self, url: str, interval: float = 0.0) -> Future[RssFeedState]:
        return self._rss(lambda r: r.feed_add(url, interval))

    @implements(cmds.RssFeedRemove)
    def rss_feed_remove(self, url: str) -> Future[None]:
        return self._rss(lambda r: r.feed_remove(url))

    @implements(cmds.RssRuleSet)
    def rss_rule_set(self, name: str, include: str = "", exclude: str = "",
                     episodes: str = "", feeds: list[str] | None = None, category: str = "",
                     save_path: str = "", enabled: bool = True) -> Future[RssRule]:
        from .automation.rss_rules import RssRule
        rule = RssRule(name=name, include=include, exclude=exclude, episodes=episodes,
                       feeds=list(feeds or []), category=category, save_path=save_path,
                       enabled=enabled)
        return self._rss(lambda r: r.rule_set(rule))

    @implements(cmds.RssRuleRemove)
    def rss_rule_remove(self, name: str) -> Future[None]:
        return self._rss(lambda r: r.rule_remove(name))

    @implements(cmds.RssList)
    def rss_list(self) -> Future[RssState]:
        return self._rss(lambda r: r.state())

    @implements(cmds.RssRefresh)
    def rss_refresh(self, url: str = "") -> Future[RssState]:
        if self.rss is None:
            return self._rss(lambda r: None)
        return self.rss.refresh(url)

    # ------------------------------------------------------------------ automation

    @implements(cmds.WatchList)
    def watch_list(self) -> Future[list[WatchFolderState]]:
        """Each watch folder's counts and last error ([] when none is configured)."""
        fut: Future[list[WatchFolderState]] = Future()
        fut.set_result(self.watch.states() if self.watch is not None else [])
        return fut


    # ------------------------------------------------------------------ comments

    def _comments(self, call: Callable[[CommentService], Any]) -> Future[Any]:
        """Run ``call`` on the comment service's worker thread, as a future."""
        service = self.comments
        if service is None:
            return failed(EngineError("comments are off on this node (set comments.enabled "
                                      "= true in the config and restart it)"))
        try:
            return service.submit(lambda: call(service))
        except RuntimeError:  # its worker was shut down: the node is stopping
            return failed(EngineError("the comment service has stopped"))

    @implements(cmds.CommentPost)
    def comment_post(self, url: str, text: str, parent: str = "") -> Future[CommentView]:
        from .comments import actions
        return self._comments(lambda c: actions.post(c.store, c.author, url, text, parent))

    @implements(cmds.CommentList)
    def comment_list(self, url: str) -> Future[list[CommentView]]:
        from .comments import actions
        return self._comments(lambda c: actions.listing(c.store, url))

    @implements(cmds.CommentImport)
    def comment_import(self, records: list[str]) -> Future[list[ImportResult]]:
        from .comments import actions
        return self._comments(lambda c: actions.import_records(c.store, records))

    @implements(cmds.CommentExport)
    def comment_export(self, url: str) -> Future[list[str]]:
        from .comments import actions
        return self._comments(lambda c: actions.export(c.store, url))

    @implements(cmds.CommentStatus)
    def comment_status(self) -> Future[CommentsInfo]:
        from .comments import actions
        return self._comments(lambda c: actions.status(
            c.store, c.author, c.url, c.config.network, c.failure))

    @implements(cmds.CommentPeers)
    def comment_peers(self) -> Future[CommentsNetState]:
        """The comments network's state (discovery and every peer), as it stands now."""
        net = self.comments_net
        if net is None:
            return failed(EngineError("comments are off on this node (set comments.enabled "
                                      "= true in the config and restart it)"))
        fut: Future[CommentsNetState] = Future()
        fut.set_result(net.state)
        return fut


_IMPLEMENTATIONS = implementations(Node)
"""The node's own command implementations (the site commands), by command type."""
