"""Per-site signed chains: identity, entries, verification, the judgement of announced
heads and the chain file format. Sans-IO apart from the key file (:mod:`.keys`); the chain
file itself is read and written by ``engine.sites.chain_file``. The format is specified in
docs/chain.md."""

from .address import address_of, key_of_address
from .entry import FileRecord, Genesis, Update, decode_entry, entry_hash, sign_genesis, sign_update
from .errors import ChainRejected
from .keys import SiteKey
from .verify import Chain

__all__ = [
    "Chain", "ChainRejected", "FileRecord", "Genesis", "SiteKey", "Update",
    "address_of", "decode_entry", "entry_hash", "key_of_address", "sign_genesis", "sign_update",
]
