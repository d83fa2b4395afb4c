"""Tor for site hosting: a managed tor process, its control port, and our onion services.

- :mod:`.keys`: a site seed as the key ``ADD_ONION`` takes, and the onion address it gives.
- :mod:`.launch`: find the tor binary; start and stop a tor of our own (:class:`ManagedTor`).
- :mod:`.control`: a time-bounded control connection (:class:`TorControl`), client-auth keys.
- :mod:`.onions`: keep a set of onion services published across reconnects
  (:class:`OnionPublisher`).
"""

from __future__ import annotations

from .control import (
    TorControl,
    check_address,
    check_client_key,
    check_target,
    client_auth_keypair,
    client_auth_line,
)
from .keys import expanded_key, onion_address, onion_key_blob
from .launch import ManagedTor, find_tor, hash_control_password
from .onions import OnionPublisher, OnionStatus

__all__ = [
    "ManagedTor",
    "OnionPublisher",
    "OnionStatus",
    "TorControl",
    "check_address",
    "check_client_key",
    "check_target",
    "client_auth_keypair",
    "client_auth_line",
    "expanded_key",
    "find_tor",
    "hash_control_password",
    "onion_address",
    "onion_key_blob",
]
