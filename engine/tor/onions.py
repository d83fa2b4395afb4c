"""Keep a set of onion services published on whichever tor we are attached to.

:class:`OnionPublisher` holds the desired services (seed, target, client keys) and a status
per address. Attaching a :class:`~engine.tor.control.TorControl` adds every desired service
to that tor, also after tor restarted or the control connection dropped and came back; the
caller notices those (``TorControl.on_disconnect``, a restarted ``ManagedTor``) and attaches
the new connection. HS_DESC ``UPLOADED`` events count descriptor uploads.

No threads of its own: methods run on the caller's thread, except that event and disconnect
notices arrive on stem's threads. A lock guards the state and is never held during I/O;
``changed()`` is called (without locks held, on whichever thread made the change) whenever a
status changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import TidegateError
from .control import SUFFIX, TorControl, check_address, check_client_key, check_target
from .keys import onion_address

STATES = frozenset({"publishing", "published", "uploaded", "error", "removed"})
"""``publishing``: wanted, not (yet) on a tor; ``published``: tor runs it (ADD_ONION done);
``uploaded``: an HSDir took its descriptor; ``error``: see ``error``; ``removed``: unpublished."""


@dataclass(frozen=True)
class OnionStatus:
    """Where one onion service stands."""

    address: str
    state: str
    descriptors: int = 0
    """Descriptor uploads HSDirs accepted since the service was last added to tor."""
    error: str = ""


@dataclass(frozen=True)
class _Service:
    seed: bytes
    target: str
    client_auth: tuple[str, ...]
    virtual_port: int


class OnionPublisher:
    """The onion services we want published, and how each is doing."""

    def __init__(self, changed: Callable[[], None] | None = None) -> None:
        self._changed = changed
        self._ops = threading.RLock()  # one publish/unpublish/attach/detach at a time (I/O)
        self._lock = threading.Lock()  # the fields below; never held during I/O
        self._desired: dict[str, _Service] = {}
        self._status: dict[str, OnionStatus] = {}
        self._live: dict[str, _Service] = {}  # added by us to the attached tor, as added
        self._stale: set[str] = set()  # unpublished, but maybe still running in a tor
        self._control: TorControl | None = None
        self._generation = 0  # bumped on every attach/detach/disconnect: old notices are void
        self._unsubscribe: list[Callable[[], None]] = []
        self._dirty = False

    # -- state (call with self._lock held) --------------------------------------------------

    def _set(self, address: str, state: str, descriptors: int = 0, error: str = "") -> None:
        status = OnionStatus(address, state, descriptors, error)
        if self._status.get(address) != status:
            self._status[address] = status
            self._dirty = True

    def _lose_control(self, reason: str) -> None:
        self._control = None
        self._generation += 1
        self._live.clear()
        self._unsubscribe = []
        for address in self._desired:
            self._set(address, "error", error=reason)

    def _notify(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, False
        if dirty and self._changed is not None:
            self._changed()

    # -- queries ----------------------------------------------------------------------------

    def statuses(self) -> dict[str, OnionStatus]:
        """Every address ever published here (removed ones too), to its status."""
        with self._lock:
            return dict(self._status)

    @property
    def control(self) -> TorControl | None:
        """The attached control connection, if any."""
        return self._control

    # -- desired set ------------------------------------------------------------------------

    def publish(self, seed: bytes, target: str, client_auth: Iterable[str] = (), *,
                virtual_port: int = 80) -> str:
        """Want the onion service of ``seed`` (streams go to ``target``); returns its address.

        Arguments are checked now (TidegateError); tor's refusals end up in the status.
        Publishing again with other settings replaces the running service.
        """
        address = onion_address(seed)
        check_target(target)
        if not 1 <= virtual_port <= 65535:
            raise TidegateError(f"onion service port {virtual_port}: outside 1-65535")
        service = _Service(bytes(seed), target, tuple(check_client_key(k) for k in client_auth),
                           virtual_port)
        with self._ops:
            with self._lock:
                self._desired[address] = service
                self._stale.discard(address)
                control, generation = self._control, self._generation
                running = self._live.get(address)
                if control is None:
                    self._set(address, "publishing")
            if control is not None and running != service:
                self._add(control, generation, address, service, replace=running is not None)
        self._notify()
        return address

    def unpublish(self, address: str) -> None:
        """Stop wanting ``address`` and remove it from the attached tor (no-op if unknown)."""
        address = check_address(address) + SUFFIX
        with self._ops:
            with self._lock:
                if address not in self._desired and address not in self._status:
                    return
                self._desired.pop(address, None)
                self._live.pop(address, None)
                control = self._control
            removed = False
            if control is not None:
                try:
                    control.remove_onion(address)
                    removed = True
                except TidegateError:
                    pass  # kept in _stale: removed on the next attach if tor still has it
            with self._lock:
                if not removed:
                    self._stale.add(address)
                self._set(address, "removed")
        self._notify()

    # -- tor connection ---------------------------------------------------------------------

    def attach(self, control: TorControl) -> None:
        """Publish every desired service on the tor behind ``control``.

        Services tor still runs from an earlier connection are replaced (so their settings
        are current); ones unpublished meanwhile are removed. Raises TidegateError if the
        connection does not work at all; a refused service gets state ``error``.
        """
        with self._ops:
            self._detach(quiet=True)
            with self._lock:
                self._generation += 1
                generation = self._generation
                self._control = control
                self._live.clear()
            try:
                unsubscribe = [
                    control.listen_descriptors(
                        lambda address, action: self._descriptor(generation, address, action)),
                    control.on_disconnect(lambda: self._disconnected(generation, control)),
                ]
                present = set(control.detached_onions())
            except TidegateError as exc:
                with self._lock:
                    if self._generation == generation:
                        self._lose_control(str(exc))
                self._notify()
                raise
            with self._lock:
                if self._generation == generation:
                    self._unsubscribe = unsubscribe
                stale = present & self._stale
                desired = dict(self._desired)
            for address in sorted(stale):
                try:
                    control.remove_onion(address)
                    with self._lock:
                        self._stale.discard(address)
                except TidegateError:
                    pass
            for address, service in desired.items():
                self._add(control, generation, address, service, replace=address in present)
        self._notify()

    def detach(self) -> None:
        """Forget the attached connection (its tor keeps running the services)."""
        with self._ops:
            self._detach(quiet=False)
        self._notify()

    def _detach(self, quiet: bool) -> None:
        with self._lock:
            unsubscribe, self._unsubscribe = self._unsubscribe, []
            self._control = None
            self._generation += 1
            self._live.clear()
            if not quiet:
                for address in self._desired:
                    self._set(address, "publishing")
        for cancel in unsubscribe:
            cancel()

    def _add(self, control: TorControl, generation: int, address: str, service: _Service,
             *, replace: bool) -> None:
        """ADD_ONION (after DEL_ONION if tor may have it already); records the outcome."""
        with self._lock:
            if self._generation == generation:
                self._set(address, "publishing")
        try:
            if replace:
                control.remove_onion(address)
            control.add_onion(service.seed, service.target, virtual_port=service.virtual_port,
                              client_auth=service.client_auth)
        except TidegateError as exc:
            with self._lock:
                if self._generation == generation and self._desired.get(address) == service:
                    self._live.pop(address, None)
                    self._set(address, "error", error=str(exc))
            return
        with self._lock:
            if self._generation == generation and self._desired.get(address) == service:
                self._live[address] = service
                self._set(address, "published")

    # -- notices from stem's threads --------------------------------------------------------

    def on_descriptor(self, address: str, action: str) -> None:
        """An HS_DESC notice for the attached tor (``attach`` routes them here)."""
        with self._lock:
            generation = self._generation
        self._descriptor(generation, address, action)

    def _descriptor(self, generation: int, address: str, action: str) -> None:
        with self._lock:
            if generation != self._generation or address not in self._live:
                return
            if action == "UPLOADED":
                status = self._status[address]
                self._set(address, "uploaded", status.descriptors + 1)
        self._notify()

    def _disconnected(self, generation: int, control: TorControl) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._lose_control(f"lost the connection to tor ({control.endpoint}); "
                               "waiting to be attached again")
        self._notify()
