"""A private Tor network on 127.0.0.1 for tests, built from tor's own options.

The layout and the options follow chutney (torproject/chutney, the reference for
private tor networks): ``torrc_templates/common.i`` (every node),
``authority.i`` (voting timing), ``relay-non-exit.tmpl`` and ``exit-v4.i``.

    with TorNet(tmp_path / "net") as net:       # authorities and relays start here
        client = net.start_client("client")
        net.wait_bootstrapped(timeout=300)
        # ... SOCKS5 to 127.0.0.1:client.socks_port ...
        options = net.client_torrc(some_dir)     # for a tor started by other code

Everything listens on 127.0.0.1 only, every tor logs to ``notice.log`` and ``info.log``
in its own data directory (tor's own stdout goes to ``stdout.log``), errors carry the
tails of those logs, and :meth:`TorNet.stop` ends every tor this object started, by pid.

Timing (3 authorities + 5 relays + a client, 2 CPUs): keys ~4 s, first consensus ~17 s
after launch, client bootstrapped with all 8 routers ~2 s later. Three measures make that
reliable (each explained where it is set): the first vote is scheduled after every relay
has uploaded its descriptor (TestingV3AuthVotingStartOffset); from the first consensus
every relay has the same measured bandwidth and every router the Stable flag; and relays
and clients get a SIGHUP when the first consensus appears, so they fetch it at once
instead of after their exponential back-off. Without them: 15-65 s, mostly spent
waiting for later consensuses.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from stem.control import Controller

TOR = shutil.which("tor") or "/usr/sbin/tor"
TOR_GENCERT = shutil.which("tor-gencert") or "/usr/bin/tor-gencert"

T = TypeVar("T")
TorrcValue = str | list[str]
Torrc = dict[str, TorrcValue]

# chutney torrc_templates/common.i, "Rapid Bootstrap" and "Always On" sections: the
# options every node of the network, clients and onion services included, carries.
TESTING_OPTIONS: Torrc = {
    "TestingTorNetwork": "1",
    "AssumeReachable": "1",
    # At least 3 descriptors before building circuits (0.67 > 2/3 in a 3-relay net).
    "PathsNeededToBuildCircuits": "0.67",
    "TestingDirAuthVoteExit": "*",
    "TestingDirAuthVoteHSDir": "*",
    "V3AuthNIntervalsValid": "2",
    "TestingDirAuthVoteGuard": "*",
    "TestingMinExitFlagThreshold": "0",
}


def voting_options(interval: int = 20) -> Torrc:
    """Authority timing, chutney torrc_templates/authority.i: interval 20 s, vote and
    dist delays 4 s each (chutney went from 5-10 s to 20 s because shorter cycles were
    unstable on mixed-version networks). Vote + Dist must stay below Interval/2: with
    no consensus yet, tor votes every Interval/2. Intervals must divide 24 hours."""
    if interval < 10 or 86400 % interval:
        raise ValueError(f"voting interval {interval} s: need >= 10 and dividing 24 h")
    delay = str(max(2, interval // 5))
    return {
        "TestingV3AuthInitialVotingInterval": str(interval),
        "TestingV3AuthInitialVoteDelay": delay,
        "TestingV3AuthInitialDistDelay": delay,
        "V3AuthVotingInterval": str(interval),
        "V3AuthVoteDelay": delay,
        "V3AuthDistDelay": delay,
    }


# Microdescriptors summarise an exit policy by ports open to (nearly) all addresses, so
# "accept 127.0.0.0/8:*, reject *:*" reads as "reject 1-65535" and a microdescriptor
# client sees no exit at all ("The current consensus has no exit nodes", tor #11264,
# chutney exit-v4.i). A client using full descriptors sees the real policy and can exit
# to 127.0.0.1. Onion services need no exit.
LOOPBACK_EXIT_OPTIONS: Torrc = {"UseMicrodescriptors": "0"}

_NAME = re.compile(r"^[A-Za-z0-9]{1,19}$")  # also a valid tor Nickname
_FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")


class TorNetError(RuntimeError):
    """The network (or one of its tors) failed; the message carries log tails."""


# ----------------------------------------------------------------------------------------
# small helpers, usable on their own


def format_torrc(options: Mapping[str, TorrcValue]) -> str:
    """A torrc text: one ``Key value`` line per value (lists give repeated lines)."""
    lines: list[str] = []
    for key, value in options.items():
        values = [value] if isinstance(value, str) else list(value)
        for v in values:
            if "\n" in v or "\r" in v:
                raise ValueError(f"newline in torrc value for {key}: {v!r}")
            lines.append(f"{key} {v}")
    return "\n".join(lines) + "\n"


def merge_torrc(*parts: Mapping[str, TorrcValue]) -> Torrc:
    """Later parts override earlier ones, key by key (a list replaces a list)."""
    out: Torrc = {}
    for part in parts:
        for key, value in part.items():
            out[key] = value if isinstance(value, str) else list(value)
    return out


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file, or a note that it is missing."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"<{path}: {e.strerror}>"
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def stop_popen(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL and reap. Never raises for a
    process that is already gone."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)


def port_is_free(port: int) -> bool:
    """Whether a TCP listener could bind 127.0.0.1:``port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class PortAllocator:
    """Hands out distinct free 127.0.0.1 TCP ports, counting up from ``base``.

    Without a base, a random one below the kernel's ephemeral range: the tors make
    many outgoing connections, whose local ports come from that range and could
    otherwise take a port between our check and tor's bind.
    """

    def __init__(self, base: int | None = None) -> None:
        if base is None:
            top = max(_ephemeral_low() - 2000, 12000)
            base = random.randrange(10000, top)
        if not 1024 <= base <= 65000:
            raise ValueError(f"base_port {base} out of range")
        self._next = base
        self.taken: list[int] = []

    def take(self) -> int:
        while self._next <= 65535:
            port = self._next
            self._next += 1
            if port_is_free(port):
                self.taken.append(port)
                return port
        raise TorNetError("no free 127.0.0.1 port left")


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until something accepts on 127.0.0.1:``port``; fail early if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise TorNetError(f"exited with {proc.returncode} before 127.0.0.1:{port} opened")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise TorNetError(f"127.0.0.1:{port} did not open within {timeout:.0f} s")
        time.sleep(0.1)


