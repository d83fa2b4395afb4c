"""The component bus: ZeroMQ sockets carrying the messages of :mod:`.bus_messages`.

The Smart Proxy, the Blockchain Handler and the Hosting Component run in one
process (``inproc://``) or in several (``ipc://``, or ``tcp://`` with CURVE);
this module hides which. Each message kind has one receiver, which binds an
:class:`Inbox` (a PULL socket) at its configured endpoint; senders connect an
:class:`Outbox` (a PUSH socket). PUSH/PULL and not PUB/SUB because a PUB drops
whatever it sends before a subscription has propagated, and these messages
must not vanish at start-up (docs/bus.md).

Threading rule: pyzmq aborts the whole process when two threads use one socket
at once, so every :class:`Inbox` and :class:`Outbox` belongs to one thread: the
first that sends, receives or closes on it. Other threads get a RuntimeError
while the owner is alive. Create it anywhere; use and close it in its owner.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Generic, Self

import zmq
from zmq.auth.thread import ThreadAuthenticator

from ..config import Config
from ..errors import ConfigError
from . import sockets
from .bus_messages import (
    MAX_MESSAGE_SIZE,
    BusMessageError,
    Deduper,
    HostnameRequest,
    M,
    SiteUpdate,
    decode,
    encode,
)
from .keys import KeyPair, check_public_key

HWM = 1000
"""Messages queued per socket before sends are dropped (counted in ``dropped``)."""


class _Zap:
    """The one ZAP handler of a context, shared by its tcp Inboxes, a ZAP domain each.

    Domains stay registered in the authenticator (its thread reads that dict
    unlocked); a closed Inbox's keys are removed, so its domain allows nobody.
    """

    _lock = threading.Lock()
    _by_context: dict[int, _Zap] = {}
    _domains = itertools.count(1)

    def __init__(self, auth: ThreadAuthenticator):
        self.auth = auth
        self.allowed: dict[str, frozenset[str]] = {}

    def callback(self, domain: str, client_key: bytes) -> bool:
        return client_key.decode("ascii", "replace") in self.allowed.get(domain, frozenset())

    @classmethod
    def register(cls, context: zmq.Context, keys: frozenset[str]) -> str:
        with cls._lock:
            zap = cls._by_context.get(id(context))
            if zap is None:
                auth = ThreadAuthenticator(context)
                try:
                    auth.start()
                except zmq.ZMQError as exc:
                    auth.stop()
                    raise ConfigError(f"cannot authenticate CURVE clients: {exc} (another ZAP "
                                      "handler runs in this zmq.Context; give the bus its own "
                                      "context)") from None
                zap = cls._by_context[id(context)] = _Zap(auth)
            domain = f"tidegate-bus-{next(cls._domains)}"
            zap.allowed[domain] = keys
            zap.auth.configure_curve_callback(domain, zap)
            return domain

    @classmethod
    def release(cls, context: zmq.Context, domain: str) -> None:
        with cls._lock:
            zap = cls._by_context.get(id(context))
            if zap is not None:
                zap.allowed.pop(domain, None)
                if not zap.allowed:
                    del cls._by_context[id(context)]
                    zap.auth.stop()


class _Endpoint:
    """A configured socket, its context, its owner thread, and how to close them."""

    def __init__(self, kind: int, endpoint: str, context: zmq.Context | None, hwm: int,
                 what: str):
        self.endpoint = sockets.check_endpoint(endpoint)
        self.what = what
        self._own_context = context is None and not self.endpoint.startswith("inproc://")
        # inproc needs one context for both ends; ipc/tcp get a private one by default.
        if context is None:
            context = zmq.Context() if self._own_context else zmq.Context.instance()
        self.context = context
        self.socket: zmq.Socket = self.context.socket(kind)
        sockets.configure(self.socket, MAX_MESSAGE_SIZE, hwm)
        self._owner: threading.Thread | None = None
        self._owner_lock = threading.Lock()
        self._zap_domain: str | None = None
        self._bound = False
        self.closed = False

    def _claim(self) -> None:
        me = threading.current_thread()
        with self._owner_lock:
            owner = self._owner
            if owner is not None and owner is not me and owner.is_alive():
                raise RuntimeError(f"{self.what} belongs to thread {owner.name!r}: a ZeroMQ "
                                   "socket must only be used by one thread")
            self._owner = me

    def _use(self) -> None:
        self._claim()
        if self.closed:
            raise RuntimeError(f"{self.what} is closed")

    def close(self) -> None:
        """Close the socket (dropping unsent messages), its ipc file, and our own context."""
        if self.closed:
            return
        self._claim()
        self.closed = True
        self.socket.close(linger=0)
        if self._bound:
            sockets.remove_ipc_file(self.endpoint)  # libzmq 4.3 leaves it behind
        if self._zap_domain is not None:
            _Zap.release(self.context, self._zap_domain)
        if self._own_context:
            self.context.term()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Inbox(_Endpoint, Generic[M]):
    """The receiving end of one message kind: binds a PULL socket at ``endpoint``.

    Invalid messages (bad JSON, wrong fields or types, multipart) are dropped
    and counted; :meth:`recv` never raises for them. A peer sending more than
    :data:`~.bus_messages.MAX_MESSAGE_SIZE` bytes is disconnected by ZeroMQ.

    Args:
        kind: :class:`SiteUpdate` or :class:`HostnameRequest`.
        endpoint: ``inproc://NAME``, ``ipc:///ABS/PATH`` (file made 0600) or ``tcp://HOST:PORT``.
        context: for inproc, the context the senders use (default: the global instance);
            ipc and tcp default to a private context closed with the Inbox.
        keys: this receiver's CURVE server key pair; required for tcp.
        authorized_keys: Z85 CURVE public keys of the senders allowed on tcp; required for tcp.
        hwm: messages queued here before the senders' queues start filling.

    Raises:
        ConfigError: bad endpoint, tcp without keys or authorized keys, address in use.

    Attributes:
        endpoint: the endpoint as bound (with the real port for ``tcp://host:*``).
        received: valid messages returned by :meth:`recv`.
        dropped: invalid messages discarded.
        last_error: why the last one was discarded.
    """

    def __init__(self, kind: type[M], endpoint: str, *, context: zmq.Context | None = None,
                 keys: KeyPair | None = None, authorized_keys: Iterable[str] = (),
                 hwm: int = HWM):
        super().__init__(zmq.PULL, endpoint, context, hwm, f"Inbox({kind.__name__})")
        self.kind: type[M] = kind
        self.received = 0
        self.dropped = 0
        self.last_error: str | None = None
        try:
            if sockets.is_tcp(self.endpoint):
                allowed = frozenset(check_public_key(k, "authorized_keys") for k in authorized_keys)
                if not allowed:
                    raise ConfigError(f"refusing to listen on {self.endpoint} with no authorized "
                                      "client keys: CURVE is mandatory on tcp")
                if keys is not None:
                    self._zap_domain = _Zap.register(self.context, allowed)
                    self.socket.zap_domain = self._zap_domain.encode()
            self.endpoint = sockets.bind(self.socket, self.endpoint, keys)
            self._bound = True
        except BaseException:
            self.close()
            raise

    def recv(self, timeout: float | None = 0.0) -> M | None:
        """The next valid message, or None when none came within ``timeout`` seconds.

        Args:
            timeout: seconds to wait; 0 only takes what is queued; None waits forever.
        """
        self._use()
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            try:
                data = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self.socket.poll(None if left is None else math.ceil(left * 1000), zmq.POLLIN)
                continue
            if self.socket.rcvmore:
                while self.socket.rcvmore:
                    self.socket.recv()
                self._drop("bad message: multipart messages are not bus messages")
                continue
            try:
                message = decode(data, self.kind)
            except BusMessageError as exc:
                self._drop(str(exc))
                continue
            self.received += 1
            return message

    def fileno(self) -> int:
        """The socket's ZMQ_FD, for select/asyncio; edge-triggered: on readable, ``recv(0)``
        until it returns None."""
        return int(self.socket.getsockopt(zmq.FD))

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        self.last_error = reason


class Outbox(_Endpoint, Generic[M]):
    """The sending end of one message kind: connects a PUSH socket to the receiver's endpoint.

    :meth:`send` never blocks: a message is queued (up to ``hwm``, also while the
    receiver is not bound yet) or dropped and counted. Closing drops what is
    still queued (LINGER 0), so an Outbox lives as long as its component.

    Args:
        kind, endpoint, context: as for :class:`Inbox` (the receiver's endpoint and context).
        keys: this sender's CURVE key pair; required for tcp.
        server_key: the receiver's CURVE public key (Z85); required for tcp.
        hwm: messages queued before sends are dropped.

    Raises:
        ConfigError: bad endpoint, or tcp without keys.

    Attributes:
        sent: messages queued for delivery.
        dropped: messages dropped because the queue was full.
    """

    def __init__(self, kind: type[M], endpoint: str, *, context: zmq.Context | None = None,
                 keys: KeyPair | None = None, server_key: str | None = None, hwm: int = HWM):
        super().__init__(zmq.PUSH, endpoint, context, hwm, f"Outbox({kind.__name__})")
        self.kind: type[M] = kind
        self.sent = 0
        self.dropped = 0
        try:
            sockets.connect(self.socket, self.endpoint, keys, server_key)
        except BaseException:
            self.close()
            raise

    def send(self, message: M) -> bool:
        """Queue ``message``; False (and ``dropped`` + 1) when the queue is full.

        Raises:
            TypeError: ``message`` is not of this Outbox's kind.
        """
        self._use()
        self._check(message)
        try:
            self.socket.send(encode(message), zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def _check(self, message: object) -> None:
        if not isinstance(message, self.kind):
            raise TypeError(f"{self.what} cannot carry {type(message).__name__}")


class HostnameOutbox(Outbox[HostnameRequest]):
    """The Smart Proxy's :class:`Outbox` of :class:`HostnameRequest`, de-duplicated.

    A hostname sent less than ``window`` seconds ago is not sent again (see
    :class:`~.bus_messages.Deduper`, which gets ``window`` and ``clock``); other
    arguments as for :class:`Outbox`.

    Attributes:
        deduplicated: requests not sent because the same hostname was sent within the window.
    """

    def __init__(self, endpoint: str, *, window: float,
                 clock: Callable[[], float] = time.monotonic, context: zmq.Context | None = None,
                 keys: KeyPair | None = None, server_key: str | None = None, hwm: int = HWM):
        super().__init__(HostnameRequest, endpoint, context=context, keys=keys,
                         server_key=server_key, hwm=hwm)
        self.deduper = Deduper(window, clock)
        self.deduplicated = 0

    def send(self, message: HostnameRequest) -> bool:
        """Queue ``message`` unless its hostname was sent within the window; True if queued."""
        self._use()
        self._check(message)
        if not self.deduper.should_send(message.hostname):
            self.deduplicated += 1
            return False
        if not super().send(message):
            self.deduper.forget(message.hostname)  # not sent: the next ask may try again
            return False
        return True

    def request(self, hostname: str) -> bool:
        """``send(HostnameRequest(hostname))``; raises BusMessageError for a bad hostname."""
        return self.send(HostnameRequest(hostname))


def hosting_inbox(config: Config, *, keys: KeyPair | None = None,
                  context: zmq.Context | None = None) -> Inbox[SiteUpdate]:
    """The Hosting Component's Inbox at ``bus.hosting_endpoint`` (tcp: ``api.authorized_keys``)."""
    return Inbox(SiteUpdate, config.bus.hosting_endpoint, context=context, keys=keys,
                 authorized_keys=config.api.authorized_keys)


def blockchain_inbox(config: Config, *, keys: KeyPair | None = None,
                     context: zmq.Context | None = None) -> Inbox[HostnameRequest]:
    """The Blockchain Handler's Inbox at ``bus.blockchain_endpoint``."""
    return Inbox(HostnameRequest, config.bus.blockchain_endpoint, context=context, keys=keys,
                 authorized_keys=config.api.authorized_keys)


def update_outbox(config: Config, *, keys: KeyPair | None = None, server_key: str | None = None,
                  context: zmq.Context | None = None) -> Outbox[SiteUpdate]:
    """The Blockchain Handler's Outbox to the Hosting Component's Inbox."""
    return Outbox(SiteUpdate, config.bus.hosting_endpoint, context=context, keys=keys,
                  server_key=server_key)


def hostname_outbox(config: Config, *, keys: KeyPair | None = None,
                    server_key: str | None = None, context: zmq.Context | None = None,
                    clock: Callable[[], float] = time.monotonic) -> HostnameOutbox:
    """The Smart Proxy's Outbox to the Blockchain Handler, de-duplicated per
    ``bus.hostname_dedup_seconds``."""
    return HostnameOutbox(config.bus.blockchain_endpoint, window=config.bus.hostname_dedup_seconds,
                          clock=clock, context=context, keys=keys, server_key=server_key)
