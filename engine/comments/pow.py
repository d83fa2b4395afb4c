"""NIP-13 proof of work: the event id's leading zero bits, and mining a nonce.

Sans-IO: ``mine`` takes a function that gives the id for a nonce and a bound on tries,
so it never loops for ever.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_DIFFICULTY = 32
"""The most bits a node may ask for (mining 32 bits takes hours in Python)."""


def leading_zero_bits(digest: bytes) -> int:
    """Leading zero bits of ``digest`` (NIP-13's difficulty of an event id)."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


class WorkNotFound(RuntimeError):
    """No nonce reached the target within the tries allowed."""


def mine(id_for: Callable[[int], bytes], target: int, *, max_tries: int = 1 << 40,
         start: int = 0) -> tuple[int, bytes]:
    """The first nonce from ``start`` whose id (``id_for(nonce)``) has ``target`` leading
    zero bits, and that id; raises :class:`WorkNotFound` after ``max_tries``."""
    if not 0 <= target <= 256:
        raise ValueError(f"difficulty {target} is outside 0..256")
    limit = 1 << (256 - target)
    nonce = start
    for nonce in range(start, start + max_tries):
        digest = id_for(nonce)
        if int.from_bytes(digest, "big") < limit:
            return nonce, digest
    raise WorkNotFound(f"no nonce reached {target} bits in {max_tries} tries")
