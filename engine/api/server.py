"""The daemon side of the engine API: one thread, a ROUTER and a PUB socket.

The server thread owns both sockets (ZeroMQ sockets must never be touched by
two threads). It sleeps in ``zmq.Poller`` on the ROUTER and on a socketpair
that the engine pokes after every snapshot and event (``Engine.add_listener``)
and that command futures poke when they resolve, so replies and publications
leave at once and an idle daemon uses no CPU.

Requests are checked by :func:`protocol.parse_request`, which decodes an engine
command's arguments into its :mod:`engine.commands` Struct, run as it is
(``engine.run``); whatever is wrong with one gets an error reply naming the fault,
and the loop goes on serving everyone else. Engine commands run on the engine
thread; their futures are answered here when they resolve, so a slow command never
blocks other clients.
"""

from __future__ import annotations

import collections
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

import zmq
import zmq.auth.thread

from ..errors import ConfigError, EngineError
from ..events import EventsLost
from ..interface import ServedEngine
from ..state import Snapshot
from ..waker import Waker
from . import protocol as p
from . import sockets
from .keys import KeyPair

BEAT_INTERVAL = 1.0
"""Seconds between heartbeats on the PUB socket while a client is subscribed (none
while no one is: nothing would receive them)."""
MAX_SUBSCRIPTIONS = 64
"""Distinct topics subscribers may hold (ours are three); more are ignored."""
CLOSE_LINGER = 500
"""Milliseconds the ROUTER may spend flushing queued replies when the server stops."""
PUB_HWM = 100
"""Publications queued per subscriber before ZeroMQ drops (the client then resyncs)."""
MAX_INFLIGHT = 4096
"""Engine commands awaiting their result at once, over all clients."""
MAX_INFLIGHT_PER_CLIENT = 64
"""Engine commands one client (one ROUTER identity: one connection) may have awaiting
their result. Beyond it the request is answered ``busy`` at once and nothing of it is kept:
4,096 adds sent without reading a reply grew the daemon from 75 MB to 912 MB."""
MAX_INFLIGHT_BYTES_PER_CLIENT = 1024 * 1024
"""Request bytes one client may have awaiting their result (one request of any allowed
size always goes): an add in flight holds its .torrent several times over (the request,
libtorrent's parsed copy, the add alert's). :data:`engine.api.client.MAX_PENDING` and
``MAX_PENDING_BYTES`` keep a RemoteEngine within both, so it never sees ``busy``."""
ROUTER_RCVHWM = 100
"""Frames (a request is two) libzmq reads ahead per connection before it stops reading that
socket: a client sending faster than the server thread answers waits in its own queue,
not in the daemon's memory."""
BATCH = 512
"""Requests read per loop turn, so publications are never starved by a flood."""


class _AllowedKeys:
    """CURVE credentials check for ZAP: only public keys listed in the config."""

    def __init__(self, keys: Iterable[str]):
        self.keys = frozenset(k.encode() for k in keys)

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self.keys


