"""Reading the configuration: TOML in, a checked :class:`~.sections.Config` out.

Unknown keys and bad values are errors that name the key path and the file; the ranges
that types cannot say are checked by :func:`validate`. Nothing is read at import time.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ConfigError
from ..paths import Paths, resolve_paths
from ..safetext import shorten
from ..units import port_number
from .sections import Config


def _is_loopback(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


INT_MAX = 2**31 - 1
"""libtorrent's settings are 32-bit ints: a larger value wraps silently (a connection limit
of 2**31 became -2147483648) or kills the engine thread at start (OverflowError)."""
DAY = 86400.0
YEAR = 365 * DAY


def _is_endpoint(value: str) -> bool:
    """``host:port`` (``[v6]:port``) with a port 1-65535."""
    m = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})", value)
    return m is not None and 1 <= int(m.group(2)) <= 65535


def _between(lo: float, hi: float, unit: str = "") -> tuple[Any, str]:
    return (lambda v: lo <= v <= hi), f"must be between {lo:g} and {hi:g}{unit}"


_CHECKS: list[tuple[str, Any, str]] = [
    ("network.connections_limit", *_between(2, 1_000_000)),
    ("network.dht_item_lifetime", lambda v: 0 <= v <= INT_MAX,
     "must be 0 (libtorrent's default: never) to 2147483647 seconds"),
    ("rates.download", lambda v: 0 <= v < 2**31, "must be 0 (unlimited) to 2147483647"),
    ("rates.upload", lambda v: 0 <= v < 2**31, "must be 0 (unlimited) to 2147483647"),
    ("queue.active_downloads", lambda v: -1 <= v <= INT_MAX,
     "must be -1 (unlimited) to 2147483647"),
    ("queue.active_seeds", lambda v: -1 <= v <= INT_MAX, "must be -1 (unlimited) to 2147483647"),
    ("queue.active_limit", lambda v: -1 <= v <= INT_MAX, "must be -1 (unlimited) to 2147483647"),
    ("seeding.ratio_limit", lambda v: 0 <= v <= 1_000_000,
     "must be 0 (no limit) to 1000000"),
    ("seeding.seed_time_limit", lambda v: 0 <= v <= INT_MAX,
     "must be 0 (no limit) to 2147483647 seconds"),
    ("proxy.port", lambda v: 0 <= v <= 65535, "must be a port number (0-65535)"),
    ("storage.hashing_threads", lambda v: 1 <= v <= 64, "must be between 1 and 64"),
    ("performance.max_queued_disk_kib", lambda v: 256 <= v <= 4 * 1024 * 1024,
     "must be between 256 and 4194304"),
    ("performance.send_buffer_watermark_kib", *_between(16, 1024 * 1024, " KiB")),
    ("performance.send_buffer_low_watermark_kib", *_between(0, 1024 * 1024, " KiB")),
    ("performance.send_buffer_watermark_factor", *_between(1, 10_000, " percent")),
    ("storage.resume_save_interval", *_between(1, YEAR, " seconds")),
    ("storage.counters_save_interval", *_between(1, YEAR, " seconds")),
    ("storage.disk_retry_interval", *_between(1, YEAR, " seconds")),
    ("limits.max_torrent_file_size", *_between(1024, 2**29, " bytes")),
    ("limits.max_files", *_between(1, 10_000_000)),
    ("limits.max_pieces", *_between(1, 2**28)),
    ("limits.max_decode_tokens", *_between(1000, 2**30)),
    ("limits.max_decode_depth", *_between(10, 10_000)),
    ("engine.snapshot_hz", lambda v: 0.2 <= v <= 60, "must be between 0.2 and 60"),
    ("engine.stop_timeout", lambda v: 0 < v <= 600, "must be between 0 and 600 seconds"),
    ("engine.tick_interval_ms", lambda v: 10 <= v <= 1000, "must be between 10 and 1000"),
    ("engine.idle_tick_interval_ms", lambda v: 10 <= v <= 1000, "must be between 10 and 1000"),
    ("api.request_timeout", lambda v: 0 < v <= 3600, "must be between 0 and 3600 seconds"),
    ("api.max_message_size", lambda v: 1 << 20 <= v <= 1 << 30,
     "must be between 1 MiB and 1 GiB"),
    ("bus.hostname_dedup_seconds", lambda v: 0 <= v <= 3600, "must be between 0 and 3600"),
    ("sites.poll_interval", lambda v: 0.1 <= v <= 86400, "must be between 0.1 and 86400"),
    ("sites.announce_interval", lambda v: 1 <= v <= 86400, "must be between 1 and 86400"),
    ("sites.reput_interval", lambda v: v == 0 or 1 <= v <= 86400,
     "must be 0 (off) or between 1 and 86400 seconds"),
    ("sites.fetch_timeout", lambda v: 1 <= v <= 86400, "must be between 1 and 86400"),
    ("sites.keep_snapshots", lambda v: 1 <= v <= 1000, "must be between 1 and 1000"),
    ("sites.visit_check_interval", lambda v: 0 <= v <= 86400,
     "must be between 0 and 86400 seconds"),
    ("sites.link_port", lambda v: 0 <= v <= 65535, "must be a port number (0-65535)"),
    ("sites.link_listen", lambda v: v == "" or _is_ip(v),
     "must be an IP address (0.0.0.0 for every interface) or empty (the first address of "
     "network.listen_interfaces)"),
    ("sites.max_links", lambda v: 1 <= v <= 256, "must be between 1 and 256"),
    ("web.port", lambda v: 0 <= v <= 65535, "must be a port number (0-65535)"),
    ("web.listen", _is_loopback, "must be a loopback address (the proxy serves this "
     "computer only)"),
    ("web.visit_timeout", lambda v: 0 <= v <= 600, "must be between 0 and 600 seconds"),
    ("web.cache_mb", lambda v: 0 <= v <= 65536, "must be between 0 and 65536"),
    ("web.stream_timeout", lambda v: 1 <= v <= 3600, "must be between 1 and 3600 seconds"),
    ("web.readahead_mb", lambda v: 0 <= v <= 4096, "must be between 0 and 4096"),
    ("tor.control", lambda v: v == "managed" or v.startswith("unix:/") or
     _is_loopback_endpoint(v), "must be \"managed\", a loopback host:port or unix:/path"),
    ("tor.socks", lambda v: v == "" or _is_loopback_endpoint(v),
     "must be a loopback host:port (tor's SOCKS port on this machine)"),
    ("tor.timeout", lambda v: 1 <= v <= 600, "must be between 1 and 600 seconds"),
    ("qbt.port", lambda v: 0 <= v <= 65535, "must be a port number (0-65535)"),
    ("qbt.username", lambda v: 0 < len(v) <= 255 and v.isprintable(),
     "must be 1 to 255 printable characters"),
    ("qbt.max_auth_fail_count", *_between(1, 1000)),
    ("qbt.ban_duration", *_between(1, DAY * 30, " seconds")),
    ("qbt.session_timeout", *_between(60, DAY * 30, " seconds")),
    ("rss.interval", *_between(10, DAY * 7, " seconds")),
    ("rss.timeout", *_between(1, 600, " seconds")),
    ("rss.max_feed_size", *_between(1024, 1 << 30, " bytes")),
    ("rss.max_items", *_between(1, 100_000)),
    ("rss.history_size", *_between(100, 10_000_000)),
    ("watch.interval", *_between(0.05, DAY, " seconds")),
    ("watch.max_per_poll", *_between(1, 100_000)),
    ("hooks.max_running", *_between(1, 64)),
    ("hooks.max_queued", *_between(1, 100_000)),
    ("hooks.timeout", *_between(0.1, DAY, " seconds")),
    ("comments.listen", lambda v: _is_ip(v), "must be an IP address (127.0.0.1: this "
     "computer only; 0.0.0.0: every interface)"),
    ("comments.port", lambda v: 0 <= v <= 65535, "must be a port number (0-65535)"),
    ("comments.difficulty", *_between(0, 32, " bits")),
    ("comments.allow_authors", lambda v: len(v) <= 10_000 and all(
        re.fullmatch(r"[0-9a-fA-F]{64}", k) for k in v),
     "must be a list of at most 10000 public keys of 64 hex digits (ed25519 or Nostr)"),
    ("comments.max_body", *_between(1024, 1 << 20, " bytes")),
    ("comments.network_id", lambda v: v == "" or re.fullmatch(r"[0-9a-f]{64}", v),
     "must be \"\" (the public network) or 64 lowercase hex digits"),
    ("comments.sync_interval", *_between(1, DAY, " seconds")),
    ("comments.announce_interval", *_between(60, DAY, " seconds")),
    ("comments.peers", lambda v: len(v) <= 64 and all(_is_endpoint(p) for p in v),
     "must be a list of at most 64 \"host:port\" endpoints (\"[v6]:port\" for IPv6)"),
]


def _is_loopback_endpoint(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    return bool(sep) and port_number(port) is not None and _is_loopback(host.strip("[]"))


def _check_qbt_listen(cfg: Config, path: str | None) -> None:
    """``qbt.listen`` is an address; loopback unless ``qbt.allow_remote`` says otherwise."""
    listen = cfg.qbt.listen
    try:
        address = ipaddress.ip_address(listen)
    except ValueError:
        raise ConfigError(f"qbt.listen = {shorten(repr(listen), 80)} must be an IP address",
                          path=path, key="qbt.listen") from None
    if not address.is_loopback and not cfg.qbt.allow_remote:
        raise ConfigError(f"qbt.listen = {listen!r} is not a loopback address: set "
                          "qbt.allow_remote = true to serve the qBittorrent API to other "
                          "machines (plain HTTP, password only)", path=path,
                          key="qbt.listen")


def tor_socks(cfg: Config) -> tuple[str, int]:
    """Where tor's SOCKS port is (``tor.socks``, or the default for the kind of tor)."""
    text = cfg.tor.socks or ("127.0.0.1:9066" if cfg.tor.control == "managed"
                             else "127.0.0.1:9050")
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _get(cfg: Config, dotted: str) -> Any:
    obj: Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: Config, *, path: str | None = None) -> Config:
    """Check value ranges that types alone cannot express."""
    for key, ok, why in _CHECKS:
        value = _get(cfg, key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key} = {value!r} must be a finite number; it {why}",
                              path=path, key=key)
        if not ok(value):
            raise ConfigError(f"{key} = {shorten(repr(value), 80)} {why}", path=path,
                              key=key)
    if cfg.proxy.type != "none" and (not cfg.proxy.host or not cfg.proxy.port):
        raise ConfigError("proxy.host and proxy.port are required with a proxy", path=path,
                          key="proxy")
    _check_qbt_listen(cfg, path)
    for field in ("dht_bootstrap_nodes", "dht_nodes"):
        for i, node in enumerate(getattr(cfg.network, field)):
            host, sep, port = node.rpartition(":")
            if not sep or not host or port_number(port) is None:
                raise ConfigError(f"{shorten(repr(node), 80)} is not host:port", path=path,
                                  key=f"network.{field}[{i}]")
    return cfg


