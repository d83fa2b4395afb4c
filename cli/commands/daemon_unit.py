"""``tidegate daemon --install`` / ``--uninstall``: a systemd user unit for the daemon.

The unit runs this very Python with ``-m tidegate daemon`` and the options given (the
endpoints), with the environment that locates its files (``TIDEGATE_HOME``,
``TIDEGATE_CONFIG``, and ``PYTHONPATH`` when tidegate runs from a checkout), and
``Restart=on-failure``: the daemon exits non-zero when a part it cannot restart in place
dies (docs/watcher.md), and 0 when it is stopped. Words are quoted as systemd reads them
(``systemd.syntax(7)``, ``systemd.service(7)`` "Command lines"): a path with spaces is
one argument, ``%`` is doubled (specifiers) and, on the command line, ``$`` too.
Nothing runs ``systemctl``: the commands to run are printed.
"""

from __future__ import annotations

import os
import re
import site
import sys
from collections.abc import Mapping
from pathlib import Path

from tidegate.engine.errors import TidegateError

UNIT_NAME = "tidegate.service"
ENV_KEPT = ("TIDEGATE_HOME", "TIDEGATE_CONFIG")
"""The environment that says where the daemon's files are, copied into the unit."""
_BARE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


class UnitError(TidegateError):
    """A unit that cannot be written or removed as asked."""


def unit_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user/tidegate.service`` (``~/.config`` by default)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "systemd" / "user" / UNIT_NAME


def quote(word: str, command: bool = False, what: str = "argument") -> str:
    """``word`` as one systemd word: ``%`` doubled, ``$`` doubled on a command line, and
    in double quotes (backslash and quote escaped) unless it is plain."""
    bad = [c for c in word if ord(c) < 32 or ord(c) == 127]
    if bad:
        raise UnitError(f"{what} {word!r}: a control character ({bad[0]!r}) cannot be in a "
                        "systemd unit")
    if not word:
        return '""'
    word = word.replace("%", "%%")
    if command:
        word = word.replace("$", "$$")
    if _BARE.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def source_root() -> str | None:
    """The folder to put on PYTHONPATH when tidegate is not installed in this Python
    (run from a checkout), else None."""
    import tidegate

    root = Path(tidegate.__file__).resolve().parent.parent
    installed = [*site.getsitepackages(), site.getusersitepackages()]
    if any(root == Path(p).resolve() for p in installed if p):
        return None
    return str(root)


def render(options: list[str], environ: Mapping[str, str], stop_timeout: float,
           python: str = sys.executable, pythonpath: str | None = None) -> str:
    """The unit's text. ``options`` follow ``tidegate daemon``; ``environ`` holds the
    variables of :data:`ENV_KEPT` to keep (absolute paths)."""
    if not os.path.isabs(python):
        raise UnitError(f"this Python's path {python!r} is not absolute")
    argv = [python, "-m", "tidegate", "daemon", *options]
    command = " ".join(quote(a, command=True, what="ExecStart argument") for a in argv)
    env_lines = []
    pairs = [(k, environ[k]) for k in ENV_KEPT if environ.get(k)]
    if pythonpath:
        pairs.append(("PYTHONPATH", pythonpath))
    for key, value in pairs:
        if key != "PYTHONPATH":
            value = os.path.abspath(os.path.expanduser(value))
        env_lines.append(f"Environment={quote(f'{key}={value}', what=key)}")
    lines = [
        "# Written by `tidegate daemon --install`; `tidegate daemon --uninstall` removes it.",
        "[Unit]",
        "Description=tidegate daemon (BitTorrent and site hosting)",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={command}",
        *env_lines,
        "Restart=on-failure",
        "RestartSec=5",
        f"TimeoutStopSec={int(stop_timeout) + 20}",
        "KillMode=mixed",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "SystemCallArchitectures=native",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def install(text: str, path: Path, force: bool = False) -> str:
    """Write the unit at ``path``; refuses to replace a different one unless ``force``.
    Returns what was done, for the user."""
    try:
        old = path.read_text(encoding="utf-8", errors="replace") if path.exists() else None
    except OSError as exc:
        raise UnitError(f"cannot read {path}: {exc.strerror or exc}") from None
    if old == text:
        return f"{path} is already this unit"
    if old is not None and not force:
        raise UnitError(f"{path} exists and differs from the unit tidegate would write "
                        "(--force replaces it; --uninstall removes it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise UnitError(f"cannot write {path}: {exc.strerror or exc}") from None
    return f"{'replaced' if old is not None else 'wrote'} {path}"


def uninstall(path: Path) -> str:
    """Remove the unit and its ``default.target.wants`` link (what ``systemctl
    disable`` removes). Returns what was done."""
    wants = path.parent / "default.target.wants" / path.name
    removed = []
    for p in (wants, path):
        try:
            p.unlink()
            removed.append(str(p))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UnitError(f"cannot remove {p}: {exc.strerror or exc}") from None
    if not removed:
        return f"no unit at {path}"
    return "removed " + ", ".join(removed)


ENABLE_HINT = ("then run:\n"
               "  systemctl --user daemon-reload\n"
               f"  systemctl --user enable --now {UNIT_NAME}\n"
               f"  journalctl --user -u {UNIT_NAME} -f     (its log)\n"
               "  loginctl enable-linger \"$USER\"          (to run it while you are logged out)")
DISABLE_HINT = ("then run:\n"
                f"  systemctl --user stop {UNIT_NAME}\n"
                "  systemctl --user daemon-reload")
