"""Where each site lives in the data folder, and what is remembered about it.

One folder per site, named by its address::

    sites/<address>/
        site.json          name, owner, source folder, highest announced head, when
                           the owner's head was last stored in the DHT, a follower's held
                           signed items and last re-put (written atomically)
        key                the site's ed25519 seed, 0600 (owned sites only)
        chain              the verified chain (ChainStore: append-only, fsynced)
        heads/<n>/chain    the chain torrent's file for height n (seeded)
        snapshots/<n>/     snapshot n's files (under site/), seeded by Hosting
        snapshots/<n>.torrent   snapshot n's metainfo, when made here
        hosting.json       which snapshots Hosting keeps, and their torrent ids

A folder whose ``site.json`` is unreadable is reported and left alone, never deleted.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..chain import SiteKey
from ..chain.address import address_of, key_of_address
from ..chain.bep44 import SignedItem
from ..chain.entry import Update
from ..chain.errors import ChainRejected
from ..durable import sync_folder, write_synced
from ..errors import SiteError, UnknownSiteError
from ..paths import private_dir
from .chain_file import ChainStore

MAX_NAME = 256
BEP46_SALT = b""
"""BEP 46's item (``{"ih": ...}``) is under the site key with no salt."""
BTPK = "magnet:?xs=urn:btpk:"


@dataclass
class SiteRecord:
    """One site as the Blockchain Handler holds it (sites thread only)."""

    folder: Path
    address: str
    name: str
    owner: bool
    source: str
    store: ChainStore
    announced: int = -1
    checked: float = 0.0
    error: str = ""
    next_poll: float = 0.0
    next_announce: float = 0.0
    head_torrent: str = ""
    """Id of the chain torrent seeded for the current height."""
    fetch: Any = None
    """The chain download in progress (:class:`engine.sites.chain_torrent.Fetch`)."""
    polling: bool = False
    """A DHT lookup of the head is under way."""
    putting: bool = False
    """A DHT put of the head is under way (puts of one key must not overlap)."""
    next_put: Any = None
    """``(key, head)`` to put once the current put ends."""
    damage_note: str = ""
    """What the owner is told while the chain file holds a damaged record (shown as the
    site's error until the chain is recovered)."""
    onion: bool = False
    """Publish this (owned) site as an onion service."""
    onion_clients: dict[str, str] = field(default_factory=dict)
    """Client name -> base32 x25519 public key (v3 client authorisation)."""
    stored_nodes: int = 0
    """Owner: the DHT nodes the last finished put of the head stored it on (0: it landed
    nowhere, or no put finished yet)."""
    stored_at: float = 0.0
    """Owner: when a put of the head last stored it on at least one node (unix time, 0
    never; kept in ``site.json``)."""
    put_head: Any = None
    """Owner: the :class:`engine.sites.head.Head` last announced (what a retry puts)."""
    put_failures: int = 0
    """Owner: puts in a row that stored the head on no node (the retry backs off)."""
    next_retry: float = 0.0
    """Owner: when to put the head again after a put that landed nowhere (monotonic,
    0 none)."""
    lookup: str = ""
    """Follower: how the last DHT lookup of the head ended: ``found``, ``not_found`` (the
    DHT answered without the item), ``timed_out`` (nodes were asked, none answered),
    ``unreachable`` (no DHT node), ``""`` not asked."""
    held: dict[bytes, SignedItem] = field(default_factory=dict)
    """Follower: salt -> the newest owner-signed item seen (the head, the BEP 46 item),
    re-put unchanged by :class:`engine.sites.keeper.Keeper`; kept in ``site.json``."""
    reputting: bool = False
    next_reput: float = 0.0
    """Follower: when the held items are put again (monotonic)."""
    reput_at: float = 0.0
    """Follower: when a re-put of the head last stored it on a node (unix time, 0 never)."""
    reput_nodes: int = 0
    """Follower: on how many nodes the last re-put of the head was stored."""

    @property
    def key_path(self) -> Path:
        return self.folder / "key"

    def key(self) -> SiteKey:
        """The site's key; never created here: a lost key is an error, not a new site."""
        if not self.owner:
            raise SiteError(self.name or self.address, "this site is followed here, not "
                            "owned: only the holder of its key can publish")
        if not self.key_path.exists():
            raise SiteError(self.name, f"the key file {self.key_path} is missing. Restore it "
                            "from a backup; a new key would be a different site")
        return SiteKey.load(self.key_path)

    def update_at(self, seq: int) -> Update | None:
        """The verified UPDATE with this seq, if held."""
        entries = self.store.chain.entries
        entry = entries[seq] if 0 <= seq < len(entries) else None
        return entry if isinstance(entry, Update) else None

    def update_naming(self, magnet: str) -> Update | None:
        """The newest verified UPDATE naming the snapshot ``magnet``."""
        for entry in reversed(self.store.chain.entries):
            if isinstance(entry, Update) and entry.magnet == magnet:
                return entry
        return None

    def heads_dir(self, height: int) -> Path:
        return self.folder / "heads" / str(height)

    def snapshot_dir(self, seq: int) -> Path:
        return self.folder / "snapshots" / str(seq)

    def snapshot_torrent(self, seq: int) -> Path:
        return self.folder / "snapshots" / f"{seq}.torrent"

    def save(self) -> None:
        data: dict[str, Any] = {"v": 1, "name": self.name, "owner": self.owner,
                                "source": self.source, "announced": self.announced}
        if self.stored_at:
            data["stored_at"] = self.stored_at
            data["stored_nodes"] = self.stored_nodes
        if self.held or self.reput_at:
            data["held"] = {i.salt.hex(): {"seq": i.seq, "v": i.value.hex(), "sig": i.sig.hex()}
                            for i in self.held.values()}
            data["reput_at"], data["reput_nodes"] = self.reput_at, self.reput_nodes
        if self.onion or self.onion_clients:
            data["onion"] = self.onion
            data["onion_clients"] = dict(self.onion_clients)
        write_synced(self.folder / "site.json", json.dumps(data, indent=1).encode())
        sync_folder(self.folder)


