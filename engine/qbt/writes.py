"""The endpoints that change something (POST only): each runs engine commands
(categories and tags: ``category_add``, ``category_remove``, ``set_category``,
``add_tags``, ``remove_tags``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from .. import commands as cmds
from ..errors import DuplicateTorrentError, TidegateError, UnknownCategoryError
from ..requests import AddRequest
from ..torrents import fetch
from .app import ApiError, Endpoint, Reply, Request


async def _each(r: Request, make: Any) -> Reply:
    """Run ``make(torrent)`` for each torrent ``hashes`` names; errors of single torrents
    are ignored as qBittorrent ignores them."""
    for t in r.app.select(r.need("hashes")):
        with contextlib.suppress(TidegateError):
            await r.app.call(make(t))
    return None


async def pause(r: Request) -> Reply:
    return await _each(r, lambda t: cmds.Pause(t.id))


async def resume(r: Request) -> Reply:
    return await _each(r, lambda t: cmds.Resume(t.id))


async def recheck(r: Request) -> Reply:
    return await _each(r, lambda t: cmds.Recheck(t.id))


async def reannounce(r: Request) -> Reply:
    return await _each(r, lambda t: cmds.Reannounce(t.id))


async def delete(r: Request) -> Reply:
    remove_data = r.flag("deleteFiles")
    return await _each(r, lambda t: cmds.Remove(t.id, delete_data=remove_data))


def _queueing(r: Request) -> None:
    q = r.app.config.queue
    if q.active_downloads < 0 and q.active_limit < 0:
        raise ApiError(409, "Torrent queueing must be enabled")


async def _queue(r: Request, where: str, first_to_last: bool) -> Reply:
    _queueing(r)
    chosen = [t for t in r.app.select(r.need("hashes")) if t.queue_position >= 0]
    chosen.sort(key=lambda t: t.queue_position, reverse=not first_to_last)
    for t in chosen:
        with contextlib.suppress(TidegateError):
            await r.app.call(cmds.QueueMove(t.id, where))
    return None


async def top_prio(r: Request) -> Reply:
    return await _queue(r, "top", first_to_last=False)


async def bottom_prio(r: Request) -> Reply:
    return await _queue(r, "bottom", first_to_last=True)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ApiError(400) from None


def _ratio(text: str) -> float:
    """qBittorrent's ratio limit (-2 global, -1 none) as tidegate's (-1 global, 0 none)."""
    value = _float(text)
    if value <= -2:
        return -1.0
    return 0.0 if value < 0 else min(value, 9998.0)


def _seed_time(text: str) -> int:
    """Minutes (-2 global, -1 none) as seconds (-1 global, 0 none)."""
    value = int(_float(text))
    if value <= -2:
        return -1
    return 0 if value < 0 else min(value * 60, 2**31 - 1)


async def set_share_limits(r: Request) -> Reply:
    ratio = _ratio(r.need("ratioLimit"))
    seed_time = _seed_time(r.need("seedingTimeLimit"))
    return await _each(r, lambda t: cmds.SetShareLimits(t.id, ratio=ratio,
                                                        seed_time=seed_time))


async def set_category(r: Request) -> Reply:
    category = r.need("category")
    ids = [t.id for t in r.app.select(r.need("hashes"))]
    try:
        await r.app.call(cmds.SetCategory(ids=ids, category=category))
    except UnknownCategoryError:
        raise ApiError(409, "Incorrect category name") from None
    return None


async def create_category(r: Request) -> Reply:
    name = r.need("category")
    if not name.strip():
        raise ApiError(400, "Category cannot be empty")
    if name in r.app.host.snapshot.categories:
        raise ApiError(409, "Unable to create category")
    try:
        await r.app.call(cmds.CategoryAdd(name=name, save_path=r.get("savePath")))
    except TidegateError:
        raise ApiError(409, "Incorrect category name") from None
    return None


async def remove_categories(r: Request) -> Reply:
    names = [n for n in r.need("categories").split("\n") if n.strip()]
    if names:
        await r.app.call(cmds.CategoryRemove(names=names))
    return None


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


async def add_tags(r: Request) -> Reply:
    tags = _tags(r.need("tags"))
    ids = [t.id for t in r.app.select(r.need("hashes"))]
    if ids and tags:
        await r.app.call(cmds.AddTags(ids=ids, tags=tags))
    return None


async def remove_tags(r: Request) -> Reply:
    tags = _tags(r.get("tags"))
    chosen = r.app.select(r.need("hashes"))
    if not tags:  # qBittorrent: no tags named removes them all
        tags = sorted({tag for t in chosen for tag in t.tags})
    if chosen and tags:
        await r.app.call(cmds.RemoveTags(ids=[t.id for t in chosen], tags=tags))
    return None


async def create_tags(r: Request) -> Reply:
    for tag in _tags(r.need("tags")):
        if len(tag) <= 255 and tag.isprintable():
            r.app.created_tags.add(tag)
    return None


async def delete_tags(r: Request) -> Reply:
    tags = _tags(r.need("tags"))
    r.app.created_tags.difference_update(tags)
    chosen = [t for t in r.app.torrents() if set(t.tags) & set(tags)]
    if chosen:
        await r.app.call(cmds.RemoveTags(ids=[t.id for t in chosen], tags=tags))
    return None


# ---------------------------------------------------------------- add

async def add(r: Request) -> Reply:
    """``torrents/add``: ``urls`` (magnets, info-hashes, http(s) .torrent URLs, one a
    line) and/or ``torrents`` files; "Ok." when at least one was added, else "Fails."."""
    sources: list[tuple[bytes | None, str | None, str]] = [
        (data, None, filename) for filename, data in r.files]
    for line in r.get("urls").splitlines():
        url = line.strip()
        if not url:
            continue
        if fetch.is_url(url):
            sources.append((await _fetch(r, url), None, url))
        else:
            sources.append((None, url, url))
    if not sources:
        return "Fails."
    options = _add_options(r)
    category = r.get("category").strip()
    tags = _tags(r.get("tags"))
    if category and category not in r.app.host.snapshot.categories:
        # qBittorrent makes the category when an add names a new one
        try:
            await r.app.call(cmds.CategoryAdd(name=category, save_path=""))
        except TidegateError:
            return "Fails."
    added = False
    for data, uri, source in sources:
        if data is None and uri is None:
            continue
        try:
            request = AddRequest(torrent=data, uri=uri, source=source, category=category,
                                 tags=tuple(tags), **options)
            torrent_id = await r.app.call(cmds.Add(request))
        except DuplicateTorrentError:
            continue
        except TidegateError:
            if data is not None:
                raise ApiError(415, f"Error: '{source}' is not a valid torrent file.") \
                    from None
            continue
        added = torrent_id is not None
    return "Ok." if added else "Fails."


async def _fetch(r: Request, url: str) -> bytes | None:
    cfg = r.app.config
    if fetch.refusal(cfg) is not None:
        return None
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(None, fetch.fetch, url, cfg.limits)
    except TidegateError:
        return None


def _add_options(r: Request) -> dict[str, Any]:
    options: dict[str, Any] = {
        "save_path": r.get("savepath").strip() or None,
        "paused": r.flag("paused") or r.flag("stopped"),
        "seed_mode": r.flag("skip_checking"),
        "sequential": r.flag("sequentialDownload"),
    }
    if r.get("ratioLimit"):
        options["ratio_limit"] = _ratio(r.get("ratioLimit"))
    if r.get("seedingTimeLimit"):
        options["seed_time_limit"] = _seed_time(r.get("seedingTimeLimit"))
    for qbt_name, name in (("dlLimit", "download_limit"), ("upLimit", "upload_limit")):
        if r.get(qbt_name):
            value = int(_float(r.get(qbt_name)))
            options[name] = max(0, min(value, 2**31 - 1))
    return options


async def logout(r: Request) -> Reply:
    return None  # the session ends once answered (QbtApp)


ENDPOINTS: dict[str, Endpoint] = {
    "auth/logout": logout,
    "torrents/add": add,
    "torrents/delete": delete,
    "torrents/pause": pause,
    "torrents/stop": pause,
    "torrents/resume": resume,
    "torrents/start": resume,
    "torrents/recheck": recheck,
    "torrents/reannounce": reannounce,
    "torrents/setShareLimits": set_share_limits,
    "torrents/topPrio": top_prio,
    "torrents/bottomPrio": bottom_prio,
    "torrents/setCategory": set_category,
    "torrents/createCategory": create_category,
    "torrents/removeCategories": remove_categories,
    "torrents/addTags": add_tags,
    "torrents/removeTags": remove_tags,
    "torrents/createTags": create_tags,
    "torrents/deleteTags": delete_tags,
}
