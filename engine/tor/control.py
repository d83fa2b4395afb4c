"""A typed, time-bounded connection to tor's control port (a wrapper around stem's Controller).

:class:`TorControl` connects over a unix socket or to ``127.0.0.1:<port>``, authenticates
(cookie, password or none: stem picks what tor offers) and adds or removes detached
``ED25519-V3`` onion services, optionally with v3 client authorization; it forwards HS_DESC
events and tells when the connection drops.

stem's calls block without a limit when tor stops answering, so every call here runs in a
short-lived worker thread and is abandoned after a timeout; the connection is then closed,
which also wakes the abandoned call. Every failure is a :class:`~engine.errors.TidegateError`
naming the control endpoint and what was asked.

``ADD_ONION`` is sent as a raw command rather than through stem's
``create_ephemeral_hidden_service``: stem 1.8.2 takes one ``ClientAuthV3`` key only, and turns
tor's refusals into a ``ProtocolError`` without tor's status code.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import stem
import stem.connection
import stem.control
import stem.response
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..errors import TidegateError
from .keys import onion_address, onion_key_blob

DEFAULT_TIMEOUT = 10.0
"""Seconds any one control-port call may take before the connection is given up."""

UNIX_PATH_MAX = 107
"""Longest AF_UNIX socket path in bytes (``sun_path`` is 108 bytes with its NUL on Linux)."""

SUFFIX = ".onion"

log = logging.getLogger(__name__)

T = TypeVar("T")

_ADDRESS = re.compile(r"[a-z2-7]{56}")
_CLIENT_KEY = re.compile(r"[A-Z2-7]{52}")
_HOST_PORT = re.compile(r"(?P<host>[0-9.]+|\[[0-9A-Fa-f:.]+\]):(?P<port>[0-9]{1,5})")


class _Timeout(Exception):
    """A bounded call got no answer in time."""


# -- arguments ------------------------------------------------------------------------------

def check_address(address: str) -> str:
    """``address`` as tor writes it (56 lowercase base32 characters, no ``.onion``)."""
    text = address.strip().lower().removesuffix(SUFFIX)
    if not _ADDRESS.fullmatch(text):
        raise TidegateError(f"onion address {address!r}: expected 56 base32 characters "
                            "before .onion (a v3 address)")
    return text


def check_target(target: str) -> str:
    """An onion service target: ``unix:/absolute/path`` or ``IP:port``; returned unchanged.

    ``ADD_ONION`` is one line of space-separated arguments and tor does not accept a quoted
    target there, so unix socket paths cannot contain spaces, quotes or control characters.
    """
    where = f"onion service target {target!r}"
    if target.startswith("unix:"):
        path = target[len("unix:"):]
        if not path.startswith("/"):
            raise TidegateError(f"{where}: a unix socket target needs an absolute path")
        if any(c.isspace() or c in "\"'\\" or ord(c) < 32 or ord(c) == 127 for c in path):
            raise TidegateError(f"{where}: tor's ADD_ONION cannot carry a socket path with "
                                "spaces, quotes, backslashes or control characters")
        if len(os.fsencode(path)) > UNIX_PATH_MAX:
            raise TidegateError(f"{where}: the socket path is longer than the "
                                f"{UNIX_PATH_MAX} bytes a unix socket address can hold")
        return target
    match = _HOST_PORT.fullmatch(target)
    if match is None:
        raise TidegateError(f"{where}: expected 'unix:/absolute/path' or 'IP:port' "
                            "(for example 127.0.0.1:8080)")
    try:
        ipaddress.ip_address(match["host"].strip("[]"))
    except ValueError:
        raise TidegateError(f"{where}: {match['host']} is not an IP address") from None
    if not 1 <= int(match["port"]) <= 65535:
        raise TidegateError(f"{where}: port {match['port']} is outside 1-65535")
    return target


def check_client_key(key: str) -> str:
    """A v3 client-auth public key, normalised to 52 uppercase base32 characters."""
    text = key.strip().upper().rstrip("=")
    if not _CLIENT_KEY.fullmatch(text):
        raise TidegateError(f"client auth key {key!r}: expected an x25519 public key as 52 "
                            "base32 characters")
    return text


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def client_auth_keypair() -> tuple[str, str]:
    """A fresh x25519 keypair for v3 client authorization: (public, private), base32.

    The public key goes to :meth:`TorControl.add_onion` (``ClientAuthV3``); the private one is
    what the visitor gives their tor or Tor Browser (see :func:`client_auth_line`).
    """
    private = X25519PrivateKey.generate()
    public_raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
    private_raw = private.private_bytes(serialization.Encoding.Raw,
                                        serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    return _b32(public_raw), _b32(private_raw)


def client_auth_line(address: str, private: str) -> str:
    """A ``ClientOnionAuthDir`` ``.auth_private`` line: ``<addr>:descriptor:x25519:<key>``."""
    key = private.strip().upper().rstrip("=")
    if not _CLIENT_KEY.fullmatch(key):
        raise TidegateError(f"client auth private key for {address}: expected 52 base32 "
                            "characters")
    return f"{check_address(address)}:descriptor:x25519:{key}"


# -- bounded calls --------------------------------------------------------------------------

def _bounded(fn: Callable[[], T], timeout: float, name: str) -> T:
    """``fn()`` in a daemon thread; raises :class:`_Timeout` if it takes over ``timeout`` s."""
    result: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"tor-control {name}", daemon=True).start()
    if not done.wait(timeout):
        raise _Timeout
    if error:
        raise error[0]
    return result[0]


def _reply_error(response: Any) -> tuple[str, str]:
    """(code, text) of a failed reply's first line."""
    try:
        code, _, text = response.content()[0]
        return str(code), str(text)
    except (IndexError, ValueError, TypeError):
        return "?", str(response)