def from_dict(raw: dict[str, Any], *, path: str | None = None) -> Config:
    """Build a :class:`Config` from a parsed TOML mapping, strictly."""
    try:
        cfg = msgspec.convert(raw, Config, strict=True)
    except msgspec.ValidationError as exc:
        # msgspec says "... - at `$.network.connections_limit`"; keep the key visible.
        message = str(exc)
        key = None
        if " - at `$." in message:
            message, _, rest = message.partition(" - at `$.")
            key = shorten(rest.rstrip("`"), 120)
        message = shorten(message, 300) + _did_you_mean(message, key)
        raise ConfigError(message, path=path, key=key) from None
    return validate(cfg, path=path)


def _did_you_mean(message: str, at: str | None) -> str:
    """``; did you mean `connections_limit`?`` for an unknown key close to a known one."""
    prefix = "Object contains unknown field `"
    if not message.startswith(prefix):
        return ""
    unknown = message[len(prefix):].partition("`")[0]
    struct: Any = Config
    for part in (at or "").split(".") if at else ():
        fields = {f.name: f.type for f in msgspec.structs.fields(struct)}
        struct = fields.get(part)
        if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
            return ""
    close = difflib.get_close_matches(unknown, struct.__struct_fields__, n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"`{c}`" for c in close) + "?"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A config together with where it came from."""

    config: Config
    paths: Paths
    file_values: frozenset[str]
    """Dotted keys whose value came from the file (the rest are defaults)."""
    file_exists: bool

    def source_of(self, key: str) -> str:
        """``"file"`` or ``"default"`` for a dotted key."""
        return "file" if key in self.file_values else "default"

    def download_dir(self) -> Path:
        configured = self.config.storage.download_dir
        return Path(configured).expanduser() if configured else self.paths.default_download_dir


def _dotted_keys(raw: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _dotted_keys(value, dotted + ".")
        else:
            yield dotted


MAX_CONFIG_BYTES = 1 << 20
"""Largest config file read (a real one is a few KiB)."""


def parse_text(text: str, *, path: str | None = None) -> tuple[Config, dict[str, Any]]:
    """A config file's text -> the checked :class:`Config` and the raw TOML mapping.

    Raises:
        ConfigError: the text is too large, not TOML (including nesting too deep for the
            parser and integers too long to convert), or a value is wrong.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{len(text)} characters; a config file is at most "
                          f"{MAX_CONFIG_BYTES}", path=path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {shorten(str(exc), 300)}", path=path) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError("not valid TOML: nested too deeply", path=path) from None
    except ValueError as exc:  # int() of more than 4,300 digits
        raise ConfigError(f"not valid TOML: {shorten(str(exc), 300)}", path=path) from None
    return from_dict(raw, path=path), raw