def btpk_magnet(address: str) -> str:
    """The BEP 46 link of a site: its key, no salt (the item holds the newest snapshot)."""
    return BTPK + key_of_address(address).hex()


def check_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean.encode()) > MAX_NAME or any(ord(c) < 0x20 for c in clean):
        raise SiteError(name or "(empty name)", f"a site name is 1 to {MAX_NAME} bytes of "
                        "printable text")
    if clean.endswith(".onion"):
        raise SiteError(name, "a site name must not look like an address")
    return clean


def canonical_address(text: str) -> str | None:
    """The address in canonical spelling, or None if ``text`` is not a valid one."""
    t = text.strip().lower()
    if t.startswith(BTPK):  # BEP 46: magnet:?xs=urn:btpk:<hex key>[&s=...]
        hexkey = t[len(BTPK):].split("&", 1)[0]
        try:
            return address_of(bytes.fromhex(hexkey)) if len(hexkey) == 64 else None
        except ValueError:
            return None
    if t.startswith("http://") or t.startswith("https://"):
        t = t.split("://", 1)[1].split("/", 1)[0]
    if not t.endswith(".onion"):
        t += ".onion"
    try:
        return address_of(key_of_address(t))
    except ChainRejected:
        return None


class Registry:
    """Every site in ``root``, by address."""

    def __init__(self, root: Path):
        self.root = root
        self.sites: dict[str, SiteRecord] = {}
        self.problems: list[str] = []
        """Site folders that could not be opened, and why."""

    def load(self) -> None:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or not folder.name.endswith(".onion"):
                continue
            try:
                self.sites[folder.name] = self._open(folder)
            except (OSError, ValueError, KeyError, ChainRejected) as exc:
                self.problems.append(f"{folder}: {exc}")

    def _open(self, folder: Path) -> SiteRecord:
        address = canonical_address(folder.name)
        if address != folder.name:
            raise ValueError("the folder name is not a site address")
        if not (folder / "site.json").exists():
            raise ValueError("no site.json: a `site new` stopped before it finished (nothing "
                             "was published; its key, if written, is kept here)")
        meta = json.loads((folder / "site.json").read_text())
        store = ChainStore.open(folder / "chain", address)
        rec = SiteRecord(folder, address, str(meta["name"]), bool(meta["owner"]),
                         str(meta.get("source", "")), store)
        rec.announced = int(meta.get("announced", -1))
        rec.stored_at = float(meta.get("stored_at", 0.0))
        rec.stored_nodes = int(meta.get("stored_nodes", 0))
        rec.onion = bool(meta.get("onion", False))
        rec.reput_at = float(meta.get("reput_at", 0.0))
        rec.reput_nodes = int(meta.get("reput_nodes", 0))
        held = meta.get("held", {})
        for salt, i in held.items() if isinstance(held, dict) else ():
            try:  # kept only if it still verifies; a damaged one is dropped, not fatal
                item = SignedItem(store.chain.key, bytes.fromhex(salt), int(i["seq"]),
                                  bytes.fromhex(i["v"]), bytes.fromhex(i["sig"]))
            except (ValueError, KeyError, TypeError):
                continue
            if item.valid():
                rec.held[item.salt] = item
        clients = meta.get("onion_clients", {})
        if not isinstance(clients, dict):
            raise ValueError("onion_clients in site.json is not a table")
        rec.onion_clients = {str(k): str(v) for k, v in clients.items()}
        return rec

    def create(self, address: str, name: str, owner: bool, source: str,
               save: bool = True) -> SiteRecord:
        """A new site folder; ``save=False`` leaves ``site.json`` to the caller, written
        last once the site is whole (a folder without it is never loaded)."""
        folder = self.root / address
        private_dir(self.root)
        private_dir(folder)
        store = ChainStore.open(folder / "chain", address)
        rec = SiteRecord(folder, address, name, owner, source, store)
        if save:
            rec.save()
        self.sites[address] = rec
        return rec

    def resolve(self, site: str) -> SiteRecord:
        """A site by address (any spelling) or by name."""
        address = canonical_address(site)
        if address is not None and address in self.sites:
            return self.sites[address]
        named = [r for r in self.sites.values() if r.name == site.strip()]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise SiteError(site, "several sites have this name; use an address: " +
                            ", ".join(r.address for r in named))
        raise UnknownSiteError(site)

    def forget(self, rec: SiteRecord, delete: bool) -> None:
        """Stop holding a site. Its folder is deleted, or kept (for the user) under
        ``unfollowed/``, where the next start does not load it again."""
        self.sites.pop(rec.address, None)
        if delete:
            shutil.rmtree(rec.folder, ignore_errors=True)
            return
        parked = self.root / "unfollowed" / rec.address
        if parked.exists():
            shutil.rmtree(parked)
        private_dir(parked.parent)
        rec.folder.rename(parked)
        sync_folder(self.root)


def now() -> int:
    return int(time.time())


def damaged_message(rec: SiteRecord, swarm: int | None = None) -> str:
    """What the owner is told while the site's chain file holds a damaged record."""
    store = rec.store
    text = (f"{store.damaged}. Nothing is published until the chain is recovered: signing "
            f"entry {store.chain.height + 1} again would fork the site for its followers. ")
    if swarm is None:
        return text + ("Recovery from the copy followers hold is under way (the head is "
                       "looked up in the swarm and its chain verified from genesis).")
    return text + (f"The swarm's newest head is {swarm}, which this node already holds "
                   f"verified: the damaged record was never announced. If no follower can "
                   f"hold it, drop it by hand (`truncate -s {store.damaged_at} {store.path}`, "
                   "after a copy) and publish again.")
