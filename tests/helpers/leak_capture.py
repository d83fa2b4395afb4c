"""Records every IP packet on every interface of the network namespace it runs in.

``python -m tests.helpers.leak_capture OUT READY``: opens an AF_PACKET socket for all protocols
(root only), touches READY once it listens, and until SIGTERM writes one JSON line per
packet to OUT: interface, direction, IP version, protocol, source and destination with
ports (TCP flags too). No filtering here: the test judges every packet.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import Any

ETH_P_ALL = 0x0003


def parse(frame: bytes) -> dict[str, Any] | None:
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        proto, src, dst = ip[9], ip[12:16], ip[16:20]
        payload, version = ip[ihl:], 4
    elif ethertype == 0x86DD and len(ip) >= 40:
        proto, src, dst = ip[6], ip[8:24], ip[24:40]
        payload, version = ip[40:], 6
    else:
        return {"ethertype": ethertype}
    out: dict[str, Any] = {"v": version, "proto": proto,
                           "src": str(ipaddress.ip_address(src)),
                           "dst": str(ipaddress.ip_address(dst))}
    if proto in (6, 17) and len(payload) >= 4:
        out["sport"], out["dport"] = struct.unpack_from("!HH", payload, 0)
        if proto == 6 and len(payload) >= 14:
            out["flags"] = payload[13]
    return out


def main(out: Path, ready: Path) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.settimeout(0.2)
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_term)
    names = {i: n for i, n in socket.if_nameindex()}
    with out.open("w") as f:
        ready.touch()
        while not stop:
            try:
                frame, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except InterruptedError:
                continue
            pkt = parse(frame)
            if pkt is not None:
                pkt["if"] = addr[0] if isinstance(addr[0], str) else names.get(addr[0], "?")
                pkt["dir"] = addr[2]  # 0 to us, 4 outgoing (PACKET_OUTGOING)
                f.write(json.dumps(pkt) + "\n")
                f.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
