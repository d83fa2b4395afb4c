"""The engine API's commands as :class:`engine.api.client.RemoteEngine` sends them.

One method per protocol command (docs/api.md), each a thin :meth:`call` with the same
signature as :class:`engine.Engine`'s method, so frontends cannot tell the two apart. The
client's thread, sockets and state sync are in :mod:`.client`.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..requests import AddRequest
from ..state import ChainEntryInfo, OnionReply, SiteReport, SiteState, TorrentDetails


class RemoteCommands:
    if TYPE_CHECKING:
        timeout: float

        def call(self, cmd: str, timeout: float | None = None, **args: Any) -> Future[Any]: ...

    def add(self, request: AddRequest) -> Future[str]:
        return self.call("add", request=request)

    def pause(self, torrent_id: str) -> Future[None]:
        return self.call("pause", torrent_id=torrent_id)

    def resume(self, torrent_id: str) -> Future[None]:
        return self.call("resume", torrent_id=torrent_id)

    def remove(self, torrent_id: str, delete_data: bool = False,
               force: bool = False) -> Future[None]:
        return self.call("remove", torrent_id=torrent_id, delete_data=delete_data,
                         force=force)

    def recheck(self, torrent_id: str) -> Future[None]:
        return self.call("recheck", torrent_id=torrent_id)

    def reannounce(self, torrent_id: str) -> Future[list[str]]:
        return self.call("reannounce", torrent_id=torrent_id)

    def move(self, torrent_id: str, folder: str) -> Future[str]:
        return self.call("move", torrent_id=torrent_id, folder=folder)

    def set_limits(self, torrent_id: str, down: int | None = None,
                   up: int | None = None) -> Future[None]:
        return self.call("set_limits", torrent_id=torrent_id, down=down, up=up)

    def set_global_limits(self, down: int | None = None, up: int | None = None) -> Future[None]:
        return self.call("set_global_limits", down=down, up=up)

    def set_share_limits(self, torrent_id: str, ratio: float | None = None,
                         seed_time: int | None = None) -> Future[None]:
        return self.call("set_share_limits", torrent_id=torrent_id, ratio=ratio,
                         seed_time=seed_time)

    def set_file_priorities(self, torrent_id: str, priorities: dict[int, int]) -> Future[None]:
        return self.call("set_file_priorities", torrent_id=torrent_id,
                         priorities=dict(priorities))

    def set_sequential(self, torrent_id: str, on: bool) -> Future[None]:
        return self.call("set_sequential", torrent_id=torrent_id, on=on)

    def queue_move(self, torrent_id: str, where: str) -> Future[None]:
        return self.call("queue_move", torrent_id=torrent_id, where=where)

    def add_trackers(self, torrent_id: str, urls: Iterable[str]) -> Future[None]:
        return self.call("add_trackers", torrent_id=torrent_id, urls=list(urls))

    def remove_trackers(self, torrent_id: str, urls: Iterable[str]) -> Future[None]:
        return self.call("remove_trackers", torrent_id=torrent_id, urls=list(urls))

    def add_peers(self, torrent_id: str, peers: Iterable[str]) -> Future[None]:
        return self.call("add_peers", torrent_id=torrent_id, peers=list(peers))

    def flush(self, torrent_id: str) -> Future[None]:
        return self.call("flush", torrent_id=torrent_id)

    def details(self, torrent_id: str) -> Future[TorrentDetails]:
        return self.call("details", torrent_id=torrent_id)

    def save_resume_data(self) -> Future[None]:
        return self.call("save_resume_data")

    def session_settings(self) -> Future[dict[str, Any]]:
        return self.call("session_settings")

    def site_new(self, name: str, folder: str | None = None) -> Future[SiteState]:
        return self.call("site_new", name=name, folder=folder)

    def site_import(self, name: str, key: str, folder: str | None = None) -> Future[SiteState]:
        return self.call("site_import", name=name, key=key, folder=folder)

    def site_publish(self, site: str, folder: str | None = None) -> Future[SiteState]:
        return self.call("site_publish", timeout=max(self.timeout, 3600.0), site=site,
                         folder=folder)

    def site_follow(self, address: str) -> Future[SiteState]:
        return self.call("site_follow", site=address)

    def site_onion(self, site: str, enabled: bool | None = None, add_client: str = "",
                   client_key: str = "", remove_client: str = "") -> Future[OnionReply]:
        return self.call("site_onion", site=site, enabled=enabled, add_client=add_client,
                         client_key=client_key, remove_client=remove_client)

    def site_unfollow(self, site: str, delete_data: bool = False) -> Future[None]:
        return self.call("site_unfollow", site=site, delete_data=delete_data)

    def site_check(self, site: str) -> Future[None]:
        return self.call("site_check", site=site)

    def site_list(self) -> Future[list[SiteState]]:
        return self.call("site_list")

    def site_log(self, site: str) -> Future[list[ChainEntryInfo]]:
        return self.call("site_log", site=site)

    def site_verify(self, site: str, rebuild: str | None = None) -> Future[SiteReport]:
        return self.call("site_verify", timeout=max(self.timeout, 3600.0), site=site,
                         rebuild=rebuild)

    def apply_config(self, config: Config) -> Future[None]:
        return self.call("apply_config", config=config)

    def shutdown_daemon(self) -> Future[None]:
        """Ask the daemon to save everything and exit."""
        return self.call("shutdown")
