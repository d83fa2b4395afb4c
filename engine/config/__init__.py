"""Typed configuration, read from TOML: the declaration (:mod:`.sections`) and its
reading and checking (:mod:`.load`), under one name (``tidegate.engine.config``)."""

from __future__ import annotations

from .load import (
    _CHECKS,
    DAY,
    INT_MAX,
    LOOPBACK_NETWORK,
    MAX_CONFIG_BYTES,
    YEAR,
    LoadedConfig,
    flatten,
    from_dict,
    load,
    loopback_toml,
    parse_text,
    tor_socks,
    validate,
)
from .sections import (
    ApiConfig,
    BusConfig,
    Config,
    EngineConfig,
    LimitsConfig,
    NetworkConfig,
    PerformanceConfig,
    ProxyConfig,
    QueueConfig,
    RatesConfig,
    SeedingConfig,
    SitesConfig,
    StorageConfig,
    TorConfig,
    WebConfig,
)

__all__ = [
    "DAY", "INT_MAX", "LOOPBACK_NETWORK", "MAX_CONFIG_BYTES", "YEAR", "_CHECKS",
    "ApiConfig", "BusConfig", "Config", "EngineConfig", "LimitsConfig", "LoadedConfig",
    "NetworkConfig", "PerformanceConfig", "ProxyConfig", "QueueConfig", "RatesConfig",
    "SeedingConfig", "SitesConfig", "StorageConfig", "TorConfig", "WebConfig", "flatten",
    "from_dict", "load", "loopback_toml", "parse_text", "tor_socks", "validate",
]
