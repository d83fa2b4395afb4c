"""Known hybrid-torrent faults of the Debian 12 clients, checked rather than skipped.

Neither transmission 3.00 nor aria2 1.36 can take part in a hybrid (BEP 52 v1+v2) swarm.
For these versions the tests assert the fault itself, so a client upgrade that fixes it
fails the test and says to turn the transfer on; any other version runs the transfer.
"""

from __future__ import annotations

import hashlib

import fastbencode

# the version prefixes whose hybrid fault is asserted
TRANSMISSION_NO_HYBRID = ("2.", "3.")
ARIA2_WRONG_HYBRID_HASH = ("1.35.", "1.36.")


def _drop_empty_keys(value: object) -> object:
    if isinstance(value, dict):
        return {k: _drop_empty_keys(v) for k, v in value.items() if k != b""}
    return value


def aria2_hybrid_hash(torrent: bytes) -> str:
    """The info-hash aria2 1.36 computes for a v2/hybrid torrent: it re-encodes the info
    dict and loses every entry whose key is empty, i.e. each file's ``{"": {length,
    pieces root}}`` leaf of BEP 52's ``file tree``; the SHA-1 of what is left."""
    info = fastbencode.bdecode(torrent)[b"info"]
    return hashlib.sha1(fastbencode.bencode(_drop_empty_keys(info))).hexdigest()
