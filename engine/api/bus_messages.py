"""The component bus's two messages and its de-duplication rule, sans-IO.

The Smart Proxy, the Blockchain Handler and the Hosting Component exchange
exactly two kinds of message (docs/bus.md). This module defines them as frozen
msgspec Structs, turns them into JSON bytes and back with strict validation,
and holds the pure :class:`Deduper` the proxy uses to send a hostname request
once per window. Nothing here opens a socket or reads a clock by itself, so
every rule can be tested without ZeroMQ and both ends of the bus agree on what
a valid message is: :mod:`engine.api.bus` only moves these bytes.

A message is validated when it is built (``__post_init__``, which msgspec also
runs while decoding), so a sender cannot put an invalid message on the bus and
a receiver gets a :class:`BusMessageError` for a bad one.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import msgspec

from ..errors import ProtocolError

MAX_MESSAGE_SIZE = 64 * 1024
"""Largest bus message, bytes (a valid one is at most ~21 KiB); larger ones are refused."""
MAX_HOSTS = 64
"""Most hosts one SiteUpdate may list."""
MAX_HOSTNAME_LENGTH = 255
MAX_SNAPSHOT_LENGTH = 16 * 1024
"""Longest magnet URI accepted (the engine's own limit for magnets)."""
MAX_TIME = 2**63 - 1
"""Largest ``time`` (fits a signed 64-bit integer, for other languages on the bus)."""

_ONION_V3 = re.compile(r"[a-z2-7]{56}\.onion")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_BTIH = re.compile(r"[0-9a-fA-F]{40}|[A-Za-z2-7]{32}")
_BTMH = re.compile(r"1220[0-9a-fA-F]{64}")


class BusMessageError(ProtocolError, ValueError):
    """A bus message is malformed; the text names the offending field.

    It is a :class:`~engine.errors.ProtocolError` (code ``bad_message``) for
    callers, and a ValueError so msgspec reports it as a validation error
    while decoding.
    """

    def __init__(self, message: str):
        super().__init__(message, "bad_message")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_onion_v3(host: object) -> bool:
    """Whether ``host`` looks like a v3 onion hostname: 56 base32 characters + ``.onion``.

    Only the shape is checked (lowercase, as Tor prints them), not the
    address's embedded checksum.
    """
    return isinstance(host, str) and _ONION_V3.fullmatch(host) is not None


def is_onion_hostname(name: object) -> bool:
    """Whether ``name`` is a lowercase DNS name of at most 255 characters under ``.onion``."""
    if not isinstance(name, str) or len(name) > MAX_HOSTNAME_LENGTH:
        return False
    labels = name.split(".")
    return (len(labels) >= 2 and labels[-1] == "onion"
            and all(_LABEL.fullmatch(label) for label in labels[:-1]))


def is_magnet(uri: object) -> bool:
    """Whether ``uri`` is a magnet URI with a BitTorrent v1 or v2 info-hash.

    It must start with ``magnet:?``, be printable ASCII of at most
    :data:`MAX_SNAPSHOT_LENGTH` characters, and carry an ``xt=urn:btih:``
    (40 hex or 32 base32 digits) or ``xt=urn:btmh:`` (``1220`` + 64 hex) parameter.
    """
    if not isinstance(uri, str) or not uri.startswith("magnet:?"):
        return False
    if len(uri) > MAX_SNAPSHOT_LENGTH or any(not 0x21 <= ord(c) <= 0x7E for c in uri):
        return False
    for param in uri[len("magnet:?"):].split("&"):
        name, _, value = param.partition("=")
        if name != "xt":
            continue
        urn = value[:len("urn:btih:")].lower()
        digest = value[len("urn:btih:"):]
        if (urn == "urn:btih:" and _BTIH.fullmatch(digest)) or (
                urn == "urn:btmh:" and _BTMH.fullmatch(digest)):
            return True
    return False


class SiteUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Blockchain Handler -> Hosting: an UPDATE entry was accepted.

    Wire form: ``{"time": <unix int>, "snapshot": "magnet:?...", "hosts": ["....onion"]}``.
    ``hosts`` may be given as a list or a tuple; it is stored as a tuple.

    Raises:
        BusMessageError: a field is invalid (the message names it).
    """

    time: int
    """Unix time of the UPDATE entry, seconds (0 ... 2**63-1)."""
    snapshot: str
    """Magnet URI of the site snapshot to host."""
    hosts: Sequence[str]
    """v3 onion hostnames of the hosts (at most :data:`MAX_HOSTS`), kept as a tuple."""

    def __post_init__(self) -> None:
        if type(self.time) is not int or not 0 <= self.time <= MAX_TIME:
            raise BusMessageError(f"`time` must be a unix time (an integer from 0 to 2**63-1), "
                                  f"got {_shown(self.time)}")
        if not is_magnet(self.snapshot):
            raise BusMessageError(f"`snapshot` must be a magnet URI (magnet:?xt=urn:btih:... "
                                  f"or xt=urn:btmh:...), got {_shown(self.snapshot)}")
        hosts: Any = self.hosts
        if not isinstance(hosts, list | tuple):
            raise BusMessageError(f"`hosts` must be a list of onion hostnames, got {_shown(hosts)}")
        if len(hosts) > MAX_HOSTS:
            raise BusMessageError(f"`hosts` lists {len(hosts)} hosts, more than {MAX_HOSTS}")
        for i, host in enumerate(hosts):
            if not is_onion_v3(host):
                raise BusMessageError(f"`hosts[{i}]` must be a v3 onion hostname (56 base32 "
                                      f"characters + .onion), got {_shown(host)}")
        if not isinstance(hosts, tuple):
            msgspec.structs.force_setattr(self, "hosts", tuple(hosts))


class HostnameRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Smart Proxy -> Blockchain Handler: which site serves this onion hostname?

    Wire form: ``{"hostname": "<something>.onion"}``.

    Raises:
        BusMessageError: the hostname is not a lowercase ``.onion`` name of <= 255 characters.
    """

    hostname: str

    def __post_init__(self) -> None:
        if not is_onion_hostname(self.hostname):
            raise BusMessageError(f"`hostname` must be a lowercase .onion hostname of at most "
                                  f"{MAX_HOSTNAME_LENGTH} characters, got {_shown(self.hostname)}")


BusMessage = SiteUpdate | HostnameRequest
M = TypeVar("M", SiteUpdate, HostnameRequest)

_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {
    SiteUpdate: msgspec.json.Decoder(SiteUpdate),
    HostnameRequest: msgspec.json.Decoder(HostnameRequest),
}


def encode(message: BusMessage) -> bytes:
    """The JSON bytes of a message, with exactly its fields as keys.

    Raises:
        BusMessageError: ``message`` is not a bus message.
    """
    if not isinstance(message, SiteUpdate | HostnameRequest):
        raise BusMessageError(f"not a bus message: {_shown(message)}")
    return _ENCODER.encode(message)


def decode(data: bytes, kind: type[M]) -> M:
    """Parse and validate one message of type ``kind`` from JSON bytes.

    Raises:
        BusMessageError: the bytes are oversized, not JSON, not an object with exactly
            the fields of ``kind``, or a field is invalid; the message names the field.
    """
    name = kind.__name__
    if len(data) > MAX_MESSAGE_SIZE:
        raise BusMessageError(f"bad {name}: {len(data)} bytes, over the "
                              f"{MAX_MESSAGE_SIZE}-byte limit")
    try:
        message: M = _DECODERS[kind].decode(data)
    except msgspec.ValidationError as exc:
        raise BusMessageError(f"bad {name}: {str(exc)[:300]}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        # msgspec reports a JSON string of invalid UTF-8 as UnicodeDecodeError
        raise BusMessageError(f"bad {name}: {str(exc)[:300] or type(exc).__name__}") from None
    return message


class Deduper:
    """Says whether a key should be sent: at most once per ``window`` seconds.

    The window starts when a key is sent; asking again inside it does not
    extend it, so a hostname asked continuously is sent once per window.
    Memory is bounded: keys older than the window are forgotten on every call,
    and past ``max_keys`` the oldest key is forgotten early (it may then be
    sent again before its window ends). Not thread-safe: one owner.

    Args:
        window: seconds; 0 sends every time.
        clock: monotonic seconds, injected for tests.
        max_keys: most keys remembered at once.
    """

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 4096):
        if window < 0 or max_keys < 1:
            raise ValueError("window must be >= 0 and max_keys >= 1")
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._sent: OrderedDict[Hashable, float] = OrderedDict()

    def should_send(self, key: Hashable) -> bool:
        """True (and the window starts now) unless ``key`` was sent less than a window ago."""
        if self.window <= 0:
            return True
        now = self.clock()
        self._expire(now)
        if key in self._sent:
            return False
        self._sent[key] = now
        while len(self._sent) > self.max_keys:
            self._sent.popitem(last=False)
        return True

    def forget(self, key: Hashable) -> None:
        """Drop ``key``'s window, e.g. when sending it failed, so the next ask sends it."""
        self._sent.pop(key, None)

    def __len__(self) -> int:
        return len(self._sent)

    def _expire(self, now: float) -> None:
        # Keys sit in send order, which is time order for a monotonic clock.
        while self._sent:
            key, sent_at = next(iter(self._sent.items()))
            if now - sent_at < self.window:
                break
            del self._sent[key]
