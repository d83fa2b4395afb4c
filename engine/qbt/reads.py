"""The endpoints that only read: app, transfer, sync and the torrents' lists and details."""

from __future__ import annotations

from typing import Any

from .. import commands as cmds
from ..state import TorrentDetails, TorrentState
from . import mapping
from .app import ApiError, Endpoint, Reply, Request, now


async def version(r: Request) -> Reply:
    return mapping.APP_VERSION


async def webapi_version(r: Request) -> Reply:
    return mapping.API_VERSION


async def build_info(r: Request) -> Reply:
    import libtorrent  # the engine has it loaded already
    return {"qt": "", "libtorrent": libtorrent.__version__, "boost": "", "openssl": "",
            "zlib": "", "bitness": 64}


async def preferences(r: Request) -> Reply:
    stats = r.app.host.snapshot.stats
    return mapping.preferences(r.app.config, r.app.default_save_path, stats.listen_port)


async def default_save_path(r: Request) -> Reply:
    return r.app.default_save_path


async def transfer_info(r: Request) -> Reply:
    return mapping.transfer_info(r.app.host.snapshot.stats)


async def categories(r: Request) -> Reply:
    return mapping.categories(r.app.host.snapshot.categories)


def all_tags(r: Request) -> list[str]:
    found = set(r.app.created_tags)
    for t in r.app.torrents():
        found.update(mapping.tags_of(t))
    return sorted(found)


async def tags(r: Request) -> Reply:
    return all_tags(r)


FILTERS = {
    "all": lambda t, s: True,
    "downloading": lambda t, s: s in ("downloading", "metaDL", "stalledDL", "checkingDL",
                                      "pausedDL", "queuedDL", "forcedDL"),
    "seeding": lambda t, s: s in ("uploading", "stalledUP", "checkingUP", "queuedUP",
                                  "forcedUP"),
    "completed": lambda t, s: s in ("uploading", "stalledUP", "checkingUP", "pausedUP",
                                    "queuedUP", "forcedUP"),
    "paused": lambda t, s: s in ("pausedDL", "pausedUP"),
    "resumed": lambda t, s: s not in ("pausedDL", "pausedUP"),
    "active": lambda t, s: t.download_rate > 0 or t.upload_rate > 0,
    "inactive": lambda t, s: not (t.download_rate > 0 or t.upload_rate > 0),
    "stalled": lambda t, s: s in ("stalledUP", "stalledDL"),
    "stalled_uploading": lambda t, s: s == "stalledUP",
    "stalled_downloading": lambda t, s: s == "stalledDL",
    "checking": lambda t, s: s in ("checkingUP", "checkingDL", "checkingResumeData"),
    "moving": lambda t, s: s == "moving",
    "errored": lambda t, s: s in ("error", "missingFiles"),
}
FILTERS["stopped"] = FILTERS["paused"]
FILTERS["running"] = FILTERS["resumed"]


def _number(text: str, default: int) -> int:
    try:
        return int(text) if text.strip() else default
    except ValueError:
        raise ApiError(400) from None


async def torrents_info(r: Request) -> Reply:
    """``torrents/info``: filter, category, tag, hashes, sort, reverse, limit, offset."""
    wanted = FILTERS.get(r.get("filter"), FILTERS["all"])  # an unknown one: all, as 4.5
    chosen: list[TorrentState] = (r.app.select(r.get("hashes")) if "hashes" in r.params
                                  else r.app.torrents())
    if "category" in r.params:
        chosen = [t for t in chosen if mapping.category_of(t) == r.params["category"]]
    if "tag" in r.params:
        tag = r.params["tag"]
        chosen = [t for t in chosen if (tag in mapping.tags_of(t) if tag
                                        else not mapping.tags_of(t))]
    cfg = r.app.config
    out = []
    for t in chosen:
        d = mapping.torrent_info(t, cfg)
        if wanted(t, d["state"]):
            out.append(d)
    key = r.get("sort")
    if key:
        out.sort(key=lambda d: (d.get(key) is None, _sortable(d.get(key))),
                 reverse=r.flag("reverse"))
    offset = _number(r.get("offset"), 0)
    if offset < 0:
        offset = max(0, len(out) + offset)
    limit = _number(r.get("limit"), 0)
    out = out[offset:offset + limit] if limit > 0 else out[offset:]
    return out


def _sortable(value: Any) -> Any:
    return value if isinstance(value, int | float | str) else str(value)


async def details(r: Request) -> TorrentDetails:
    t = r.app.find(r.need("hash"))
    result: TorrentDetails = await r.app.call(cmds.Details(t.id))
    return result


async def properties(r: Request) -> Reply:
    return mapping.properties(await details(r), now())


async def files(r: Request) -> Reply:
    return mapping.files(await details(r))


async def trackers(r: Request) -> Reply:
    return mapping.trackers(await details(r), r.app.config)


async def maindata(r: Request) -> Reply:
    snap = r.app.host.snapshot
    cfg = r.app.config
    mine = r.app.torrents()
    torrents = {}
    for t in mine:
        d = mapping.torrent_info(t, cfg)
        torrents[d.pop("hash")] = d
    return r.app.sync.maindata(
        r.sid, _number(r.get("rid"), 0), torrents,
        mapping.categories(snap.categories), all_tags(r),
        mapping.server_state(snap.stats, mine, cfg))


ENDPOINTS: dict[str, Endpoint] = {
    "app/version": version,
    "app/webapiVersion": webapi_version,
    "app/buildInfo": build_info,
    "app/preferences": preferences,
    "app/defaultSavePath": default_save_path,
    "transfer/info": transfer_info,
    "sync/maindata": maindata,
    "torrents/info": torrents_info,
    "torrents/properties": properties,
    "torrents/files": files,
    "torrents/trackers": trackers,
    "torrents/categories": categories,
    "torrents/tags": tags,
}
