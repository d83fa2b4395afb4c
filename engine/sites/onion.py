"""Switching an owned site's onion service on or off, and its client keys (sites thread).

The choice is kept in the site's ``site.json`` (``onion``, ``onion_clients``), so it
survives restarts; the sites thread hands the resulting set to the tor thread
(:meth:`engine.sites.service.SitesService.push_onions`).
"""

from __future__ import annotations

import re

from ..config import Config
from ..errors import SiteError, TidegateError
from ..tor.control import check_client_key, client_auth_keypair, client_auth_line
from .registry import Registry, SiteRecord

MAX_CLIENTS = 64
_CLIENT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def set_onion(registry: Registry, config: Config, site: str, enabled: bool | None,
              add_client: str, client_key: str, remove_client: str
              ) -> tuple[SiteRecord, str]:
    """Apply one ``site_onion`` command; returns the site and, for a client key made
    here, the line its user needs (else "")."""
    rec = registry.resolve(site)
    if not rec.owner:
        raise SiteError(site, "only the site's owner (who holds its key) can publish it "
                              "as an onion service")
    if config.tor.mode == "clearnet" and (enabled or add_client):
        raise SiteError(site, 'onion services need tor: set [tor] mode = "tor-hosting" '
                              '(or "tor-all") in the configuration (now "clearnet")')
    line = ""
    clients = dict(rec.onion_clients)
    if remove_client:
        if remove_client not in clients:
            raise SiteError(site, f"no onion client named {remove_client!r} (clients: "
                                  f"{', '.join(sorted(clients)) or 'none'})")
        del clients[remove_client]
    if add_client:
        if not _CLIENT_NAME.fullmatch(add_client):
            raise SiteError(site, f"onion client name {add_client!r}: 1 to 64 letters, "
                                  "digits, '.', '_' or '-'")
        if add_client in clients:
            raise SiteError(site, f"an onion client named {add_client!r} exists; remove "
                                  "it first")
        if len(clients) >= MAX_CLIENTS:
            raise SiteError(site, f"at most {MAX_CLIENTS} onion clients")
        if client_key:
            try:
                public = check_client_key(client_key)
            except TidegateError as exc:
                raise SiteError(site, f"client key for {add_client!r}: {exc}") from None
        else:
            public, private = client_auth_keypair()
            line = client_auth_line(rec.address, private)
        clients[add_client] = public
    elif client_key:
        raise SiteError(site, "a client key needs a client name (--add-client NAME)")
    rec.onion_clients = clients
    if enabled is not None:
        rec.onion = enabled
    rec.save()
    return rec, line
