"""The link endpoint's sockets: one ROUTER that receives, one DEALER per peer node.

Owned by the sites thread (pyzmq sockets belong to one thread). Nothing received is
trusted: every frame is bounded by ``ZMQ_MAXMSGSIZE`` (a peer sending more is
disconnected by ZeroMQ), decoded strictly by :mod:`.link_messages` and judged by its
content. The sender's address comes from the connection (``Peer-Address``), never from
the message. No CURVE: what travels is signed by the site's key, so a link needs no
authentication of its peer to be safe (docs/sites.md "How an update travels").

A peer is a node's link endpoint ``(ip, port)``, shared by every site both nodes hold.
It is connected when its DEALER's monitor says so; one never connected within
:data:`CONNECT_GRACE` s or disconnected for that long is dropped (it is found again
through the DHT, or when it links to us).
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from .link_messages import MAX_MESSAGE

CONNECT_GRACE = 30.0
"""Seconds a peer may stay unconnected before it is dropped."""
MAX_PEERS = 128
"""Peer sockets at most, whatever the sites and ``sites.max_links`` say: each costs a
DEALER and its monitor (about three file descriptors with its connection), and libzmq
aborts the process when it runs out of them (FACTS.md)."""
RECV_HWM = 1000
SEND_HWM = 64
RECV_BATCH = 500
"""Messages read per wake-up (the rest wait for the next poll)."""

Endpoint = tuple[str, int]


@dataclass
class Peer:
    endpoint: Endpoint
    dealer: Any
    monitor: Any
    sites: set[str] = field(default_factory=set)
    connected: bool = False
    since: float = 0.0
    """When it was made, or last lost its connection (monotonic)."""
    bt: str = ""
    """The node's BitTorrent endpoint (``ip:port``), once a message of it named its port:
    a peer for the site's torrents that no DHT lookup has to find."""


def url(ip: str, port: int, bind: bool = False) -> str:
    if ip in ("0.0.0.0", "::") and bind:
        return f"tcp://*:{port or '*'}" if ip == "0.0.0.0" else f"tcp://[::]:{port or '*'}"
    host = f"[{ip}]" if ":" in ip else ip
    return f"tcp://{host}:{port or '*'}"


class LinkNet:
    """The sockets of one node's link endpoint.

    Args:
        listen: the address to bind (``sites.link_listen``).
        port: the port (``sites.link_port``; 0 picks one: :attr:`port` says which).
        context: the ZeroMQ context (the monitors' inproc sockets live in it).
    """

    def __init__(self, listen: str, port: int, context: Any = None):
        self.context = context or zmq.Context.instance()
        self.router = self.context.socket(zmq.ROUTER)
        r = self.router
        r.setsockopt(zmq.LINGER, 0)
        r.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        r.setsockopt(zmq.RCVHWM, RECV_HWM)
        r.setsockopt(zmq.SNDHWM, 1)  # it never sends
        if ":" in listen:
            r.setsockopt(zmq.IPV6, 1)
        try:
            r.bind(url(listen, port, bind=True))
        except zmq.ZMQError:
            r.close(0)
            raise
        self.port = int(r.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])
        self.source = "" if listen in ("0.0.0.0", "::") else listen
        """Links made from here leave from this address (the one listened on), so a node
        bound to one interface (a VPN's) never links from another."""
        self.peers: dict[Endpoint, Peer] = {}
        self.dropped = 0
        """Messages not sent because a peer's queue was full."""

    def receive(self) -> list[tuple[str, bytes]]:
        """What arrived: ``(sender ip, data)``; multipart messages are dropped here."""
        got: list[tuple[str, bytes]] = []
        for _ in range(RECV_BATCH):
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            if len(frames) != 2:
                got.append(("", b""))  # a malformed message, counted by the caller
                continue
            data = frames[1]
            try:
                ip = str(data.get("Peer-Address"))
            except zmq.ZMQError:
                ip = ""
            got.append((ip, data.bytes))
        return got

    def connect(self, endpoint: Endpoint) -> tuple[Peer | None, bool]:
        """The peer at ``endpoint`` (made now when new: ``True``); None past
        :data:`MAX_PEERS` or for an address that is not an IP."""
        peer = self.peers.get(endpoint)
        if peer is not None:
            return peer, False
        if len(self.peers) >= MAX_PEERS:
            return None, False
        ip, port = endpoint
        try:
            v6 = ipaddress.ip_address(ip).version == 6
        except ValueError:
            return None, False
        d = self.context.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.SNDHWM, SEND_HWM)
        d.setsockopt(zmq.RCVHWM, 1)
        d.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        d.setsockopt(zmq.RECONNECT_IVL, 500)
        d.setsockopt(zmq.RECONNECT_IVL_MAX, 10_000)
        if v6:
            d.setsockopt(zmq.IPV6, 1)
        monitor = d.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        if self.source and (":" in self.source) == v6:
            source = f"[{self.source}]" if v6 else self.source
            d.connect(f"tcp://{source}:0;{url(ip, port)[len('tcp://'):]}")
        elif self.source:  # the other address family than the one bound: not reachable
            d.close(0)
            monitor.close(0)
            return None, False
        else:
            d.connect(url(ip, port))
        peer = Peer(endpoint, d, monitor, since=time.monotonic())
        self.peers[endpoint] = peer
        return peer, True

    def send(self, peer: Peer, data: bytes) -> bool:
        try:
            peer.dealer.send(data, zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            return False
        return True

    def watch(self, mono: float) -> list[Peer]:
        """Read the peers' connection events; drop (and return) the peers gone for
        longer than :data:`CONNECT_GRACE`."""
        gone = []
        for peer in list(self.peers.values()):
            while True:
                try:
                    event = recv_monitor_message(peer.monitor, zmq.NOBLOCK)
                except zmq.Again:
                    break
                if event["event"] == zmq.EVENT_CONNECTED:
                    peer.connected = True
                elif event["event"] == zmq.EVENT_DISCONNECTED and peer.connected:
                    peer.connected, peer.since = False, mono
            if not peer.connected and mono - peer.since > CONNECT_GRACE:
                gone.append(peer)
                self.drop(peer)
        return gone

    def drop(self, peer: Peer) -> None:
        if self.peers.get(peer.endpoint) is peer:
            del self.peers[peer.endpoint]
        with contextlib.suppress(zmq.ZMQError):
            peer.dealer.disable_monitor()
        peer.monitor.close(0)
        peer.dealer.close(0)

    def close(self) -> None:
        for peer in list(self.peers.values()):
            self.drop(peer)
        self.router.close(0)
