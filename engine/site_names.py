"""Naming a held site by its address (with or without ``.onion``, any case) or its name,
for code that has a snapshot's ``sites`` and not the sites thread's registry."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import SiteError, UnknownSiteError
from .state import SiteState


def resolve(sites: Mapping[str, SiteState], site: str) -> str:
    """The address of the held site ``site`` names; UnknownSiteError or SiteError (a name
    several sites have)."""
    text = site.strip().lower()
    address = text if text.endswith(".onion") else text + ".onion"
    if address in sites:
        return address
    named = [a for a, s in sites.items() if s.name == site.strip()]
    if len(named) == 1:
        return named[0]
    if named:
        raise SiteError(site, "several sites have this name; use an address")
    raise UnknownSiteError(site)
