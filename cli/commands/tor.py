"""Tor from the command line: ``tidegate tor`` (the network mode, the connection to tor
and every onion service) and ``tidegate site onion`` (switch a site's onion service on or
off, allow or remove clients)."""

from __future__ import annotations

import argparse
import json

import msgspec

from tidegate.engine import commands as cmds
from tidegate.engine.state import OnionState, TorState

from ..console import clean, note, out
from ..remote import add_connect_options, connect

MODES = {
    "clearnet": "tor is not used",
    "tor-hosting": "sites can be onion services; the swarm is in the clear",
    "tor-all": "every peer and tracker connection goes through tor; no DHT, uTP, LSD, UPnP",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tor", help="the network mode, tor, and the sites' onion services")
    p.add_argument("--json", action="store_true", help="print every field as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_tor)


def register_site_onion(ss: argparse._SubParsersAction) -> None:
    """``tidegate site onion`` (registered by the ``site`` command)."""
    p = ss.add_parser("onion", help="publish an owned site as a Tor onion service (its "
                                    "address is the site address), or stop; client keys",
                      description="Needs [tor] mode = \"tor-hosting\" or \"tor-all\". The "
                                  "choice is kept across restarts.")
    p.add_argument("site", metavar="NAME|ADDRESS")
    p.add_argument("switch", nargs="?", choices=("on", "off"),
                   help="switch the onion service on or off (default: leave it)")
    p.add_argument("--add-client", metavar="CLIENT",
                   help="allow only named clients: add one (a key pair is made and its "
                        "private line printed once, unless --key is given)")
    p.add_argument("--key", metavar="X25519_PUBLIC",
                   help="with --add-client: the client's own base32 public key")
    p.add_argument("--remove-client", metavar="CLIENT", help="remove a client")
    p.add_argument("--json", action="store_true", help="print the reply as JSON")
    add_connect_options(p)
    p.set_defaults(run=run_site_onion)


def onion_line(o: OnionState | None) -> str:
    return clean(o.describe()) if o is not None else "not published"


def run_tor(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        snap = client.snapshot
    finally:
        client.stop()
    tor: TorState = snap.tor
    if args.json:
        print(json.dumps(msgspec.to_builtins(tor), indent=2))
        return 0
    print(f"mode        {tor.mode}: {MODES.get(tor.mode, '')}")
    if tor.mode == "clearnet":
        return 0
    where = "managed by tidegate" if tor.control == "managed" else clean(tor.control)
    state = "connected" if tor.connected else "not connected"
    print(f"tor         {where}, {state}" + (f", tor {clean(tor.version)}" if tor.version else "")
          + (f", pid {tor.pid}" if tor.pid else ""))
    if tor.socks:
        print(f"SOCKS       {tor.socks} (every peer and tracker connection)")
    if tor.error:
        print(f"error       {clean(tor.error)}")
    names = {a: s.name for a, s in snap.sites.items()}
    for address, o in sorted(tor.onions.items()):
        print(f"onion       {clean(names.get(address, ''))} http://{address}/ "
              f"{onion_line(o)}")
    if not tor.onions:
        note("no onion services: `tidegate site onion NAME on` publishes one")
    return 0


def run_site_onion(args: argparse.Namespace) -> int:
    enabled = None if args.switch is None else args.switch == "on"
    client = connect(args)
    try:
        reply = client.run(cmds.SiteOnion(args.site, enabled, args.add_client or "",
                                          args.key or "", args.remove_client or "")).result()
    finally:
        client.stop()
    if args.json:
        print(json.dumps(msgspec.to_builtins(reply), indent=2))
        return 0
    s = reply.site
    out.print(f"onion   {'on' if s.onion else 'off'}: http://{s.address}/", markup=False)
    if s.onion_clients:
        out.print("clients " + ", ".join(clean(c) for c in s.onion_clients), markup=False)
    if reply.auth_line:
        note(f"give this line to {clean(args.add_client)}, for a file ending in "
             ".auth_private in their tor's ClientOnionAuthDir (Tor Browser: paste the key "
             "when asked). It is shown only now:")
        print(reply.auth_line)
    if s.onion:
        note("`tidegate tor` shows when the service is reachable")
    return 0
