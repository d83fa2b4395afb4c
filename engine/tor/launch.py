"""Find the tor binary, and run a tor process of our own ("managed tor").

:class:`ManagedTor` starts tor on a private data directory with every option on tor's
command line (no torrc is read), controls it over a unix socket in that directory
(cookie authentication), and waits until the control connection authenticates. Tor's
log goes to ``tor.log`` in the data directory.

Tor is started with ``__OwningControllerProcess`` set to our pid. When our first control
connection authenticates, stem sees that and sends ``TAKEOWNERSHIP`` (then resets the
option): from then on tor exits as soon as that connection closes, which is at once if this
process dies. Until then tor polls the pid (every ~15 s). So the connection ManagedTor keeps
is tor's lifeline; :meth:`ManagedTor.connect` hands out other, ordinary connections.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket as socketlib
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from ..errors import TidegateError
from .control import DEFAULT_TIMEOUT, UNIX_PATH_MAX, TorControl

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0

INSTALL_HINT = ('install it with "apt-get install tor" (Debian/Ubuntu) or "brew install tor" '
                '(macOS), or set [tor] binary = "/path/to/tor" in the configuration')

_FALLBACK_PATHS = ("/usr/sbin/tor", "/usr/bin/tor", "/usr/local/bin/tor",
                   "/opt/homebrew/bin/tor")

_MANAGED_OPTIONS = frozenset(o.lower() for o in (
    "DataDirectory", "ControlSocket", "ControlPort", "ControlPortWriteToFile",
    "__OwningControllerProcess"))

LOG_NAME = "tor.log"
STDOUT_NAME = "tor.stdout"
SOCKET_NAME = "control"
PORT_FILE_NAME = "control.port"


def find_tor(binary: str | None = None) -> str:
    """The path of the tor executable: ``binary`` (a path or a name on PATH) or the default."""
    if binary:
        if os.sep in binary or binary.startswith("~"):
            path = os.path.expanduser(binary)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
            raise TidegateError(f"tor is not installed at {binary} (no executable file "
                                f"there); {INSTALL_HINT}")
        found = shutil.which(binary)
        if found:
            return found
        raise TidegateError(f"tor is not installed: {binary!r} is not on PATH; {INSTALL_HINT}")
    found = shutil.which("tor")
    if found:
        return found
    for path in _FALLBACK_PATHS:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise TidegateError(f"tor is not installed (not on PATH, nor in "
                        f"{', '.join(_FALLBACK_PATHS)}); {INSTALL_HINT}")


def hash_control_password(password: str, salt: bytes | None = None) -> str:
    """``HashedControlPassword`` for ``password``: what ``tor --hash-password`` prints.

    RFC 2440 iterated and salted S2K with SHA-1 and tor's fixed count byte 0x60 (65536
    bytes hashed), written ``16:<hex of salt, count byte, digest>``. Computed here so the
    password never appears on a command line.
    """
    salt = os.urandom(8) if salt is None else salt
    if len(salt) != 8:
        raise TidegateError(f"control password salt: 8 bytes, not {len(salt)}")
    count_byte = 0x60
    count = (16 + (count_byte & 15)) << ((count_byte >> 4) + 6)
    block = salt + password.encode("utf-8")
    digest = hashlib.sha1()
    while count > 0:
        chunk = block if count >= len(block) else block[:count]
        digest.update(chunk)
        count -= len(chunk)
    return "16:" + (salt + bytes([count_byte]) + digest.digest()).hex().upper()


def _quoted(path: str) -> str:
    """``path`` as a torrc quoted string (C escapes), for ``unix:"..."`` listeners."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise TidegateError(f"tor data directory {path!r}: control characters in the path")
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


