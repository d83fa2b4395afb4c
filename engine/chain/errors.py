"""Why an entry, a chain file or an address was refused."""

from __future__ import annotations

from ..errors import TidegateError

REASONS = frozenset({
    "too_large", "bad_encoding", "not_canonical", "bad_field", "bad_signature", "wrong_key",
    "seq_gap", "rollback", "bad_prev", "time_backwards", "time_future", "bad_manifest",
    "equivocation", "bad_address", "corrupt_store",
})


class ChainRejected(TidegateError):
    """An entry (or chain file, or address) that must not be stored or acted on.

    ``reason`` is one of :data:`REASONS`, stable for programs; the message says what was
    wrong and where, for people.
    """

    def __init__(self, reason: str, message: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {message}")
        self.reason = reason