class TorControl:
    """An authenticated control connection to one tor.

    Give exactly one of ``socket`` (a unix control socket) or ``port`` (on 127.0.0.1).
    ``timeout`` bounds connecting and, by default, every later call.
    """

    def __init__(self, *, socket: Path | None = None, port: int | None = None,
                 password: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        if (socket is None) == (port is None):
            raise TidegateError("tor control: give either a control socket path or a port")
        if port is not None and not 1 <= port <= 65535:
            raise TidegateError(f"tor control port {port}: outside 1-65535")
        self.endpoint = (f"tor control socket {socket}" if socket is not None
                         else f"tor control port 127.0.0.1:{port}")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._closing = False
        self._disconnected = False
        self._on_disconnect: list[Callable[[], None]] = []
        opened: list[Any] = []
        abandoned = threading.Event()

        def connect() -> Any:
            if socket is not None:
                controller = stem.control.Controller.from_socket_file(str(socket))
            else:
                controller = stem.control.Controller.from_port("127.0.0.1", port)
            opened.append(controller)
            try:
                controller.authenticate(password=password)
            finally:
                if abandoned.is_set():  # stem may have reconnected after we gave up
                    controller.close()
            return controller

        try:
            self._controller = _bounded(connect, timeout, "connect")
        except BaseException as exc:
            abandoned.set()
            for controller in opened:
                _bounded_close(controller)
            raise self._error(exc, "connecting", timeout) from None
        self._controller.add_status_listener(self._status_changed, spawn=True)

    # -- plumbing ---------------------------------------------------------------------------

    def _error(self, exc: BaseException, what: str, timeout: float) -> TidegateError:
        if isinstance(exc, TidegateError):
            return exc
        if isinstance(exc, _Timeout):
            return TidegateError(f"{self.endpoint}: no answer to {what} within {timeout:g} s "
                                 "(connection closed)")
        if isinstance(exc, stem.connection.IncorrectSocketType):
            return TidegateError(f"{self.endpoint} does not speak tor's control protocol "
                                 f"({exc})")
        if isinstance(exc, stem.connection.AuthenticationFailure):
            return TidegateError(f"{self.endpoint}: authentication failed: {exc}")
        if isinstance(exc, stem.SocketClosed):
            return TidegateError(f"{self.endpoint}: the connection closed while {what} "
                                 "(did tor exit?)")
        if isinstance(exc, stem.SocketError):
            return TidegateError(f"cannot reach {self.endpoint}: {exc}")
        if isinstance(exc, stem.ProtocolError):
            return TidegateError(f"{self.endpoint}: not a tor control reply while {what} "
                                 f"({exc})")
        if isinstance(exc, stem.OperationFailed):
            return TidegateError(f"{self.endpoint}: tor refused {what}: {exc.code} "
                                 f"{exc.message}")
        return TidegateError(f"{self.endpoint}: {what} failed: {type(exc).__name__}: {exc}")

    def _call(self, what: str, fn: Callable[[], T], timeout: float | None = None) -> T:
        limit = self.timeout if timeout is None else timeout
        try:
            return _bounded(fn, limit, what)
        except _Timeout:
            # Not a deliberate close: disconnect callbacks fire. Closing also wakes the
            # abandoned call (stem hands it SocketClosed).
            _bounded_close(self._controller)
            raise self._error(_Timeout(), what, limit) from None
        except BaseException as exc:
            raise self._error(exc, what, limit) from None

    def _msg(self, command: str, what: str, timeout: float | None = None) -> Any:
        """Send a raw command; the reply if tor answered 250, else a TidegateError."""
        response = self._call(what, lambda: self._controller.msg(command), timeout)
        if not response.is_ok():
            code, text = _reply_error(response)
            raise TidegateError(f"{self.endpoint}: tor refused {what}: {code} {text}")
        return response

    def _status_changed(self, _controller: Any, state: Any, _timestamp: float) -> None:
        if state == stem.control.State.CLOSED:
            self._fire_disconnect()

    def _fire_disconnect(self) -> None:
        with self._lock:
            if self._disconnected:
                return
            self._disconnected = True
            callbacks = [] if self._closing else list(self._on_disconnect)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("tor control: a disconnect callback failed")

    # -- queries ----------------------------------------------------------------------------

    def is_alive(self) -> bool:
        """Whether the connection is still open (no I/O)."""
        return bool(self._controller.is_alive())

    def get_info(self, key: str, *, timeout: float | None = None) -> str:
        """``GETINFO key``: tor's value as text."""
        if not key or any(c.isspace() for c in key):
            raise TidegateError(f"GETINFO key {key!r}: must be one word")
        return str(self._call(f"GETINFO {key}", lambda: self._controller.get_info(key),
                              timeout))

    def signal(self, name: str, *, timeout: float | None = None) -> None:
        """``SIGNAL name`` (``SHUTDOWN``, ``HALT``, ``NEWNYM``, ``RELOAD``...)."""
        if not name.isalpha():
            raise TidegateError(f"tor signal {name!r}: not a signal name")
        try:
            self._msg(f"SIGNAL {name.upper()}", f"SIGNAL {name.upper()}", timeout)
        except TidegateError:
            # SHUTDOWN and HALT may close the connection before the reply arrives.
            if name.upper() in ("SHUTDOWN", "HALT") and not self.is_alive():
                return
            raise

    def detached_onions(self, *, timeout: float | None = None) -> list[str]:
        """Addresses (with ``.onion``) of the detached onion services tor runs."""
        text = self.get_info("onions/detached", timeout=timeout)
        return [line.strip() + SUFFIX for line in text.splitlines()
                if _ADDRESS.fullmatch(line.strip())]

    # -- onion services ---------------------------------------------------------------------

    def add_onion(self, seed: bytes, target: str, *, virtual_port: int = 80,
                  client_auth: Iterable[str] | None = None,
                  timeout: float | None = None) -> str:
        """Start the detached onion service of ``seed``; returns its ``<56>.onion`` address.

        ``target`` is where tor sends the service's streams (``unix:/path`` or ``IP:port``);
        ``client_auth`` lists base32 x25519 public keys: when given, only those clients can
        read the descriptor. The service outlives this connection (``Flags=Detach``) until
        :meth:`remove_onion` or tor exits. Returns without waiting for publication.
        """
        check_target(target)
        if not 1 <= virtual_port <= 65535:
            raise TidegateError(f"onion service port {virtual_port}: outside 1-65535")
        keys = [check_client_key(key) for key in client_auth or ()]
        expected = onion_address(seed)
        flags = "Detach,V3Auth" if keys else "Detach"
        command = (f"ADD_ONION ED25519-V3:{onion_key_blob(seed)} Flags={flags} "
                   f"Port={virtual_port},{target}" + "".join(f" ClientAuthV3={k}" for k in keys))
        what = f"ADD_ONION for {expected}"
        response = self._call(what, lambda: self._controller.msg(command), timeout)
        if not response.is_ok():
            code, text = _reply_error(response)
            if code == "550" and "collision" in text.lower():
                raise TidegateError(f"{self.endpoint}: onion service {expected} is already "
                                    "running in this tor (remove it first)")
            raise TidegateError(f"{self.endpoint}: tor refused {what} (target {target}): "
                                f"{code} {text}")
        try:
            stem.response.convert("ADD_ONION", response)
        except stem.ProtocolError as exc:
            raise self._error(exc, what, self.timeout) from None
        address = f"{response.service_id}{SUFFIX}"
        if address != expected:
            raise TidegateError(f"{self.endpoint}: tor answered ADD_ONION with {address}, "
                                f"not the key's address {expected}")
        return address

    def remove_onion(self, address: str, *, timeout: float | None = None) -> bool:
        """Stop an onion service (``DEL_ONION``); False if tor did not know it."""
        service_id = check_address(address)
        what = f"DEL_ONION for {service_id}{SUFFIX}"
        response = self._call(what, lambda: self._controller.msg(f"DEL_ONION {service_id}"),
                              timeout)
        if response.is_ok():
            return True
        code, text = _reply_error(response)
        if code == "552":  # "Unknown Onion Service id"
            return False
        raise TidegateError(f"{self.endpoint}: tor refused {what}: {code} {text}")

    # -- events -----------------------------------------------------------------------------

    def listen_descriptors(self, callback: Callable[[str, str], None], *,
                           timeout: float | None = None) -> Callable[[], None]:
        """Call ``callback(address, action)`` for each HS_DESC event; returns an unsubscriber.

        ``address`` has ``.onion``; ``action`` is tor's word (``UPLOAD``, ``UPLOADED``,
        ``FAILED``, ``CREATED``, ``REQUESTED``, ``RECEIVED``...). Events whose address tor
        left out (``UNKNOWN``) are skipped. The callback runs on stem's event thread and
        must not block; its exceptions are logged and dropped.
        """
        def listener(event: Any) -> None:
            address = getattr(event, "address", None)
            if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
                return
            try:
                callback(address + SUFFIX, str(event.action))
            except Exception:
                log.exception("tor control: an HS_DESC callback failed")

        event_type = stem.control.EventType.HS_DESC
        self._call("SETEVENTS HS_DESC",
                   lambda: self._controller.add_event_listener(listener, event_type), timeout)

        def unsubscribe() -> None:
            if not self.is_alive():
                return
            try:
                self._call("SETEVENTS (unsubscribe HS_DESC)",
                           lambda: self._controller.remove_event_listener(listener), timeout)
            except TidegateError:
                pass  # best effort: the connection is going away

        return unsubscribe

    def on_disconnect(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` once when the connection drops (not after :meth:`close`).

        Runs on a thread of stem's; if the connection is already gone it runs now. Returns a
        function that cancels the callback. The callback should return promptly: :meth:`close`
        waits for it.
        """
        with self._lock:
            already = self._disconnected
            if not already:
                self._on_disconnect.append(callback)
        if already and not self._closing:
            callback()
        elif not self.is_alive():
            self._fire_disconnect()

        def cancel() -> None:
            with self._lock:
                if callback in self._on_disconnect:
                    self._on_disconnect.remove(callback)

        return cancel

    def close(self) -> None:
        """Close the connection (idempotent; detached onion services keep running)."""
        with self._lock:
            self._closing = True
        _bounded_close(self._controller)

    def __enter__(self) -> TorControl:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TorControl {self.endpoint} {'open' if self.is_alive() else 'closed'}>"


def _bounded_close(controller: Any, timeout: float = 5.0) -> None:
    try:
        _bounded(controller.close, timeout, "close")
    except _Timeout:
        log.warning("tor control: closing the connection took over %s s; left behind", timeout)
    except Exception as exc:  # closing is best effort
        log.debug("tor control: close failed: %s", exc)