class ManagedTor:
    """A tor process this program started and stops.

    ``socks_port``: None for no SOCKS listener, 0 for one on a free port (see
    :attr:`socks_port`), else that port on 127.0.0.1. ``extra`` adds torrc options (a list
    value gives the option several times) and replaces ours of the same name, except the
    ones this class relies on (data directory, control listener, owner). With
    ``control_password`` tor takes that password instead of the cookie.
    """

    def __init__(self, data_dir: Path, *, disable_network: bool = False,
                 socks_port: int | None = None,
                 extra: Mapping[str, str | Sequence[str]] | None = None,
                 binary: str | None = None, control_password: str | None = None) -> None:
        if socks_port is not None and not 0 <= socks_port <= 65535:
            raise TidegateError(f"tor SOCKS port {socks_port}: outside 0-65535")
        self._data_dir = Path(data_dir).absolute()
        self._disable_network = disable_network
        self._socks_config = socks_port
        self._extra = dict(extra or {})
        for key, value in self._extra.items():
            values = [value] if isinstance(value, str) else list(value)
            if key.lower() in _MANAGED_OPTIONS:
                raise TidegateError(f"tor option {key} (in extra options): set by tidegate "
                                    "itself and cannot be replaced")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise TidegateError(f"tor option {key!r} (in extra options): not an option name")
            if any("\n" in v or "\r" in v for v in values):
                raise TidegateError(f"tor option {key} (in extra options): value has a newline")
        self._binary = binary
        self._password = control_password
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._pid: int | None = None
        self._control: TorControl | None = None
        self._control_port: int | None = None
        self._socks_actual: int | None = None
        socket_path = self._data_dir / SOCKET_NAME
        self._socket: Path | None = (
            socket_path if len(os.fsencode(str(socket_path))) <= UNIX_PATH_MAX else None)

    # -- properties -------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def pid(self) -> int | None:
        """tor's process id (still set after :meth:`stop`, for checks); None before start."""
        return self._pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_text(self) -> str:
        """How tor ended (``killed by SIGKILL``, ``exited with status 1``); "" while it
        runs or before it started."""
        code = self._proc.poll() if self._proc is not None else None
        if code is None:
            return ""
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with status {code}"

    @property
    def control_socket(self) -> Path | None:
        """The unix control socket; None when its path would be too long (see control_port)."""
        return self._socket

    @property
    def control_port(self) -> int | None:
        """The control port on 127.0.0.1 when there is no control socket (known once started)."""
        return self._control_port

    @property
    def socks_port(self) -> int | None:
        """The SOCKS port on 127.0.0.1, or None if there is none (yet).

        With ``socks_port=0`` tor picks the port; it is asked for (GETINFO net/listeners/socks)
        until known. Tor opens no SOCKS listener while DisableNetwork is set.
        """
        if self._socks_config != 0:
            return self._socks_config
        if self._socks_actual is None and self._control is not None and self.running:
            self._socks_actual = self._ask_socks_port(self._control)
        return self._socks_actual

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of this run's ``tor.log`` (or of tor's stdout if it has no log yet)."""
        text = _tail(self._data_dir / LOG_NAME, lines)
        return text or _tail(self._data_dir / STDOUT_NAME, lines)

    # -- lifecycle --------------------------------------------------------------------------

    def _arguments(self, binary: str) -> list[str]:
        d = self._data_dir
        options: dict[str, list[str]] = {
            "DataDirectory": [str(d)],
            "Log": [f"notice file {d / LOG_NAME}"],
            "__OwningControllerProcess": [str(os.getpid())],
            "SocksPort": ["0" if self._socks_config is None else
                          "auto" if self._socks_config == 0 else
                          f"127.0.0.1:{self._socks_config}"],
        }
        if self._socket is not None:
            options["ControlSocket"] = [f"unix:{_quoted(str(self._socket))}"]
        else:
            options["ControlPort"] = ["127.0.0.1:auto"]
            options["ControlPortWriteToFile"] = [str(d / PORT_FILE_NAME)]
        if self._password is not None:
            options["CookieAuthentication"] = ["0"]
            options["HashedControlPassword"] = [hash_control_password(self._password)]
        else:
            options["CookieAuthentication"] = ["1"]
        if self._disable_network:
            options["DisableNetwork"] = ["1"]
        for key, value in self._extra.items():
            for ours in [k for k in options if k.lower() == key.lower()]:
                del options[ours]
            options[key] = [value] if isinstance(value, str) else list(value)
        # No torrc: both files named here are absent, and --ignore-missing-torrc allows it.
        argv = [binary, "-f", str(d / "torrc"), "--defaults-torrc", str(d / "torrc-defaults"),
                "--ignore-missing-torrc"]
        for key, values in options.items():
            for value in values:
                argv += [f"--{key}", value]
        return argv

    def start(self, timeout: float = START_TIMEOUT) -> ManagedTor:
        """Start tor and wait (up to ``timeout`` s) until its control connection authenticates."""
        if self.running:
            raise TidegateError(f"tor on {self._data_dir} is already running (pid {self._pid})")
        binary = find_tor(self._binary)
        d = self._data_dir
        try:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(d, 0o700)  # tor refuses a data directory others can read
            for stale in (d / SOCKET_NAME, d / PORT_FILE_NAME):
                stale.unlink(missing_ok=True)
            if (d / LOG_NAME).exists():
                os.replace(d / LOG_NAME, d / (LOG_NAME + ".1"))
            self._stdout = open(d / STDOUT_NAME, "wb")  # closed in stop()
        except OSError as exc:
            raise TidegateError(f"tor data directory {d}: {exc.strerror or exc}") from None
        argv = self._arguments(binary)
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._stdout,
                                          stderr=subprocess.STDOUT, close_fds=True)
        except OSError as exc:
            self._close_stdout()
            raise TidegateError(f"cannot run tor ({binary}): {exc.strerror or exc}") from None
        self._pid = self._proc.pid
        self._control_port = None
        self._socks_actual = None
        try:
            self._control = self._wait_ready(time.monotonic() + timeout, timeout)
            if self._socks_config == 0:
                self._socks_actual = self._ask_socks_port(self._control)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, deadline: float, timeout: float) -> TorControl:
        assert self._proc is not None
        while True:
            status = self._proc.poll()
            if status is not None:
                raise TidegateError(f"tor exited with status {status} while starting (data "
                                    f"directory {self._data_dir}); its last lines:\n"
                                    f"{self.log_tail()}")
            if self._connectable():
                left = max(1.0, deadline - time.monotonic())
                if self._socket is not None:
                    return TorControl(socket=self._socket, password=self._password,
                                      timeout=min(left, DEFAULT_TIMEOUT))
                return TorControl(port=self._control_port, password=self._password,
                                  timeout=min(left, DEFAULT_TIMEOUT))
            if time.monotonic() > deadline:
                where = (f"socket {self._socket}" if self._socket is not None
                         else f"port (file {self._data_dir / PORT_FILE_NAME})")
                raise TidegateError(f"tor (pid {self._pid}) did not open its control {where} "
                                    f"within {timeout:g} s; its last lines:\n{self.log_tail()}")
            time.sleep(0.02)

    def _connectable(self) -> bool:
        """Whether tor's control listener accepts connections yet (reads the port file)."""
        target: str | tuple[str, int]
        if self._socket is not None:
            if not self._socket.exists():
                return False
            probe = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
            target = str(self._socket)
        else:
            try:
                text = (self._data_dir / PORT_FILE_NAME).read_text()
            except OSError:
                return False
            match = re.search(r"PORT=127\.0\.0\.1:(\d+)", text)
            if match is None:
                return False
            self._control_port = int(match[1])
            probe = socketlib.socket(socketlib.AF_INET, socketlib.SOCK_STREAM)
            target = ("127.0.0.1", self._control_port)
        with probe:
            probe.settimeout(1.0)
            try:
                probe.connect(target)
            except OSError:
                return False
        return True

    @staticmethod
    def _ask_socks_port(control: TorControl) -> int | None:
        try:
            text = control.get_info("net/listeners/socks")
        except TidegateError:
            return None
        ports = re.findall(r':(\d+)"?', text)
        return int(ports[0]) if ports else None

    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> TorControl:
        """A new control connection to this tor (the caller closes it)."""
        if not self.running:
            raise TidegateError(f"tor on {self._data_dir} is not running")
        if self._socket is not None:
            return TorControl(socket=self._socket, password=self._password, timeout=timeout)
        return TorControl(port=self._control_port, password=self._password, timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGNAL SHUTDOWN, wait up to ``timeout`` s, then SIGTERM, then SIGKILL. Idempotent."""
        control, self._control = self._control, None
        proc = self._proc
        if control is not None:
            if proc is not None and proc.poll() is None and control.is_alive():
                try:
                    control.signal("SHUTDOWN", timeout=min(2.0, timeout))
                except TidegateError:
                    pass  # terminate below
            control.close()
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(3.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    try:
                        proc.wait(10.0)
                    except subprocess.TimeoutExpired:
                        pass  # cannot outlive SIGKILL for long; nothing more to do here
        self._close_stdout()

    def _close_stdout(self) -> None:
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None

    def __enter__(self) -> ManagedTor:
        return self.start() if not self.running else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ManagedTor {self._data_dir} pid={self._pid} {state}>"
