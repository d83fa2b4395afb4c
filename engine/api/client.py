"""RemoteEngine: the engine interface, served by a daemon over ZeroMQ.

It satisfies :class:`engine.interface.EngineAPI` like the in-process engine: ``run``
sends a command and returns a future, ``snapshot`` is the newest immutable state,
``subscribe`` gives an ordered event stream. One thread (``tidegate-client``) owns the
DEALER (commands), the SUB (publications) and a socket monitor; callers post requests to
it through a deque and a socketpair wake-up. The state follows ZeroMQ's "clone" pattern,
whose rules are the sans-IO :class:`~engine.api.replica.Replica`: this module feeds it
what the sockets and the clock say and carries out the actions it returns. When the
daemon goes away pending requests fail with :class:`DaemonUnavailableError`; the client
reconnects by itself when it returns.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import msgspec
import zmq
from zmq.utils.monitor import recv_monitor_message

from ..board import StateBoard
from ..commands import Command, R
from ..errors import ConfigError, DaemonUnavailableError, EngineStoppedError, ProtocolError
from ..events import DaemonConnection, EventsLost, EventStream
from ..state import Snapshot
from ..waker import Waker
from . import protocol as p
from . import replica as r
from . import sockets
from .keys import KeyPair
from .replica import LIVENESS

MAX_PENDING = 64
"""Requests in flight at once; more wait in the client. The daemon answers ``busy`` past
64 per client (``server.MAX_INFLIGHT_PER_CLIENT``) and 4096 overall; well under the
sockets' high-water mark of 1000 frames, so the daemon never drops a reply to us."""
MAX_PENDING_BYTES = 1024 * 1024
"""Request bytes in flight at once (one request of any size always goes): the daemon's
``MAX_INFLIGHT_BYTES_PER_CLIENT``."""

Outgoing = tuple[int, str, dict[str, Any], "Future[Any]", float, float]
"""``(id, command, args, future, timeout, queued_at)``: a request not yet sent."""