def load(paths: Paths | None = None) -> LoadedConfig:
    """Read the config file (if any) for these paths; defaults fill the rest."""
    paths = paths or resolve_paths()
    file = paths.config_file
    exists = file.is_file()
    text = ""
    if exists:
        try:
            with file.open("rb") as f:
                data = f.read(MAX_CONFIG_BYTES + 1)
            if len(data) > MAX_CONFIG_BYTES:
                raise ConfigError(f"larger than {MAX_CONFIG_BYTES} bytes; a config file is a "
                                  "few KiB", path=str(file))
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", path=str(file)) from None
    cfg, raw = parse_text(text, path=str(file))
    return LoadedConfig(cfg, paths, frozenset(_dotted_keys(raw)), exists)


def flatten(cfg: Config) -> dict[str, Any]:
    """Every setting as ``{"section.key": value}``, in declaration order."""
    out: dict[str, Any] = {}
    for section in cfg.__struct_fields__:
        sub = getattr(cfg, section)
        for field in sub.__struct_fields__:
            out[f"{section}.{field}"] = getattr(sub, field)
    return out


LOOPBACK_NETWORK: dict[str, Any] = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_utp": False,
    "allow_multiple_connections_per_ip": True,
}
"""The ``[network]`` section of a swarm that lives on 127.0.0.1 alone (the demo, tests and
benchmarks): no DHT, LSD or port mapping, TCP only, several peers per address."""


def loopback_toml() -> str:
    """:data:`LOOPBACK_NETWORK` as a config.toml section."""
    lines = ["[network]"]
    for key, value in LOOPBACK_NETWORK.items():
        lines.append(f"{key} = " + (("true" if value else "false") if isinstance(value, bool)
                                    else f'"{value}"'))
    return "\n".join(lines) + "\n"