class ApiServer:
    """Serve one engine (a :class:`~engine.node.Node`, or a bare Engine) until :meth:`stop`.

    Args:
        engine: a started engine.
        endpoint: the ROUTER endpoint (ipc, tcp or inproc).
        publish_endpoint: the PUB endpoint.
        keys: the server's CURVE key pair, required for tcp endpoints.
        authorized_keys: Z85 public keys of clients allowed over tcp.
        max_message_size: requests larger than this get a ``too_large`` reply.
        context: the ZeroMQ context (one per process); a new one when None.
        on_shutdown: called (on the server thread) after replying to ``shutdown``.
    """

    def __init__(self, engine: ServedEngine, endpoint: str, publish_endpoint: str, *,
                 keys: KeyPair | None = None, authorized_keys: Iterable[str] = (),
                 max_message_size: int = 64 * 1024 * 1024,
                 context: zmq.Context | None = None,
                 on_shutdown: Callable[[], None] | None = None):
        self.engine = engine
        self.endpoint = sockets.check_endpoint(endpoint, "api.endpoint")
        self.publish_endpoint = sockets.check_endpoint(publish_endpoint, "api.publish_endpoint")
        self.keys = keys
        self.authorized = list(authorized_keys)
        self.max_message_size = max_message_size
        self.context = context or zmq.Context.instance()
        self.on_shutdown = on_shutdown
        self.epoch = secrets.token_hex(8)
        self.bound_endpoint = ""
        self.bound_publish = ""
        self.counters: collections.Counter[str] = collections.Counter()
        """requests, errors (by code), replies, deltas, events, beats, attached/detached
        (the first subscriber came, the last left)."""
        self._waker = Waker()
        self._done: collections.deque[tuple[bytes, int, int, Future[Any]]] = \
            collections.deque()
        self._inflight = 0
        self._per_client: dict[bytes, tuple[int, int]] = {}
        """(commands, request bytes) awaiting their result per client identity (no entry:
        none)."""
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._auth: zmq.auth.thread.ThreadAuthenticator | None = None
        self._topics: set[bytes] = set()
        """Topics some client is subscribed to (any: a client is attached)."""
        self._events = engine.subscribe(maxsize=10_000)
        self._published: Snapshot = engine.snapshot
        self._event_seq = engine.event_seq

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> ApiServer:
        """Bind and serve; raises ConfigError if an endpoint cannot be bound."""
        if sockets.is_tcp(self.endpoint) or sockets.is_tcp(self.publish_endpoint):
            if self.keys is None:
                raise ConfigError("tcp endpoints need the daemon's CURVE keys")
            self._auth = zmq.auth.thread.ThreadAuthenticator(self.context)
            self._auth.start()
            self._auth.configure_curve_callback("*", _AllowedKeys(self.authorized))
        self.engine.add_listener(self._wake)
        self._thread = threading.Thread(target=self._run, name="tidegate-api", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise EngineError(f"API server did not start within {timeout} s")
        if self._error is not None:
            self._cleanup_outside()
            raise self._error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the sockets and end the thread (the engine keeps running)."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        self._cleanup_outside()

    def _cleanup_outside(self) -> None:
        self.engine.remove_listener(self._wake)
        self.engine.unsubscribe(self._events)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        for ep in (self.bound_endpoint, self.bound_publish):
            sockets.remove_ipc_file(ep)
        self._waker.close()

    def _wake(self) -> None:
        self._waker.wake()

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        router = self.context.socket(zmq.ROUTER)
        # XPUB: a PUB that reports (un)subscriptions, so the server knows whether anyone
        # is attached: it beats only then, and tells the engine (``frontend_attached``)
        pub = self.context.socket(zmq.XPUB)
        try:
            try:
                # Over the socket limit libzmq drops the connection without a word; between
                # the two limits the sender gets a clear ``too_large`` reply.
                sockets.configure(router, self.max_message_size * 2 + 65536)
                router.setsockopt(zmq.RCVHWM, ROUTER_RCVHWM)
                sockets.configure(pub, self.max_message_size, hwm=PUB_HWM)
                self.bound_endpoint = sockets.bind(router, self.endpoint, self.keys)
                self.bound_publish = sockets.bind(pub, self.publish_endpoint, self.keys)
            except ConfigError as exc:
                self._error = exc
                return
            except Exception as exc:  # e.g. an unusable ipc folder
                self._error = ConfigError(f"cannot listen on {self.endpoint} / "
                                          f"{self.publish_endpoint}: {exc}")
                return
            finally:
                self._ready.set()
            self._serve(router, pub)
        finally:
            # up to CLOSE_LINGER ms to flush replies already queued (the one to `shutdown`
            # above all); the daemon never waits on a client longer than that
            router.close(linger=CLOSE_LINGER)
            pub.close(linger=0)

    def _serve(self, router: zmq.Socket, pub: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pub, zmq.POLLIN)
        poller.register(self._waker.reader, zmq.POLLIN)
        next_beat = time.monotonic()
        try:
            while not self._stopping.is_set():
                timeout_ms = -1 if not self._topics else \
                    max(0, int((next_beat - time.monotonic()) * 1000))
                ready = dict(poller.poll(timeout_ms))
                if self._waker.reader.fileno() in ready or self._waker.reader in ready:
                    self._waker.drain()
                if pub in ready and self._read_subscriptions(pub):
                    next_beat = time.monotonic()  # a new subscriber hears one at once
                self._publish_state(pub)
                self._publish_events(pub)
                if router in ready:
                    self._read_requests(router)
                self._send_done(router)
                if self._topics and time.monotonic() >= next_beat:
                    self._send(pub, p.TOPIC_BEAT, p.Beat(self.epoch, self._published.seq,
                                                         self._event_seq))
                    self.counters["beats"] += 1
                    next_beat = time.monotonic() + BEAT_INTERVAL
            self._publish_state(pub)
            self._publish_events(pub)
            self._send_done(router)
        finally:
            if self._topics:
                self._topics.clear()
                self.engine.frontend_attached(False)

    def _read_subscriptions(self, pub: zmq.Socket) -> bool:
        """Take the XPUB's (un)subscription frames (libzmq passes the first subscription
        to a topic and the last unsubscription from it); True when the first subscriber
        came."""
        before = bool(self._topics)
        for _ in range(BATCH):
            try:
                frame = pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if frame[:1] == b"\x01" and len(self._topics) < MAX_SUBSCRIPTIONS:
                self._topics.add(frame[1:])
            elif frame[:1] == b"\x00":
                self._topics.discard(frame[1:])
        if bool(self._topics) != before:
            self.counters["attached" if self._topics else "detached"] += 1
            self.engine.frontend_attached(bool(self._topics))
        return bool(self._topics) and not before

    # ------------------------------------------------------------------ publications

    def _send(self, pub: zmq.Socket, topic: bytes, body: Any) -> None:
        try:
            pub.send_multipart(p.encode_publication(topic, body), zmq.NOBLOCK)
        except zmq.Again:
            self.counters["publish_dropped"] += 1

    def _publish_state(self, pub: zmq.Socket) -> None:
        snap = self.engine.snapshot
        if snap.seq == self._published.seq:
            return
        delta = p.diff(self._published, snap, self.epoch)
        self._published = snap
        self._send(pub, p.TOPIC_DELTA, delta)
        self.counters["deltas"] += 1

    def _publish_events(self, pub: zmq.Socket) -> None:
        for event in self._events.drain():
            if isinstance(event, EventsLost):
                continue  # subscribers see the gap in seq and count it themselves
            self._event_seq = event.seq
            self._send(pub, p.TOPIC_EVENT, p.EventFrame(self.epoch, event))
            self.counters["events"] += 1

    # ------------------------------------------------------------------ requests

    def _read_requests(self, router: zmq.Socket) -> None:
        for _ in range(BATCH):
            try:
                frames = router.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            if len(frames) < 2:
                continue  # an identity with no body: nothing to answer
            identity, rest = frames[0], frames[1:]
            self.counters["requests"] += 1
            try:
                parsed = p.parse_request(rest, self.max_message_size)
                if isinstance(parsed, p.Reply):
                    self._reply(router, identity, parsed)
                    continue
                self._handle(router, identity, parsed, len(rest[-1]))
            except Exception as exc:  # one bad request must never stop the server
                self.counters["internal_errors"] += 1
                self._reply(router, identity, p.protocol_error(
                    "internal", f"the daemon failed on this request: {exc!r}"))

    def _handle(self, router: zmq.Socket, identity: bytes, req: p.Decoded,
                size: int = 0) -> None:
        if req.cmd == "hello":
            hello = p.Hello(p.VERSION.decode(), self.epoch, os.getpid(), self.bound_publish,
                            self._published.seq, self._event_seq)
            self._reply(router, identity, p.Reply(req.id, True, hello))
            return
        if req.cmd == "snapshot":
            full = p.FullSnapshot(self.epoch, self._published, self._event_seq)
            self._reply(router, identity, p.Reply(req.id, True, full))
            return
        if req.cmd == "shutdown":
            self._reply(router, identity, p.Reply(req.id, True))
            if self.on_shutdown is not None:
                self.on_shutdown()
            return
        if self._inflight >= MAX_INFLIGHT:
            self._reply(router, identity, p.protocol_error(
                "busy", f"{MAX_INFLIGHT} commands are already waiting; retry later", req.id))
            return
        count, held = self._per_client.get(identity, (0, 0))
        if count >= MAX_INFLIGHT_PER_CLIENT or (
                count and held + size > MAX_INFLIGHT_BYTES_PER_CLIENT):
            self.counters["busy_client"] += 1
            self._reply(router, identity, p.protocol_error(
                "busy", f"this client already has {count} commands ({held} bytes) waiting "
                        f"(at most {MAX_INFLIGHT_PER_CLIENT}, "
                        f"{MAX_INFLIGHT_BYTES_PER_CLIENT} bytes); read their replies, then "
                        "retry", req.id))
            return
        try:
            fut = self.engine.run(req.args)  # every other request is an engine command
        except Exception as exc:  # a check that failed before reaching the engine
            self._reply(router, identity, p.Reply(req.id, False, error=p.error_body(exc)))
            return
        self._inflight += 1
        self._per_client[identity] = (count + 1, held + size)

        def done(f: Future[Any], ident: bytes = identity, rid: int = req.id,
                 n: int = size) -> None:
            self._done.append((ident, rid, n, f))
            self._wake()

        fut.add_done_callback(done)

    def _send_done(self, router: zmq.Socket) -> None:
        while self._done:
            identity, rid, size, fut = self._done.popleft()
            self._inflight -= 1
            count, held = self._per_client.pop(identity, (1, size))
            if count > 1:
                self._per_client[identity] = (count - 1, held - size)
            exc = fut.exception()
            reply = (p.Reply(rid, False, error=p.error_body(exc)) if exc is not None
                     else p.Reply(rid, True, fut.result()))
            self._reply(router, identity, reply)

    def _reply(self, router: zmq.Socket, identity: bytes, reply: p.Reply) -> None:
        if not reply.ok and reply.error is not None:
            self.counters[f"error:{reply.error.code}"] += 1
        try:
            frames = p.encode_reply(reply)
        except (TypeError, ValueError, OverflowError) as exc:
            frames = p.encode_reply(p.protocol_error("internal", f"cannot encode reply: {exc}",
                                                     reply.id))
        try:
            router.send_multipart([identity, *frames], zmq.NOBLOCK)
            self.counters["replies"] += 1
        except zmq.Again:
            self.counters["replies_dropped"] += 1  # that client stopped reading
        except zmq.ZMQError:
            self.counters["replies_dropped"] += 1  # that client is gone


