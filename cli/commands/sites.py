"""``tidegate site ...``: publish and follow sites through the running daemon.

``new``, ``publish``, ``follow``, ``unfollow``, ``check``, ``ls``, ``log`` and
``verify``. A site is named by its name or its address (any spelling the engine
accepts); the daemon resolves it, so an unknown one is the daemon's error, naming it.
Folders are resolved here, against this shell's working folder, before they are sent.
Site names, errors and manifest paths come from strangers (followed sites): every one
goes through :func:`clean` before it reaches the terminal.
"""

from __future__ import annotations

import argparse
import re
import shlex
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tidegate.engine import commands as cmds
from tidegate.engine.errors import InputError
from tidegate.engine.events import SiteProgress
from tidegate.engine.state import SiteState, WebState

from ..console import clean, err, note, out, print_json
from ..remote import add_connect_options, connect, local_folder
from ..tables import KEEP_ALWAYS, Column, print_table
from .site_chain import run_log, run_verify

_ONION_LABEL = re.compile(r"[a-z2-7]{55}d")

if TYPE_CHECKING:
    from rich.text import Text

    from tidegate.engine.api import RemoteEngine


def register(sub: argparse._SubParsersAction) -> None:
    site = sub.add_parser("site", help="publish and follow sites (through the running daemon)",
                          description="Sites are named by NAME (as given to `site new`, or "
                                      "from a followed site's genesis) or by ADDRESS "
                                      "(<56 base32>.onion).")
    ss = site.add_subparsers(dest="site_command", metavar="SUBCOMMAND", required=True)

    p = ss.add_parser("new", help="create a site: a new key and its genesis")
    p.add_argument("name", metavar="NAME")
    p.add_argument("folder", nargs="?", metavar="DIR", help="the folder it publishes "
                   "(remembered; can be given to `publish` instead)")
    p.add_argument("--json", action="store_true", help="print the new site as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_new)

    p = ss.add_parser("import", help="own a site again from a backup of its key file (its "
                                     "chain is recovered from the DHT first)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("key_file", metavar="KEYFILE", help="the site's key file (sites/ADDRESS/key)")
    p.add_argument("folder", nargs="?", metavar="DIR", help="the folder it publishes")
    p.add_argument("--json", action="store_true", help="print the site as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_import)

    p = ss.add_parser("publish", help="snapshot the site's folder and announce the new head")
    p.add_argument("site", metavar="NAME|ADDRESS")
    p.add_argument("folder", nargs="?", metavar="DIR",
                   help="publish this folder (remembered; default: the last one)")
    p.add_argument("--onion", action="store_true",
                   help="also publish it as a Tor onion service (kept on; needs [tor] mode "
                        "tor-hosting or tor-all)")
    p.add_argument("--json", action="store_true", help="print the site after publishing as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_publish)

    p = ss.add_parser("follow", help="follow a site by address or BEP 46 link "
                                     "(magnet:?xs=urn:btpk:...): fetch, verify and seed it")
    p.add_argument("address", metavar="ADDRESS|MAGNET")
    p.add_argument("--json", action="store_true", help="print the followed site as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_follow)

    p = ss.add_parser("unfollow", help="stop following (or hosting) a site")
    p.add_argument("site", metavar="NAME|ADDRESS")
    p.add_argument("--delete-data", action="store_true",
                   help="also delete its chain and snapshots (refused for owned sites)")
    add_connect_options(p)
    p.set_defaults(run=run_unfollow)

    p = ss.add_parser("check", help="look the site's head up in the DHT now")
    p.add_argument("site", metavar="NAME|ADDRESS")
    add_connect_options(p)
    p.set_defaults(run=run_check)

    p = ss.add_parser("ls", help="list published and followed sites")
    p.add_argument("--json", action="store_true", help="print every field as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_ls)

    p = ss.add_parser("log", help="the site's verified chain, from genesis")
    p.add_argument("site", metavar="NAME|ADDRESS")
    p.add_argument("--json", action="store_true", help="print every entry as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_log)

    p = ss.add_parser("url", help="the site's address in a browser, through the Smart Proxy")
    p.add_argument("site", metavar="NAME|ADDRESS")
    p.add_argument("--onion", action="store_true",
                   help="the onion address instead (through the proxy's PAC file, or Tor)")
    p.add_argument("--magnet", action="store_true", help="the BEP 46 link instead")
    add_connect_options(p)
    p.set_defaults(run=run_url)

    from .tor import register_site_onion

    register_site_onion(ss)

    p = ss.add_parser("verify", help="verify the chain and the hosted snapshot's files "
                                     "(exit 1 on any problem)")
    p.add_argument("site", metavar="NAME|ADDRESS")
    p.add_argument("--rebuild", metavar="DIR",
                   help="also rebuild the head's snapshot from this source folder and compare")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_verify)


def _address_of(sites: Mapping[str, SiteState], ref: str) -> str | None:
    """The address of the site ``ref`` names in ``sites``, if it names exactly one.

    Only used to pick this site's progress events; the daemon resolves for real."""
    text = ref.strip()
    lowered = text.lower()
    if "://" in lowered:
        lowered = lowered.split("://", 1)[1].split("/", 1)[0]
    address = lowered if lowered.endswith(".onion") else lowered + ".onion"
    if address in sites:
        return address
    named = [s.address for s in sites.values() if s.name == text]
    return named[0] if len(named) == 1 else None


# ---------------------------------------------------------------- new, publish, follow, ...


def run_new(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        state = client.run(cmds.SiteNew(args.name, local_folder(args.folder))).result()
    finally:
        client.stop()
    if args.json:
        print_json(state)
        return 0
    out.print(state.address, markup=False)
    name = _arg(state.name)
    how = f"tidegate site publish {name}" + ("" if state.source else " DIR")
    note(f"created {clean(state.name)} (height 0). Publish its folder with `{how}`; "
         "the address is its identity: keep its key (in the daemon's data folder) safe.")
    return 0


def run_import(args: argparse.Namespace) -> int:
    try:
        text = Path(args.key_file).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(args.key_file, f"cannot read the key file: {exc}") from None
    client = connect(args)
    try:
        state = client.run(cmds.SiteImport(args.name, text, local_folder(args.folder))).result()
    finally:
        client.stop()
    if args.json:
        print_json(state)
        return 0
    out.print(state.address, markup=False)
    note(f"{clean(state.name)} is owned here again. Its chain is looked up in the DHT; "
         "publish once `tidegate site ls` shows its height.")
    return 0


def _arg(name: str) -> str:
    """``name`` quoted for a shell when it needs it (for hints only)."""
    return shlex.quote(clean(name))


def run_publish(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        sites = client.snapshot.sites
        address = _address_of(sites, args.site)
        before = sites[address].height if address else None
        if args.onion:  # refused before anything is published if tor is off
            client.run(cmds.SiteOnion(args.site, True)).result()
        state = _publish(client, args.site, local_folder(args.folder), address)
    finally:
        client.stop()
    if args.json:
        print_json(state)
        return 0
    out.print(f"height {state.height}\nhead   {state.head}", markup=False)
    if before is not None and state.height == before:
        note(f"{clean(state.name)}: nothing changed since height {before}; the head was "
             "announced again")
    else:
        note(f"published {clean(state.name)} at height {state.height} ({state.address})")
    if args.onion:
        note(f"onion service on: http://{state.address}/ (`tidegate tor` shows when it is "
             "reachable)")
    return 0


def _publish(client: RemoteEngine, site: str, folder: str | None,
             address: str | None) -> SiteState:
    """``site_publish``, with a progress bar on stderr (a terminal only) fed by the
    daemon's :class:`SiteProgress` events for this site."""
    if not err.is_terminal:
        return client.run(cmds.SitePublish(site, folder)).result()
    # imported here: rich.progress costs start-up time the other commands need not pay
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    stream = client.subscribe()
    try:
        columns = [TextColumn("publishing: {task.description}"), BarColumn(),
                   DownloadColumn(binary_units=True), TransferSpeedColumn(),
                   TimeRemainingColumn()]
        with Progress(*columns, console=err.console, transient=True, refresh_per_second=4) as bar:
            task = bar.add_task("copying the folder", total=None)
            fut = client.run(cmds.SitePublish(site, folder))
            while not fut.done():
                event = stream.get(timeout=0.1)
                if isinstance(event, SiteProgress) and address in (None, event.address):
                    bar.update(task, description="hashing", completed=event.done,
                               total=event.total)
            return fut.result()
    except KeyboardInterrupt:
        note("the daemon goes on publishing; `tidegate site ls` shows the result")
        raise
    finally:
        client.unsubscribe(stream)


def run_follow(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        state = client.run(cmds.SiteFollow(args.address)).result()
    finally:
        client.stop()
    if args.json:
        print_json(state)
        return 0
    out.print(state.address, markup=False)
    if state.owner:
        note(f"{clean(state.name)} is owned here: it is already hosted")
    else:
        note("following: its head is looked up in the DHT, then its chain and snapshot are "
             "fetched and verified (watch `tidegate site ls`)")
    return 0


def run_unfollow(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        client.run(cmds.SiteUnfollow(args.site, args.delete_data)).result()
    finally:
        client.stop()
    note(f"unfollowed {clean(args.site)}" + (" and deleted its data" if args.delete_data
                                              else ""))
    return 0


def run_check(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        client.run(cmds.SiteCheck(args.site)).result()
        sites = client.snapshot.sites
        address = _address_of(sites, args.site)
    finally:
        client.stop()
    if address is not None and sites[address].owner:
        note(f"{clean(sites[address].name)} is owned here: its head is announced, not looked "
             "up (again every sites.announce_interval, and on each publish)")
    else:
        note(f"looking up the head of {clean(args.site)} now (see `tidegate site ls`)")
    return 0


def run_url(args: argparse.Namespace) -> int:
    from .web import proxy_url, site_url

    client = connect(args)
    try:
        snap = client.snapshot
    finally:
        client.stop()
    address = _address_of(snap.sites, args.site)
    if address is None:
        visit = _visit_url(snap.web, args.site)
        if visit is None or args.onion:
            raise InputError(args.site, "no such site here: follow it first, or see "
                                        "`tidegate site ls`")
        print(visit)
        note("not followed here: opening this link makes this node follow the site "
             "(fetch, verify and seed it); it carries your proxy token, keep it to yourself")
        return 0
    if args.onion or args.magnet:  # the BEP 46 link: magnet:?xs=urn:btpk:<key hex>
        print(snap.sites[address].magnet if args.magnet else f"http://{address}/")
        return 0
    proxy_url(snap.web)
    print(site_url(snap.web, address))
    if snap.sites[address].hosting.seq < 0:
        note("its snapshot is not here yet: the page waits for it (web.visit_timeout)")
    return 0


def _visit_url(web: WebState, ref: str) -> str | None:
    """The proxy's visit link for a valid site address not followed here (None if
    ``ref`` is no address)."""
    from .web import proxy_url

    label = ref.strip().lower().removeprefix("http://").rstrip("/").removesuffix(".onion")
    if not _ONION_LABEL.fullmatch(label):  # the proxy checks the checksum (404)
        return None
    return f"{proxy_url(web)}visit/{web.token}/{label}.onion/"


# ---------------------------------------------------------------- ls


def age(seconds: float) -> str:
    """A short human age: ``12 s``, ``5 min``, ``3 h``, ``2 d``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def ordered_sites(sites: Iterable[SiteState]) -> list[SiteState]:
    return sorted(sites, key=lambda s: (s.name, s.address))


def run_ls(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        sites = ordered_sites(client.run(cmds.SiteList()).result())
    finally:
        client.stop()
    if args.json:
        print_json(sites)
        return 0
    if not sites:
        note("no sites (create one with `tidegate site new NAME DIR`, or follow one with "
             "`tidegate site follow ADDRESS`)")
        return 0
    from rich.text import Text

    now = time.time()
    print_table(SITE_COLUMNS, [
        (Text(clean(s.name) or "-"), s.address, "owner" if s.owner else "follower",
         str(s.height) if s.height >= 0 else "-",
         age(now - s.head_time) if s.head_time else "-",
         _announced(s, now), str(s.hosting.seq) if s.hosting.seq >= 0 else "-", _progress(s),
         str(s.hosting.peers), str(s.links), Text(_errors(s), style="red")) for s in sites])
    for s in sites:
        for handler in s.handlers:  # programs' leased paths (docs/program-api.md)
            out.print(f"{clean(s.name) or s.address}: handler {clean(handler)} (dynamic, "
                      "not verified)", markup=False, highlight=False)
        if s.equivocating:
            err.print(Text(f"WARNING: {clean(s.name) or s.address} ({s.address}) is "
                           "EQUIVOCATING: its key signed two different entries for one seq. "
                           "Nothing more is accepted from it; its owner's key may be stolen.",
                           style="bold red"))
    return 0


SITE_COLUMNS = (
    Column("Name", KEEP_ALWAYS, wrap=True, min_width=16), Column("Address", 80), Column("Role", 30),
    Column("Height", 70, "right"), Column("Age", 40, "right"), Column("Announced", 60),
    Column("Hosted", 50, "right"), Column("Progress", 65, "right"),
    Column("Peers", 35, "right"), Column("Links", 33, "right"),
    Column("Error", 90, wrap=True, min_width=16),
)
"""``tidegate site ls``: Name, Error and Address are the last to go (at 80 columns an
address, 62 characters, leaves room for little else)."""


def _announced(s: SiteState, now: float) -> Text | str:
    """The highest head seen announced; for an owned site, where its last put landed
    (``3, 8 nodes 2 min ago``; yellow when it landed nowhere)."""
    from rich.text import Text

    if s.equivocating:
        return Text("EQUIVOCATING", style="bold red reverse")
    if s.owner and s.height >= 0:
        head, n, when = max(s.announced, s.height), s.stored_nodes, age(now - s.stored_at)
        return Text(f"{head}, {n} node{'s' * (n > 1)} {when} ago") if n else \
            Text(f"{head}, 0 nodes (stored {when} ago)" if s.stored_at else
                 f"{head}, not stored yet", style="yellow")
    if s.announced < 0:
        return "-"
    if s.announced > s.height:
        return Text(f"{s.announced} (behind)", style="yellow")
    if s.reput_at:  # this follower puts the owner's head back (docs/sites.md)
        n = s.reput_nodes
        return f"{s.announced}, re-put on {n} node{'s' * (n != 1)} {age(now - s.reput_at)} ago"
    return str(s.announced)


def _progress(s: SiteState) -> str:
    h = s.hosting
    if h.fetching >= 0:
        return f"{h.progress:.0%} of {h.fetching}"
    return "100%" if h.seq >= 0 else "-"


def _errors(s: SiteState) -> str:
    parts = [s.error] + ([f"hosting: {s.hosting.error}"] if s.hosting.error else [])
    return clean("; ".join(p for p in parts if p))


# ---------------------------------------------------------------- log
