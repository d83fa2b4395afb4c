"""Per-site signed chains (sans-IO apart from the chain file): identity, entries,
verification and append-only storage. The format is specified in docs/chain.md."""

from .address import address_of, key_of_address
from .entry import FileRecord, Genesis, Update, decode_entry, entry_hash, sign_genesis, sign_update
from .errors import ChainRejected
from .keys import SiteKey
from .store import ChainStore
from .verify import Chain

__all__ = [
    "Chain", "ChainRejected", "ChainStore", "FileRecord", "Genesis", "SiteKey", "Update",
    "address_of", "decode_entry", "entry_hash", "key_of_address", "sign_genesis", "sign_update",
]
