"""The sites view's cells and detail panel: what a :class:`SiteState` looks like on screen.

Pure functions of a site (and the snapshot's time): no widgets. Names, folders and errors
are hostile text: they go through :func:`engine.safetext.clean` and are drawn as
:class:`rich.text.Text`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from rich.text import Text

from tidegate.engine import units
from tidegate.engine.safetext import clean
from tidegate.engine.state import SiteState, TorState, WebState

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
