"""engine.tor against a real tor (DisableNetwork, 127.0.0.1 only): keys, launch, control, onions.

Every tor a test starts is stopped by a fixture, whatever the test does.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tidegate.engine.chain.keys import SiteKey
from tidegate.engine.errors import TidegateError
from tidegate.engine.tor import (
    ManagedTor,
    OnionPublisher,
    OnionStatus,
    TorControl,
    check_client_key,
    client_auth_keypair,
    client_auth_line,
    expanded_key,
    find_tor,
    hash_control_password,
    onion_address,
    onion_key_blob,
)

ROOT = Path(__file__).resolve().parents[2]

try:
    TOR = find_tor()
except TidegateError:
    TOR = ""
needs_tor = pytest.mark.skipif(not TOR, reason="tor is not installed")

# stem 1.8.2 calls Thread.setDaemon(), deprecated since Python 3.10.
pytestmark = pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie nobody reaped (PID 1 here may not reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TorFactory = Callable[..., ManagedTor]


@pytest.fixture
def start_tor(tmp_path: Path) -> Iterator[TorFactory]:
    """``start_tor(name="tor", **ManagedTor options)`` -> a started tor without network."""
    started: list[ManagedTor] = []

    def factory(name: str = "tor", **options: Any) -> ManagedTor:
        options.setdefault("disable_network", True)
        tor = ManagedTor(tmp_path / name, **options)
        started.append(tor)
        return tor.start()

    try:
        yield factory
    finally:
        for tor in started:
            tor.stop()


@pytest.fixture
def controls() -> Iterator[list[TorControl]]:
    """Control connections appended here are closed at the end."""
    opened: list[TorControl] = []
    try:
        yield opened
    finally:
        for control in opened:
            control.close()


def connect(tor: ManagedTor, opened: list[TorControl]) -> TorControl:
    control = tor.connect()
    opened.append(control)
    return control


# -- keys (no tor) --------------------------------------------------------------------------

def test_expanded_key_is_the_clamped_sha512_of_the_seed() -> None:
    seed = bytes(range(32))
    key = expanded_key(seed)
    digest = hashlib.sha512(seed).digest()
    assert len(key) == 64 and key[32:] == digest[32:] and key[1:31] == digest[1:31]
    assert key[0] & 7 == 0 and key[31] & 0x80 == 0 and key[31] & 0x40
    assert onion_address(seed) == SiteKey.from_seed(seed).address
    with pytest.raises(TidegateError, match="32 bytes, not 31"):
        onion_key_blob(seed[:31])


def test_client_auth_keys() -> None:
    public, private = client_auth_keypair()
    assert len(public) == len(private) == 52 and "=" not in public + private
    assert check_client_key(public.lower() + "====") == public
    address = onion_address(os.urandom(32))
    assert client_auth_line(address, private) == \
        f"{address.removesuffix('.onion')}:descriptor:x25519:{private}"
    with pytest.raises(TidegateError, match="client auth key"):
        check_client_key("not-a-key")


# -- finding tor ----------------------------------------------------------------------------

def test_find_tor_explains_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(TidegateError, match="apt-get install tor") as err:
        find_tor(str(tmp_path / "no" / "tor"))
    assert str(tmp_path / "no" / "tor") in str(err.value) and "brew install tor" in str(err.value)
    with pytest.raises(TidegateError, match="not on PATH.*apt-get install tor"):
        find_tor("tidegate-no-such-tor")
    with pytest.raises(TidegateError, match="apt-get install tor"):
        ManagedTor(tmp_path / "d", binary=str(tmp_path / "missing")).start()


@needs_tor
def test_find_tor_finds_the_installed_one() -> None:
    assert os.access(find_tor(), os.X_OK)
    assert find_tor(TOR) == TOR


# -- ManagedTor -----------------------------------------------------------------------------

@needs_tor
def test_stop_ends_tor_and_is_idempotent(start_tor: TorFactory) -> None:
    tor = start_tor()
    pid = tor.pid
    assert pid and tor.running and tor.control_socket is not None
    assert tor.control_socket.is_socket() and tor.data_dir.stat().st_mode & 0o777 == 0o700
    assert "Opened Control listener" in tor.log_tail()
    tor.stop()
    wait_until(lambda: process_gone(pid), 10, f"tor pid {pid} to exit")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped by stop(), not a zombie
    assert not tor.running and tor.pid == pid
    tor.stop()
    with pytest.raises(TidegateError, match="not running"):
        tor.connect()


@needs_tor
def test_long_data_dir_falls_back_to_a_control_port(start_tor: TorFactory,
                                                    controls: list[TorControl]) -> None:
    tor = start_tor("d" * 110)
    assert tor.control_socket is None and tor.control_port
    control = connect(tor, controls)
    assert control.endpoint == f"tor control port 127.0.0.1:{tor.control_port}"
    assert control.get_info("version").startswith("0.")


@needs_tor
def test_socks_port_auto(start_tor: TorFactory) -> None:
    assert start_tor("off", socks_port=None).socks_port is None
    assert start_tor("disabled", socks_port=0).socks_port is None  # no listeners offline
    # Network on, but its only bridge is 127.0.0.1:1: tor opens SOCKS and goes nowhere.
    tor = start_tor("auto", socks_port=0, disable_network=False,
                    extra={"UseBridges": "1", "Bridge": "127.0.0.1:1"})
    port = tor.socks_port
    assert port and port > 0
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


@needs_tor
def test_tor_that_fails_to_start_says_why(start_tor: TorFactory) -> None:
    with pytest.raises(TidegateError, match=r"(?s)exited with status 1 .*Unknown option"):
        start_tor("bad", extra={"NoSuchOption": "1"})
    with pytest.raises(TidegateError, match="set by tidegate"):
        ManagedTor(Path("/nonexistent"), extra={"controlport": "9051"})


# -- TorControl -----------------------------------------------------------------------------

@needs_tor
def test_add_onion_gives_the_site_address(start_tor: TorFactory,
                                          controls: list[TorControl]) -> None:
    tor = start_tor()
    control = connect(tor, controls)
    seed = os.urandom(32)
    address = control.add_onion(seed, "127.0.0.1:8080")
    assert address == SiteKey.from_seed(seed).address
    other = os.urandom(32)
    sock = f"unix:{tor.data_dir / 'site.sock'}"
    assert control.add_onion(other, sock, virtual_port=8080) == SiteKey.from_seed(other).address
    assert sorted(control.detached_onions()) == sorted([address, onion_address(other)])
    with pytest.raises(TidegateError, match="already running in this tor"):
        control.add_onion(seed, "127.0.0.1:8080")
    with pytest.raises(TidegateError, match="'unix:/a b'.*spaces"):
        control.add_onion(seed, "unix:/a b")
    with pytest.raises(TidegateError, match="'localhost:80'.*or 'IP:port'"):
        control.add_onion(seed, "localhost:80")
    with pytest.raises(TidegateError, match="'999.0.0.1:80'.*not an IP address"):
        control.add_onion(seed, "999.0.0.1:80")


@needs_tor
def test_same_key_same_address_after_restart(start_tor: TorFactory, tmp_path: Path,
                                             controls: list[TorControl]) -> None:
    seed = os.urandom(32)
    first = start_tor("tor")
    before = connect(first, controls).add_onion(seed, "127.0.0.1:8080")
    first.stop()
    second = start_tor("tor")  # the same data directory
    assert second.data_dir == first.data_dir and second.pid != first.pid
    control = connect(second, controls)
    assert control.detached_onions() == []  # ephemeral: tor forgot it
    assert control.add_onion(seed, "127.0.0.1:8080") == before


@needs_tor
def test_client_auth_and_remove(start_tor: TorFactory, controls: list[TorControl]) -> None:
    control = connect(start_tor(), controls)
    seed = os.urandom(32)
    keys = [client_auth_keypair()[0], client_auth_keypair()[0]]
    address = control.add_onion(seed, "127.0.0.1:8080", client_auth=keys)
    assert address in control.detached_onions()
    assert address.removesuffix(".onion") in control.get_info("onions/detached")
    single = control.add_onion(os.urandom(32), "127.0.0.1:8080", client_auth=keys[:1])
    assert control.remove_onion(address) is True
    assert control.detached_onions() == [single]
    assert control.remove_onion(address) is False  # tor: 552 Unknown Onion Service id
    with pytest.raises(TidegateError, match="onion address 'nope'"):
        control.remove_onion("nope")


@needs_tor
def test_disconnect_is_reported_and_calls_fail_cleanly(start_tor: TorFactory,
                                                       controls: list[TorControl]) -> None:
    tor = start_tor()
    control = connect(tor, controls)
    quiet = connect(tor, controls)
    dropped = threading.Event()
    control.on_disconnect(dropped.set)
    quiet_calls: list[int] = []
    quiet.on_disconnect(lambda: quiet_calls.append(1))
    quiet.close()  # a deliberate close is not a disconnect
    tor.stop()
    assert dropped.wait(10) and not control.is_alive()
    with pytest.raises(TidegateError, match="connection closed while GETINFO"):
        control.get_info("version")
    late = threading.Event()
    control.on_disconnect(late.set)  # already gone: called at once
    assert late.is_set() and quiet_calls == []


def test_nothing_listening_names_the_port() -> None:
    port = free_port()
    with pytest.raises(TidegateError, match=f"127.0.0.1:{port}.*refused"):
        TorControl(port=port)


def test_not_a_tor_and_a_silent_peer(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    stop = threading.Event()
    mode = {"reply": True}

    server.settimeout(0.05)  # accept() wakes up to see `stop`

    def serve() -> None:
        held = []
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.settimeout(5)
            if mode["reply"]:
                conn.recv(100)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                conn.close()
            else:
                held.append(conn)  # never answers
        for conn in held:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(TidegateError, match=f"127.0.0.1:{port} does not speak tor's"):
            TorControl(port=port)
        mode["reply"] = False
        started = time.monotonic()
        with pytest.raises(TidegateError, match=f"127.0.0.1:{port}: no answer .* 0.5 s"):
            TorControl(port=port, timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        thread.join(5)
        server.close()


@needs_tor
def test_password_authentication(start_tor: TorFactory, controls: list[TorControl]) -> None:
    printed = subprocess.run([TOR, "--hash-password", "s3cret", "--quiet"], capture_output=True,
                             text=True, timeout=30, check=True).stdout.split()[-1]
    assert hash_control_password("s3cret", bytes.fromhex(printed[3:19])) == printed
    tor = start_tor(control_password="s3cret")
    assert tor.control_socket is not None
    controls.append(TorControl(socket=tor.control_socket, password="s3cret"))
    with pytest.raises(TidegateError, match=f"{tor.control_socket}: authentication failed"):
        TorControl(socket=tor.control_socket, password="wrong")
    with pytest.raises(TidegateError, match="authentication failed"):
        TorControl(socket=tor.control_socket)


# -- OnionPublisher -------------------------------------------------------------------------

class Changes:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.count += 1


@needs_tor
def test_publisher_readds_after_reconnect_and_restart(start_tor: TorFactory,
                                                      controls: list[TorControl]) -> None:
    changes = Changes()
    publisher = OnionPublisher(changes)
    seed = os.urandom(32)
    address = publisher.publish(seed, "127.0.0.1:8080")
    assert publisher.statuses()[address] == OnionStatus(address, "publishing")
    assert changes.count == 1

    tor = start_tor()
    first = connect(tor, controls)
    publisher.attach(first)
    assert publisher.statuses()[address].state == "published"
    assert first.detached_onions() == [address]

    # The control connection goes away; a new one is attached: same service, re-added once.
    first.close()
    second = connect(tor, controls)
    publisher.attach(second)
    assert publisher.statuses()[address] == OnionStatus(address, "published")
    assert second.detached_onions() == [address]

    # HS_DESC UPLOADED (tor sends none offline; the hook attach subscribes is called here).
    publisher.on_descriptor(address, "UPLOADED")
    publisher.on_descriptor(address, "UPLOAD")
    assert publisher.statuses()[address] == OnionStatus(address, "uploaded", 1)

    # tor restarts on the same data directory: the drop is noticed, the new tor gets it.
    counted = changes.count
    tor.stop()
    wait_until(lambda: publisher.statuses()[address].state == "error", 10, "the drop")
    assert "lost the connection to tor" in publisher.statuses()[address].error
    assert changes.count > counted and publisher.control is None
    restarted = start_tor()
    third = connect(restarted, controls)
    publisher.attach(third)
    assert publisher.statuses()[address] == OnionStatus(address, "published")
    assert third.detached_onions() == [address]


@needs_tor
def test_publisher_unpublish_client_auth_and_errors(start_tor: TorFactory,
                                                    controls: list[TorControl]) -> None:
    publisher = OnionPublisher()
    tor = start_tor()
    control = connect(tor, controls)
    publisher.attach(control)
    kept = publisher.publish(os.urandom(32), "127.0.0.1:8080",
                             client_auth=[client_auth_keypair()[0]])
    dropped = publisher.publish(os.urandom(32), "127.0.0.1:8081")
    assert {s.state for s in publisher.statuses().values()} == {"published"}

    # Unpublished while detached: removed from tor on the next attach.
    publisher.detach()
    assert publisher.statuses()[kept].state == "publishing"
    publisher.unpublish(dropped)
    assert publisher.statuses()[dropped] == OnionStatus(dropped, "removed")
    assert sorted(control.detached_onions()) == sorted([kept, dropped])
    publisher.attach(control)
    assert control.detached_onions() == [kept]
    assert publisher.statuses()[kept].state == "published"

    # Unpublished while attached: removed at once.
    publisher.unpublish(kept)
    assert control.detached_onions() == []
    assert publisher.statuses()[kept].state == "removed"

    # tor refuses ADD_ONION (someone else runs this key): state error with tor's reason.
    seed = os.urandom(32)
    control.add_onion(seed, "127.0.0.1:8080")
    taken = publisher.publish(seed, "127.0.0.1:8080")
    status = publisher.statuses()[taken]
    assert status.state == "error" and "already running" in status.error

    with pytest.raises(TidegateError, match="onion service target"):
        publisher.publish(os.urandom(32), "unix:relative")
    control.close()
    with pytest.raises(TidegateError):
        publisher.attach(control)
    assert publisher.statuses()[taken].state == "error" and publisher.control is None


# -- owner process --------------------------------------------------------------------------

@needs_tor
def test_tor_exits_when_its_owner_is_killed(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from tidegate.engine.tor import ManagedTor
        tor = ManagedTor(Path({str(tmp_path / 'tor')!r}), disable_network=True).start()
        print(tor.pid, flush=True)
        time.sleep(120)
    """)
    owner = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    pid = 0
    try:
        assert owner.stdout is not None
        ready, _, _ = select.select([owner.stdout], [], [], 30)
        assert ready, "the owner process did not start tor within 30 s"
        pid = int(owner.stdout.readline())
        assert not process_gone(pid)
        owner.kill()
        owner.wait(10)
        started = time.monotonic()
        # stem took ownership (TAKEOWNERSHIP) for ManagedTor's connection: tor exits when it
        # closes, at once. The pid poll of __OwningControllerProcess alone takes ~15 s.
        wait_until(lambda: process_gone(pid), 30, f"orphaned tor {pid} to exit")
        assert time.monotonic() - started < 10
        log = (tmp_path / "tor" / "tor.log").read_text()
        assert "Owning controller connection has closed -- exiting now." in log
    finally:
        owner.kill()
        owner.wait(10)
        if pid and not process_gone(pid):
            os.kill(pid, signal.SIGKILL)
