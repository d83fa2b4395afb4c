"""Which files of a site changed when the snapshot it is served from changed.

Compares two :class:`~.served.ServedSite` values of one site by their manifests: a path
is changed when it is new or its pieces root (its content hash) or size differs, removed
when the newer manifest no longer names it; the snapshot's own ``.tidegate/`` files are
left out. Pure: the sites thread turns the result into
:class:`~engine.events.SiteChanged` events (:meth:`.service.SitesService._publish`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .served import ServedSite
from .snapshot import RESERVED

OWN = RESERVED + "/"
"""A snapshot's own files (``.tidegate/chain``, new in every snapshot): not the site's
content, never listed as changed (nor by ``site_files``)."""


@dataclass(frozen=True, slots=True)
class SiteDiff:
    site: ServedSite
    changed: list[str]
    removed: list[str]
    truncated: bool


def diff_files(old: ServedSite | None, new: ServedSite, limit: int) -> SiteDiff:
    """``new``'s files that are new or differ from ``old``'s, and ``old``'s gone from
    ``new`` (sorted, at most ``limit`` of each; ``truncated`` when there were more)."""
    before = old.files if old is not None else {}
    changed = sorted(p for p, f in new.files.items() if not p.startswith(OWN) and
                     ((o := before.get(p)) is None or o.root != f.root or o.size != f.size))
    removed = sorted(p for p in before if p not in new.files and not p.startswith(OWN))
    truncated = len(changed) > limit or len(removed) > limit
    return SiteDiff(new, changed[:limit], removed[:limit], truncated)


def changed_sites(old: Mapping[str, ServedSite], new: Mapping[str, ServedSite],
                  limit: int) -> list[SiteDiff]:
    """Every site whose served snapshot is another one in ``new`` than in ``old`` (a site
    served for the first time is compared with nothing: every file is new)."""
    out = []
    for address, site in new.items():
        before = old.get(address)
        if before is not None and before.seq == site.seq:
            continue
        out.append(diff_files(before, site, limit))
    return out