def connect_controller(port: int, timeout: float = 10.0) -> Any:
    """An authenticated stem Controller on 127.0.0.1:``port`` (cookie or no auth)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            controller = Controller.from_port(address="127.0.0.1", port=port)
            controller.authenticate()
            return controller
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def bounded(fn: Callable[[], T], timeout: float, what: str) -> T:
    """``fn()`` in a daemon thread, waited for at most ``timeout`` seconds: stem's
    Controller calls have no timeout of their own and block on a wedged tor."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as e:  # handed to the caller
            error.append(e)

    worker = threading.Thread(target=run, name=f"bounded {what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"{what}: no answer within {timeout:g} s")
    if error:
        raise error[0]
    return result[0]


def bootstrap_progress(controller: Any) -> tuple[int, str]:
    """(percent, summary) from ``GETINFO status/bootstrap-phase``."""
    phase = controller.get_info("status/bootstrap-phase")
    m = re.search(r"PROGRESS=(\d+)", phase)
    s = re.search(r'SUMMARY="([^"]*)"', phase)
    return (int(m.group(1)) if m else 0, s.group(1) if s else phase)


def consensus_routers(controller: Any) -> dict[str, set[str]]:
    """Nickname -> flags of every router in this tor's current consensus."""
    text = controller.get_info("ns/all", "")
    routers: dict[str, set[str]] = {}
    nick = ""
    for line in text.splitlines():
        if line.startswith("r "):
            nick = line.split()[1]
            routers[nick] = set()
        elif line.startswith("s ") and nick:
            routers[nick] = set(line.split()[1:])
    return routers


# ----------------------------------------------------------------------------------------
# processes


@dataclass
class TorProcess:
    """One tor we started: its pid is ``popen.pid``; logs are in ``data_dir``."""

    name: str
    data_dir: Path
    popen: subprocess.Popen[bytes]
    control_port: int

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def log(self) -> Path:
        return self.data_dir / "notice.log"

    def tail(self, lines: int = 30) -> str:
        out = f"--- {self.name} (pid {self.pid}) {self.log}\n{log_tail(self.log, lines)}"
        stdout = self.data_dir / "stdout.log"
        if self.popen.poll() is not None:
            out += f"\n--- {self.name} exited {self.popen.returncode}; {stdout}\n"
            out += log_tail(stdout, lines)
        return out


def launch_tor(
    name: str,
    data_dir: Path,
    options: Mapping[str, TorrcValue],
    *,
    control_port: int,
    wait: float = 30.0,
) -> TorProcess:
    """Write ``data_dir/torrc`` from ``options`` and start ``tor -f`` on it.

    tor's stdout/stderr go to ``data_dir/stdout.log`` (startup messages before the
    torrc's Log line takes over). Waits until ``control_port`` accepts connections,
    so a tor that rejects its config or cannot bind fails here, with its output.
    """
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    torrc = data_dir / "torrc"
    torrc.write_text(format_torrc(options))
    defaults = data_dir / "torrc-defaults"  # keep /etc/tor/torrc-defaults out
    defaults.write_text("")
    with (data_dir / "stdout.log").open("ab") as out:
        popen = subprocess.Popen(
            [TOR, "-f", str(torrc), "--defaults-torrc", str(defaults)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    proc = TorProcess(name, data_dir, popen, control_port)
    try:
        wait_port(control_port, popen, wait)
    except TorNetError as e:
        stop_popen(popen)
        raise TorNetError(f"tor {name} did not start: {e}\n{proc.tail()}") from None
    except BaseException:
        stop_popen(popen)
        raise
    return proc


@dataclass
class Node:
    """An authority or relay of the network."""

    name: str
    role: str  # "authority" | "relay"
    data_dir: Path
    or_port: int
    dir_port: int
    control_port: int
    fingerprint: str = ""  # relay identity (RSA), hex
    v3ident: str = ""  # authority identity, hex (authorities only)


@dataclass(frozen=True)
class Client:
    """A plain tor client started by :meth:`TorNet.start_client`."""

    name: str
    socks_port: int
    control_port: int
    pid: int
    data_dir: Path


@dataclass
class _State:
    procs: list[TorProcess] = field(default_factory=list)
    controllers: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
# the network


class TorNet:
    """A private tor network: ``authorities`` directory authorities (also relays) and
    ``relays`` exit relays that exit only to 127.0.0.0/8.

    ``__init__`` picks free ports and makes the keys (tor-gencert, --list-fingerprint);
    :meth:`start` (or entering the ``with`` block) writes the torrcs and launches the
    authorities, then the relays. :meth:`stop` (or leaving the block) stops everything
    this object launched, also after a failed start.

    ``voting_interval``: seconds per consensus (chutney: 20; 10 also works here, but
    then the first vote cannot wait for the relays, see :meth:`_first_vote_offset`).
    ``align_first_vote``: schedule the first vote after the relays are up.
    """

    def __init__(
        self,
        root: Path,
        *,
        authorities: int = 3,
        relays: int = 5,
        base_port: int | None = None,
        voting_interval: int = 20,
        align_first_vote: bool = True,
    ) -> None:
        self.voting_interval = voting_interval
        self.voting = voting_options(voting_interval)
        self.align_first_vote = align_first_vote
        if authorities < 1:
            raise ValueError("a tor network needs at least one directory authority")
        if relays < 0:
            raise ValueError("relays must be >= 0")
        if authorities + relays < 3:
            raise ValueError("circuits need at least 3 routers")
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.ports = PortAllocator(base_port)
        self._state = _State()
        self.clients: list[Client] = []
        self.nodes: list[Node] = []
        self._started = False
        self._stopped = False
        self._kick_stop = threading.Event()
        self._kicker: threading.Thread | None = None
        self.first_consensus_after: float | None = None  # seconds after start()
        for i in range(authorities):
            self.nodes.append(self._new_node(f"auth{i}", "authority"))
        for i in range(relays):
            self.nodes.append(self._new_node(f"relay{i}", "relay"))
        for node in self.nodes:
            if node.role == "authority":
                self._gencert(node)
            node.fingerprint = self._fingerprint(node)
        self.dir_authority_lines = [
            f"{n.name} orport={n.or_port} no-v2 v3ident={n.v3ident} "
            f"127.0.0.1:{n.dir_port} {n.fingerprint}"
            for n in self.authorities
        ]
        self.bandwidths_file = self.root / "bandwidths"
        # Exits resolve through this file, so they never ask a DNS server off loopback.
        self.resolv_conf = self.root / "resolv.conf"
        self.resolv_conf.write_text("nameserver 127.0.0.1\n")

    # -- layout ----------------------------------------------------------------------

    @property
    def authorities(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "authority"]

    @property
    def relays(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "relay"]

    @property
    def processes(self) -> list[TorProcess]:
        return list(self._state.procs)

    @property
    def pids(self) -> list[int]:
        """Every tor pid this network started (authorities, relays, clients)."""
        return [p.pid for p in self._state.procs]

    def _new_node(self, name: str, role: str) -> Node:
        data_dir = self.root / name
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Node(
            name=name,
            role=role,
            data_dir=data_dir,
            or_port=self.ports.take(),
            dir_port=self.ports.take(),
            control_port=self.ports.take(),
        )

    def _gencert(self, node: Node) -> None:
        keys = node.data_dir / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        cert = keys / "authority_certificate"
        cmd = [
            TOR_GENCERT,
            "--create-identity-key",
            "--passphrase-fd", "0",
            "-i", str(keys / "authority_identity_key"),
            "-s", str(keys / "authority_signing_key"),
            "-c", str(cert),
            "-m", "12",
            "-a", f"127.0.0.1:{node.dir_port}",
        ]  # fmt: skip
        run = subprocess.run(
            cmd, input=b"\n", capture_output=True, timeout=120, cwd=node.data_dir
        )
        if run.returncode != 0 or not cert.exists():
            raise TorNetError(
                f"tor-gencert for {node.name} failed ({run.returncode}):\n"
                + (run.stdout + run.stderr).decode("utf-8", "replace")
            )
        for line in cert.read_text().splitlines():
            if line.startswith("fingerprint "):
                node.v3ident = line.split()[1].strip()
        if not _FINGERPRINT.match(node.v3ident):
            raise TorNetError(f"no v3ident in {cert}")

    def _fingerprint(self, node: Node) -> str:
        """Create the relay identity keys and read the fingerprint, like chutney:
        ``tor --list-fingerprint`` with a minimal torrc and ``--ORPort 1``."""
        minimal = node.data_dir / "torrc.fingerprint"
        minimal.write_text(format_torrc({"DataDirectory": str(node.data_dir)}))
        empty = node.data_dir / "torrc-defaults"
        empty.write_text("")
        cmd = [
            TOR,
            "--ignore-missing-torrc",
            "-f", str(minimal),
            "--defaults-torrc", str(empty),
            "--DataDirectory", str(node.data_dir),
            "--ORPort", "1",
            "--Nickname", node.name,
            "--list-fingerprint",
            "--quiet",
        ]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, timeout=120, cwd=node.data_dir)
        out = (run.stdout + run.stderr).decode("utf-8", "replace")
        lines = out.strip().splitlines()
        fingerprint = "".join(lines[-1].split()[1:]) if lines else ""
        if run.returncode != 0 or not _FINGERPRINT.match(fingerprint):
            raise TorNetError(f"tor --list-fingerprint for {node.name} failed:\n{out}")
        return fingerprint

    # -- torrcs ----------------------------------------------------------------------

    def network_options(self) -> Torrc:
        """Only the options that join a tor to this network: chutney common.i's testing
        options and the DirAuthority lines. No DataDirectory, Log or ports, so they can
        go into a launcher that owns those (e.g. ``ManagedTor(extra=...)``, which refuses
        a DataDirectory in its extra options)."""
        return merge_torrc(TESTING_OPTIONS, {"DirAuthority": list(self.dir_authority_lines)})

    def _common(self, data_dir: Path, nickname: str | None) -> Torrc:
        """chutney common.i: network options, data dir, logs (notice + info, as chutney)."""
        opts = merge_torrc(
            self.network_options(),
            {
                "DataDirectory": str(data_dir),
                "Log": [
                    f"notice file {data_dir / 'notice.log'}",
                    f"info file {data_dir / 'info.log'}",
                ],
                "SafeLogging": "0",
                "LogTimeGranularity": "1",
                "ProtocolWarnings": "1",
            },
        )
        if nickname:
            opts["Nickname"] = nickname
        return opts

    def client_torrc(self, data_dir: Path) -> Torrc:
        """The options a client or onion-service tor needs to join this network:
        :meth:`network_options` plus ``DataDirectory data_dir`` and logs to
        ``data_dir/notice.log`` and ``info.log``.

        Merge in the ports you want (``SocksPort``, ``ControlPort`` ...); nothing here
        opens a port. Such a tor can reach onion services; to use the exits (which
        accept only 127.0.0.0/8) add :data:`LOOPBACK_EXIT_OPTIONS`.
        """
        return self._common(Path(data_dir).resolve(), None)

    def _router_torrc(self, node: Node) -> Torrc:
        opts = self._common(node.data_dir, node.name)
        opts.update(
            {
                # RunAsDaemon stays 0: we keep the pid of the process we start.
                "ShutdownWaitLength": "0",
                "PidFile": str(node.data_dir / "pid"),
                "ControlPort": f"127.0.0.1:{node.control_port}",
                "CookieAuthentication": "1",
                "__OwningControllerProcess": str(os.getpid()),
                "SocksPort": "0",
                "ORPort": f"127.0.0.1:{node.or_port}",
                "DirPort": f"127.0.0.1:{node.dir_port}",
                "Address": "127.0.0.1",
                "AddressDisableIPv6": "1",
                "ContactInfo": f"{node.name}@test.test",
                "ServerDNSResolvConfFile": str(self.resolv_conf),
                "ServerDNSDetectHijacking": "0",
            }
        )
        if node.role == "authority":
            # chutney authority.tmpl: relay-non-exit + authority.i
            opts.update(
                {
                    "AuthoritativeDirectory": "1",
                    "V3AuthoritativeDirectory": "1",
                    "ExitRelay": "0",
                    "ExitPolicy": "reject *:*",
                    # Stable is otherwise voted only for routers above the median uptime
                    # ("Cutoffs: For Stable, 8 sec uptime" in the first vote), i.e. about
                    # half of a network that just started, and onion-service circuits
                    # want Stable hops. A precaution: fewer refused circuits ("extend
                    # back to the previous hop"), no measured effect on bootstrap time.
                    "AuthDirVoteStableGuaranteeMinUptime": "0",
                    "AuthDirVoteStableGuaranteeMTBF": "0",
                    # Equal "measured" bandwidths for every router (see _write_bandwidths).
                    "V3BandwidthsFile": str(self.bandwidths_file),
                }
            )
            opts.update(self.voting)
        else:
            # chutney exit-v4.i, restricted to loopback
            opts.update(
                {
                    "ExitRelay": "1",
                    "ExitPolicyRejectPrivate": "0",
                    "ExitPolicy": ["accept 127.0.0.0/8:*", "reject *:*"],
                }
            )
        return opts

    # -- lifecycle -------------------------------------------------------------------

    def _first_vote_offset(self) -> int:
        """A TestingV3AuthVotingStartOffset that puts the first vote a few seconds after
        every relay has started and uploaded its descriptor (relays upload ~1 s after
        start). Without it the schedule is fixed by the wall clock, and a network that
        starts just before a vote gets a first consensus with only the routers known by
        then, and waits whole intervals for a complete one. chutney's test-network.sh
        once set this offset the same way, from the current time."""
        interval = self.voting_interval
        delays = 2 * int(str(self.voting["V3AuthVoteDelay"]))
        launch = 1.0 + 0.6 * len(self.nodes)  # ~0.3 s per tor here; margin for load
        lead = launch + 3.0 + delays  # the vote is `delays` before valid-after
        # tor takes the first valid-after after its start with this phase, so the lead
        # cannot reach a whole interval (with 10 s intervals the first vote comes early
        # and the first complete consensus is the second one).
        lead = min(lead, interval - 1.0)
        return math.ceil(time.time() + lead) % interval

    def _write_bandwidths(self) -> None:
        """A bandwidth file (bandwidth-file-spec 1.0.0: a timestamp line, then
        ``node_id=$FP bw=KB`` lines) giving every relay the same weight.

        Without it, weights come from the bandwidth each relay has observed itself, which
        is 0 for a new relay: in the first consensuses only the authorities (which have
        already exchanged votes) weigh anything, so every circuit is drawn from those
        three, and a client keeps picking its guard as the last hop, which the middle
        relay refuses ("Client asked me to extend back to the previous hop"). Measured
        without it: 2 of 6 clients stuck ~37 s at "Bootstrapped 95%" with ~150 such
        refusals; with it, 1-3 refusals per run and no stall. chutney has the same
        knob (authority-bwfile.tmpl). The consensus uses measured values when more than
        two authorities measured, so this takes effect with 3 or more authorities, and
        never for the authorities themselves (votes say ``MeasuredButAuthority=1000``):
        they keep their tiny self-observed weights, so circuits run over the relays."""
        lines = [f"{int(time.time())}\n"]
        lines += [f"node_id=${n.fingerprint} bw=1000\n" for n in self.nodes]
        self.bandwidths_file.write_text("".join(lines))

    def start(self, wait: float = 60.0) -> TorNet:
        """Launch the authorities, then the relays. Idempotent."""
        if self._stopped:
            raise TorNetError("this TorNet was stopped; make a new one")
        if self._started:
            return self
        self._started = True
        self._write_bandwidths()
        offset = {}
        if self.align_first_vote:
            offset = {"TestingV3AuthVotingStartOffset": str(self._first_vote_offset())}
        started = time.monotonic()
        for node in self.nodes:
            opts = self._router_torrc(node)
            if node.role == "authority":
                opts.update(offset)
            proc = launch_tor(node.name, node.data_dir, opts, control_port=node.control_port,
                              wait=wait)
            self._state.procs.append(proc)
        self._kicker = threading.Thread(
            target=self._kick_after_first_consensus, args=(started,), name="tornet-kick",
            daemon=True)
        self._kicker.start()
        return self

    def _kick_after_first_consensus(self, started: float, timeout: float = 600.0) -> None:
        """Once an authority has published the first consensus, SIGHUP the relays and
        clients (tor: reload the torrc, reset download failures, fetch again).

        Until then every relay's consensus fetch gets 404, and its retries back off
        exponentially (404s at +1, +3, +4, +9, +13 s, then nothing for 30 s). Relays are
        the clients' directory guards: a client that fetched the consensus from an
        authority then asks a relay for microdescriptors and gets 404 until that relay
        retries. Measured: clients bootstrapped 2-3 s after the first consensus with
        the kick, 15-25 s after it without."""
        markers = [n.data_dir / "cached-microdesc-consensus" for n in self.authorities]
        deadline = time.monotonic() + timeout
        while not any(m.exists() for m in markers):
            if self._kick_stop.wait(0.2) or time.monotonic() > deadline:
                return
        self.first_consensus_after = time.monotonic() - started
        if self._kick_stop.wait(1.0):  # the other authorities publish in the same second
            return
        authorities = {n.name for n in self.authorities}
        for proc in list(self._state.procs):
            if proc.name not in authorities and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGHUP)

    def start_client(
        self, name: str, *, extra: Mapping[str, TorrcValue] | None = None, wait: float = 60.0
    ) -> Client:
        """Start a plain tor client: SocksPort (with ExtendedErrors: tor's onion-service
        SOCKS5 error codes) and ControlPort on 127.0.0.1, cookie auth. ``extra`` options
        are merged last (e.g. :data:`LOOPBACK_EXIT_OPTIONS`)."""
        if not _NAME.match(name):
            raise ValueError(f"client name must be 1-19 letters/digits: {name!r}")
        if any(c.name == name for c in self.clients) or any(n.name == name for n in self.nodes):
            raise ValueError(f"name already used: {name}")
        if self._stopped:
            raise TorNetError("this TorNet was stopped")
        data_dir = self.root / name
        socks_port = self.ports.take()
        control_port = self.ports.take()
        opts = self.client_torrc(data_dir)
        opts.update(
            {
                "SocksPort": f"127.0.0.1:{socks_port} ExtendedErrors",
                "ControlPort": f"127.0.0.1:{control_port}",
                "CookieAuthentication": "1",
                "__OwningControllerProcess": str(os.getpid()),
                "PidFile": str(data_dir / "pid"),
                "ShutdownWaitLength": "0",
            }
        )
        opts = merge_torrc(opts, extra or {})
        proc = launch_tor(name, data_dir, opts, control_port=control_port, wait=wait)
        self._state.procs.append(proc)
        client = Client(name, socks_port, control_port, proc.pid, data_dir)
        self.clients.append(client)
        return client

    def controller(self, name: str) -> Any:
        """A (cached) authenticated stem Controller for one of our tors.

        Careful: our tors carry ``__OwningControllerProcess`` = this pid, so stem sends
        TAKEOWNERSHIP when it authenticates from this process (stem.control, in
        ``_post_authentication``), and that tor exits as soon as this connection
        closes. :meth:`stop` closes them."""
        ctl = self._state.controllers.get(name)
        if ctl is not None and ctl.is_alive():
            return ctl
        proc = next((p for p in self._state.procs if p.name == name), None)
        if proc is None:
            raise KeyError(name)
        ctl = connect_controller(proc.control_port)
        self._state.controllers[name] = ctl
        return ctl

    def _check_alive(self) -> None:
        dead = [p for p in self._state.procs if p.popen.poll() is not None]
        if dead:
            raise TorNetError(
                "tor exited: " + ", ".join(f"{p.name} ({p.popen.returncode})" for p in dead)
                + "\n" + "\n".join(p.tail() for p in dead)
            )

    def wait_bootstrapped(self, timeout: float = 300.0, *, min_routers: int | None = None) -> float:
        """Wait until every client reports 100% bootstrap and sees at least
        ``min_routers`` (default: all authorities and relays) Running routers in its
        consensus. With no client, authority 0's consensus is checked instead.
        Returns the seconds waited; raises :class:`TorNetError` with log tails on
        timeout or when a tor dies."""
        if not self._started:
            self.start()
        need = len(self.nodes) if min_routers is None else min_routers
        start = time.monotonic()
        deadline = start + timeout
        status: dict[str, str] = {}
        while True:
            self._check_alive()
            ready = True
            watched = [c.name for c in self.clients] or [self.authorities[0].name]
            for name in watched:
                try:
                    ctl = bounded(partial(self.controller, name), 15.0, f"connect {name}")
                    pct, summary = bounded(partial(bootstrap_progress, ctl), 10.0, name)
                    routers = bounded(partial(consensus_routers, ctl), 10.0, name)
                except Exception as e:  # tor still starting, or a control hiccup
                    status[name] = f"control error: {e!r}"
                    ready = False
                    continue
                running = sorted(n for n, flags in routers.items() if "Running" in flags)
                status[name] = f"bootstrap {pct}% ({summary}); {len(running)} running: {running}"
                is_client = any(c.name == name for c in self.clients)
                if (is_client and pct < 100) or len(running) < need:
                    ready = False
            if ready:
                return time.monotonic() - start
            if time.monotonic() > deadline:
                raise TorNetError(
                    f"network not bootstrapped after {timeout:.0f} s (need {need} routers)\n"
                    + "\n".join(f"{k}: {v}" for k, v in status.items())
                    + "\n"
                    + self.log_tails()
                )
            time.sleep(0.5)

    def log_tails(self, lines: int = 15) -> str:
        """The last lines of every tor's log (clients first, then authorities, relays)."""
        order = {c.name: 0 for c in self.clients}
        procs = sorted(self._state.procs, key=lambda p: order.get(p.name, 1))
        return "\n".join(p.tail(lines) for p in procs)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every tor this object started: SIGTERM all, wait (bounded), SIGKILL
        the rest. Safe to call more than once and after a failed start."""
        self._stopped = True
        self._kick_stop.set()
        if self._kicker is not None:
            self._kicker.join(timeout=5.0)
        for ctl in list(self._state.controllers.values()):
            with contextlib.suppress(Exception):
                ctl.close()
        self._state.controllers.clear()
        stop_all([p.popen for p in self._state.procs], timeout)

    def alive_pids(self) -> list[int]:
        return [pid for pid in self.pids if pid_alive(pid)]

    def __enter__(self) -> TorNet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_all(procs: Iterable[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Stop several processes: SIGTERM to all, then a shared bounded wait, then SIGKILL."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        stop_popen(p, timeout=0.0)