class RemoteEngine:
    """A client of one daemon. Start it, send it commands, read its snapshots.

    Args:
        endpoint: the daemon's command endpoint (``ipc://...`` or ``tcp://HOST:PORT``).
        client_keys: this client's CURVE key pair (tcp only).
        server_key: the daemon's CURVE public key (tcp only).
        timeout: seconds a command waits for its reply.
        max_message_size: requests larger than this are refused before sending.
        context: the process's ZeroMQ context; the global instance when None.
    """

    def __init__(self, endpoint: str, *, client_keys: KeyPair | None = None,
                 server_key: str | None = None, timeout: float = 15.0,
                 max_message_size: int = 64 * 1024 * 1024,
                 context: zmq.Context | None = None, liveness: float = LIVENESS):
        self.endpoint = sockets.check_endpoint(endpoint, "--connect")
        if sockets.is_tcp(self.endpoint) and (client_keys is None or not server_key):
            raise ConfigError(f"connecting to {self.endpoint} needs CURVE keys: the daemon's "
                              "public key (--server-key or api.server_key) and this client's "
                              "key pair")
        self.client_keys = client_keys
        self.server_key = server_key
        self.timeout = timeout
        self.max_message_size = max_message_size
        self.liveness = liveness
        self.context = context or zmq.Context.instance()
        self.counters: collections.Counter[str] = collections.Counter()
        """resyncs, events_lost, disconnects, replies, internal_errors."""
        self.last_error = ""
        """The last unexpected error inside the client thread (for diagnostics)."""
        self._board = StateBoard()
        self._replica = r.Replica(liveness=liveness, request_timeout=min(timeout, 5.0),
                                  counters=self.counters)
        """The clone pattern's state and rules; fed and obeyed by the client thread only."""
        self._auth_failed = False
        self._ids = itertools.count(1)
        self._out: collections.deque[Outgoing] = collections.deque()
        self._last_reply = 0.0
        """``time.monotonic()`` of the newest reply from the daemon."""
        self._out_lock = threading.Lock()
        self._waker = Waker()
        self._stopping = threading.Event()
        self._synced = threading.Event()
        self._thread: threading.Thread | None = None
        # owned by the client thread only:
        self._pending: dict[int, tuple[str, Future[Any], float]] = {}
        self._sizes: dict[int, int] = {}
        """Request bytes of each pending request (``_pending_bytes`` is their sum)."""
        self._pending_bytes = 0
        self._poller = zmq.Poller()
        self._blocked = False
        """Requests wait in ``_out`` because the daemon's queue is full."""
        self._sub: zmq.Socket | None = None
        self._sub_endpoint = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 5.0) -> RemoteEngine:
        """Connect and wait for the first full snapshot.

        Raises:
            DaemonUnavailableError: nothing answered within ``timeout`` seconds.
        """
        if self._thread is not None:
            raise EngineStoppedError("client already started")
        path = sockets.ipc_path(self.endpoint)
        if path is not None and not path.exists():
            raise DaemonUnavailableError(self._unavailable("now"))
        self._thread = threading.Thread(target=self._run, name="tidegate-client", daemon=True)
        self._thread.start()
        if not self._synced.wait(timeout):
            self.stop()
            raise DaemonUnavailableError(self._unavailable(f"within {timeout:g} s"))
        return self

    def stop(self) -> None:
        """Disconnect (the daemon keeps running). Pending commands fail."""
        self._stopping.set()
        self._waker.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
        self._board.wake()
        self._board.close_streams()

    def __enter__(self) -> RemoteEngine:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        """True while the daemon answers (heartbeats arrive)."""
        return self._replica.connected

    @property
    def running(self) -> bool:
        return (self._replica.connected and self._board.snapshot.running
                and not self._stopping.is_set())

    @property
    def epoch(self) -> str | None:
        """The daemon's epoch (random per daemon start), once a full snapshot is held."""
        return self._replica.epoch

    @property
    def daemon_pid(self) -> int | None:
        """The daemon's process id, from its ``hello``."""
        return self._replica.daemon_pid

    def _unavailable(self, when: str) -> str:
        if self._auth_failed:
            return (f"the daemon at {self.endpoint} refused this client's CURVE key; add the "
                    "key printed by `tidegate daemon --show-keys` on this machine to the "
                    "daemon's api.authorized_keys")
        path = sockets.ipc_path(self.endpoint)
        hint = ("start one with `tidegate daemon`, or run the TUI (`tidegate`), which serves "
                "its engine the same way")
        if path is not None and not path.exists():
            hint = f"no socket at {path}; {hint}"
        elif sockets.is_tcp(self.endpoint):
            hint = ("no CURVE handshake completed: it is not running or unreachable, it does "
                    "not list this client's key in api.authorized_keys, or its key is not the "
                    f"server key given (--server-key, api.server_key); {hint}")
        return f"no tidegate daemon answers at {self.endpoint} {when} ({hint})"

    # ------------------------------------------------------------------ state out

    @property
    def snapshot(self) -> Snapshot:
        """The newest snapshot received (an immutable value)."""
        return self._board.snapshot

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> Snapshot:
        """Block until a snapshot satisfies ``predicate``; TimeoutError otherwise.

        A daemon that goes away and returns within ``timeout`` does not end the wait.
        """
        return self._board.wait_for(
            predicate, timeout,
            lambda: "the client was stopped while waiting" if self._stopping.is_set() else None)

    def subscribe(self, maxsize: int = 10_000) -> EventStream:
        return self._board.subscribe(maxsize)

    def unsubscribe(self, stream: EventStream) -> None:
        self._board.unsubscribe(stream)

    # ------------------------------------------------------------------ commands

    def run(self, cmd: Command[R]) -> Future[R]:
        """Send an engine command (:mod:`engine.commands`); resolves to its typed result."""
        timeout = max(self.timeout, cmd.timeout) if cmd.timeout else None
        return self.call(cmd.cmd, timeout, **p.command_args(cmd))

    def shutdown_daemon(self) -> Future[None]:
        """Ask the daemon to save everything and exit."""
        return self.call("shutdown")

    def call(self, cmd: str, timeout: float | None = None, **args: Any) -> Future[Any]:
        """Send any protocol command; the future resolves to its typed result."""
        fut: Future[Any] = Future()
        if self._stopping.is_set() or self._thread is None:
            fut.set_exception(EngineStoppedError("the client is not started"))
            return fut
        args = msgspec.to_builtins(args, builtin_types=(bytes,))  # bytes: msgpack bin
        with self._out_lock:
            self._out.append((next(self._ids), cmd, args, fut, timeout or self.timeout,
                              time.monotonic()))
        self._waker.wake()
        return fut

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        dealer = self.context.socket(zmq.DEALER)
        sockets.configure(dealer, self.max_message_size * 2 + 65536)
        # Queue only to a live connection: a command sent while the daemon is gone fails at
        # once instead of running minutes later when it returns.
        dealer.setsockopt(zmq.IMMEDIATE, 1)
        monitor = dealer.get_monitor_socket(
            zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
        poller = self._poller
        try:
            sockets.connect(dealer, self.endpoint, self.client_keys, self.server_key)
            poller.register(dealer, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            poller.register(self._waker.reader, zmq.POLLIN)
            while not self._stopping.is_set():
                try:
                    self._turn(poller, dealer, monitor)
                except zmq.ContextTerminated:
                    break
                except Exception as exc:  # keep serving callers; show what went wrong
                    self.counters["internal_errors"] += 1
                    self.last_error = repr(exc)
                    time.sleep(0.05)
        finally:
            err = EngineStoppedError("the client stopped")
            for _cmd, fut, _dl in self._pending.values():
                _fail(fut, err)
            with self._out_lock:
                for item in self._out:
                    _fail(item[3], err)
                self._out.clear()
            dealer.disable_monitor()
            monitor.close(linger=0)
            dealer.close(linger=0)
            if self._sub is not None:
                self._sub.close(linger=0)
            self._waker.close()

    def _turn(self, poller: zmq.Poller, dealer: zmq.Socket, monitor: zmq.Socket) -> None:
        now = time.monotonic()
        waits = [dl for _c, _f, dl in self._pending.values()]
        with self._out_lock:
            if self._out:  # queued in order: the first one's deadline is the earliest
                waits.append(self._send_deadline(self._out[0][4], self._out[0][5]))
        waits.append(self._replica.next_tick(now))
        timeout_ms = max(0, int((min(waits) - now) * 1000)) + 1
        ready = dict(poller.poll(timeout_ms))
        if self._waker.reader.fileno() in ready or self._waker.reader in ready:
            self._waker.drain()
        if dealer in ready:  # before the monitor: a reply may precede the disconnect
            self._read_replies(dealer)
        if monitor in ready:
            self._on_monitor(monitor, dealer)
        self._send_out(dealer)
        if self._sub is not None and self._sub in ready:
            self._read_publications(dealer)
        self._check_time(dealer)

    def _on_monitor(self, monitor: zmq.Socket, dealer: zmq.Socket) -> None:
        while True:
            try:
                msg = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            event = msg["event"]
            if event == zmq.EVENT_CONNECTED:
                self._auth_failed = False
                self._replica.connection_up()  # say hello now
            elif event == zmq.EVENT_DISCONNECTED and self._replica.connected:
                self._lost(dealer, "the connection to the daemon closed")
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_AUTH,
                           zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                self._auth_failed = True

    def _send_raw(self, dealer: zmq.Socket, rid: int, cmd: str, args: dict[str, Any],
                  counted: bool = False) -> Exception | None:
        """Send one request; an exception for the caller, :data:`_FULL`, or None when sent.
        ``counted``: a command the daemon counts against this client's bytes in flight."""
        try:
            frames = p.encode_request(rid, cmd, args)
        except (OverflowError, TypeError, ValueError) as exc:  # an int past 64 bits
            return ProtocolError(f"{cmd}: an argument cannot be sent: {exc}", "bad_args")
        if len(frames[1]) > self.max_message_size:
            return ProtocolError(f"{cmd}: request of {len(frames[1])} bytes exceeds the limit "
                                 f"of {self.max_message_size} bytes", "too_large")
        size = len(frames[1])
        if counted and self._pending and self._pending_bytes + size > MAX_PENDING_BYTES:
            return _WAIT_REPLY
        try:
            dealer.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            # No connection (IMMEDIATE), or the queue to a busy daemon is full.
            return _FULL if self._replica.connected else DaemonUnavailableError(
                self._unavailable("now"))
        if counted:
            self._sizes[rid] = size
            self._pending_bytes += size
        return None

    def _send_out(self, dealer: zmq.Socket) -> None:
        with self._out_lock:
            items = list(self._out)
            self._out.clear()
        now = time.monotonic()
        for i, (rid, cmd, args, fut, timeout, queued_at) in enumerate(items):
            if fut.done():
                continue  # cancelled by the caller before it was sent
            if now >= self._send_deadline(timeout, queued_at):
                _fail(fut, DaemonUnavailableError(
                    f"`{cmd}` could not be sent within {timeout:g} s: the daemon at "
                    f"{self.endpoint} is not reading"))
                continue
            outcome = (_WAIT_REPLY if len(self._pending) >= MAX_PENDING
                       else self._send_raw(dealer, rid, cmd, args, counted=True))
            if outcome is _FULL or outcome is _WAIT_REPLY:
                # back-pressure: keep the rest, in order, until the socket is writable
                with self._out_lock:
                    self._out.extendleft(reversed(items[i:]))
                # writable again or a reply frees a slot, whichever comes first
                self._set_blocked(dealer, outcome is _FULL)
                return
            if outcome is not None:
                _fail(fut, outcome)
            else:  # the reply deadline counts from now, not from when it was queued
                self._pending[rid] = (cmd, fut, now + timeout)
        self._set_blocked(dealer, False)

    def _send_deadline(self, timeout: float, queued_at: float) -> float:
        """A request waiting behind :data:`MAX_PENDING` others gives up only when the
        daemon has answered nothing for ``timeout``: 10,000 queued commands to a daemon
        that replies steadily all go through, however long the whole batch takes."""
        return max(queued_at, self._last_reply) + timeout

    def _set_blocked(self, dealer: zmq.Socket, blocked: bool) -> None:
        if blocked != self._blocked:
            self._blocked = blocked
            self._poller.modify(dealer, zmq.POLLIN | (zmq.POLLOUT if blocked else 0))

    def _do(self, dealer: zmq.Socket, actions: list[r.Action]) -> None:
        """Carry out the replica's actions, in order."""
        for action in actions:
            if isinstance(action, r.Send):
                rid = next(self._ids)
                if self._send_raw(dealer, rid, action.cmd, {}) is None:
                    self._replica.sent(rid, action.cmd, time.monotonic())
            elif isinstance(action, r.Subscribe):
                self._connect_sub(action.publish)
            elif isinstance(action, r.Publish):
                self._board.publish(action.snapshot)
            elif isinstance(action, r.Deliver):
                self._board.deliver(action.event)
            elif isinstance(action, r.LoseEvents):
                self._board.deliver(EventsLost(seq=action.seq, time=time.time(),
                                               count=action.count))
            else:  # r.Report
                self._board.deliver(DaemonConnection(
                    seq=0, time=time.time(), connected=action.connected,
                    endpoint=self.endpoint, message=action.message))
                if action.connected:  # reported with the first full snapshot
                    self._synced.set()

    def _read_replies(self, dealer: zmq.Socket) -> None:
        for _ in range(1000):
            try:
                frames = dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                reply = p.parse_reply(frames)
            except ProtocolError:
                self.counters["bad_replies"] += 1
                continue
            self.counters["replies"] += 1
            self._last_reply = time.monotonic()
            if self._replica.awaits(reply.id):  # a hello or snapshot the replica asked for
                self._do(dealer, self._replica.reply(reply, self._last_reply))
                continue
            entry = self._pending.pop(reply.id, None) if reply.id is not None else None
            self._pending_bytes -= self._sizes.pop(reply.id or 0, 0)
            if entry is None:
                continue  # a late reply to a request that already timed out
            cmd, fut, _dl = entry
            try:
                result = p.result_of(cmd, reply)
            except Exception as exc:
                _fail(fut, exc)
                continue
            if not fut.done():  # the caller may have cancelled it
                try:
                    fut.set_result(result)
                except Exception:  # InvalidStateError: cancelled in between
                    pass

    def _connect_sub(self, publish: str) -> None:
        endpoint = publish
        if sockets.is_tcp(publish) and sockets.is_tcp(self.endpoint):
            # the daemon reports what it bound (maybe 0.0.0.0): dial the host we dialled
            host = self.endpoint[len("tcp://"):].rpartition(":")[0]
            endpoint = f"tcp://{host}:{publish.rpartition(':')[2]}"
        if self._sub is not None and endpoint == self._sub_endpoint:
            return
        if self._sub is not None:
            self._sub.close(linger=0)
        sub = self.context.socket(zmq.SUB)
        sockets.configure(sub, self.max_message_size * 2 + 65536, hwm=100)
        for topic in p.TOPICS:
            sub.setsockopt(zmq.SUBSCRIBE, topic)
        sockets.connect(sub, endpoint, self.client_keys, self.server_key)
        self._sub, self._sub_endpoint = sub, endpoint
        self._poller.register(sub, zmq.POLLIN)

    def _read_publications(self, dealer: zmq.Socket) -> None:
        assert self._sub is not None
        for _ in range(1000):
            try:
                frames = self._sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            now = time.monotonic()
            try:
                pub = p.parse_publication(frames)
            except ProtocolError:
                self._replica.heard(now)  # still a sign of life
                self.counters["bad_publications"] += 1
                continue
            self._do(dealer, self._replica.publication(pub, now))

    def _check_time(self, dealer: zmq.Socket) -> None:
        now = time.monotonic()
        for rid in [rid for rid, (_c, _f, dl) in self._pending.items() if dl <= now]:
            cmd, fut, _dl = self._pending.pop(rid)
            self._pending_bytes -= self._sizes.pop(rid, 0)
            _fail(fut, DaemonUnavailableError(
                f"no reply to `{cmd}` within {self.timeout:g} s from {self.endpoint}"))
        why = self._replica.gone(now)
        if why is not None:
            self._lost(dealer, why)
        self._do(dealer, self._replica.tick(now))

    def _lost(self, dealer: zmq.Socket, why: str) -> None:
        self._read_replies(dealer)  # replies that arrived before the connection closed count
        actions = self._replica.connection_down(why, time.monotonic())
        error = DaemonUnavailableError(f"{why} ({self.endpoint}); the request was not "
                                       "answered")
        for cmd, fut, _dl in self._pending.values():
            if cmd == "shutdown":  # closing the connection is what a shutdown does
                if not fut.done():
                    fut.set_result(None)
                continue
            _fail(fut, DaemonUnavailableError(f"`{cmd}`: {error}"))
        self._pending.clear()
        self._sizes.clear()
        self._pending_bytes = 0
        self._do(dealer, actions)


class _Full(Exception):
    """The send queue to a connected daemon is full: retry when writable."""


_FULL = _Full()
"""The socket's queue is full: wait until it is writable."""
_WAIT_REPLY = _Full()
"""As many requests (or bytes) in flight as the daemon allows: wait for a reply."""


def _fail(fut: Future[Any], exc: BaseException) -> None:
    if not fut.done():
        try:
            fut.set_exception(exc)
        except Exception:  # concurrent.futures.InvalidStateError in a race with cancel
            pass

