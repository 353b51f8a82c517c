"""Config file -> Settings: the only place a config is checked.

Follows Vault's server config (HCL or JSON): one `storage` block, one or more `listener`
blocks, OpenBao-style `audit` blocks and top-level settings. Anything unknown, missing,
of the wrong type or out of range stops start-up with a ConfigError naming the dotted
key and the file. Relative paths (storage path, TLS files) are resolved against the
current directory, as Vault does, and stored absolute.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from config.audit_blocks import audit_devices
from config.blocks import labelled_blocks
from config.errors import ConfigError
from config.fields import Section
from config.listener_blocks import DEFAULT_ADDRESS, listeners
from config.reader import read_config_file
from config.settings import Settings, StorageSettings
from config.units import format_duration

__all__ = [
    "DEFAULT_ADDRESS",
    "DEV_SOURCE",
    "dev_settings",
    "load_settings",
    "settings_from_dict",
]

DEV_SOURCE = "dev mode"

DEFAULT_LEASE_TTL = 768 * 3600  # Vault's default for both default_lease_ttl and max_lease_ttl
DEFAULT_UNSEAL_PROGRESS_TTL = 10 * 60
DEFAULT_MAP_SIZE = 2**30
DEFAULT_MAX_MAP_SIZE = 64 * 2**30
STORAGE_BACKENDS = ("lmdb", "inmem")
MAX_WORKERS = 64

_LOG_LEVELS = {
    "trace": "trace",
    "debug": "debug",
    "info": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
}

_BLOCK_KEYS = ("storage", "listener", "audit")
_TOP_LEVEL_KEYS = frozenset(
    {
        *_BLOCK_KEYS,
        "disable_mlock",
        "api_addr",
        "log_level",
        "ui",
        "unsafe_allow_api_audit_creation",
        "default_lease_ttl",
        "max_lease_ttl",
        "unseal_progress_ttl",
        "workers",
    }
)
# Vault/OpenBao top-level settings strongroom does not implement: refused with a reason.
_VAULT_ONLY_TOP_LEVEL = frozenset(
    {
        "backend",
        "ha_backend",
        "ha_storage",
        "seal",
        "cluster_addr",
        "cluster_name",
        "disable_clustering",
        "telemetry",
        "service_registration",
        "plugin_directory",
        "pid_file",
        "disable_cache",
        "cache_size",
        "disable_performance_standby",
        "raw_storage_endpoint",
        "introspection_endpoint",
        "log_format",
        "log_file",
        "initialize",
        "user_lockout",
        "experiments",
    }
)


def load_settings(path: str | os.PathLike[str], *, check_files: bool = True) -> Settings:
    """Settings from the HCL or JSON config file at path.

    check_files=False skips opening the TLS certificate and key files; it exists for tests
    and config linting, never for a server that is about to serve.
    """
    source = os.fspath(path)
    return settings_from_dict(read_config_file(source), source, check_files=check_files)


def settings_from_dict(data: Mapping[str, Any], source: str, *, check_files: bool = True) -> Settings:
    """Settings from an already parsed config; source names it in errors."""
    top = Section(
        source,
        "",
        data,
        _TOP_LEVEL_KEYS,
        unsupported=_VAULT_ONLY_TOP_LEVEL,
        repeatable=_BLOCK_KEYS,
    )
    default_lease_ttl = top.duration("default_lease_ttl", DEFAULT_LEASE_TTL)
    max_lease_ttl = top.duration("max_lease_ttl", DEFAULT_LEASE_TTL)
    if default_lease_ttl > max_lease_ttl:
        raise top.error(
            "default_lease_ttl",
            f"{format_duration(default_lease_ttl)} is longer than max_lease_ttl "
            f"({format_duration(max_lease_ttl)})",
        )
    storage = _storage(top)
    workers = top.count("workers", 1, 1, MAX_WORKERS)
    if workers > 1 and storage.backend != "lmdb":
        raise top.error("workers", "worker processes share an LMDB store; inmem storage allows only 1")
    return Settings(
        storage=storage,
        workers=workers,
        listeners=listeners(top, check_files=check_files),
        disable_mlock=top.boolean("disable_mlock", False),
        api_addr=_api_addr(top),
        log_level=top.choice("log_level", "info", _LOG_LEVELS),  # type: ignore[arg-type]
        ui=top.boolean("ui", False),
        unsafe_allow_api_audit_creation=top.boolean("unsafe_allow_api_audit_creation", False),
        default_lease_ttl=default_lease_ttl,
        max_lease_ttl=max_lease_ttl,
        unseal_progress_ttl=top.duration("unseal_progress_ttl", DEFAULT_UNSEAL_PROGRESS_TTL),
        audit_devices=audit_devices(top),
        source=source,
    )


def dev_settings(
    data_dir: str | os.PathLike[str] | None = None, address: str = DEFAULT_ADDRESS
) -> Settings:
    """Settings for `strongroom server -dev`: plain HTTP on address, data in memory, or in
    an LMDB store at data_dir (which the caller creates, e.g. as a temporary directory)."""
    storage = {"inmem": {}} if data_dir is None else {"lmdb": {"path": os.fspath(data_dir)}}
    data = {"storage": storage, "listener": {"tcp": {"address": address, "tls_disable": True}}}
    return settings_from_dict(data, DEV_SOURCE, check_files=False)


def _storage(top: Section) -> StorageSettings:
    if not top.has("storage"):
        raise top.error("storage", 'missing required block, e.g. storage "lmdb" { path = "./data" }')
    blocks = labelled_blocks(top, "storage", example="lmdb")
    if len(blocks) != 1:
        raise top.error("storage", f"{len(blocks)} storage blocks given; exactly one is allowed")
    backend, body, location = blocks[0]
    if backend not in STORAGE_BACKENDS:
        raise ConfigError(
            top.source, location, f"unsupported storage type (supported: {', '.join(STORAGE_BACKENDS)})"
        )
    if backend == "inmem":
        Section(top.source, location, body, ())
        return StorageSettings("inmem", None, DEFAULT_MAP_SIZE, DEFAULT_MAX_MAP_SIZE)
    section = Section(top.source, location, body, ("path", "map_size", "max_map_size"))
    path = section.required_string("path")
    map_size = section.size("map_size", DEFAULT_MAP_SIZE)
    max_map_size = section.size("max_map_size", max(DEFAULT_MAX_MAP_SIZE, map_size))
    if map_size > max_map_size:
        raise section.error("max_map_size", f"must be at least map_size ({map_size} bytes)")
    return StorageSettings("lmdb", os.path.abspath(path), map_size, max_map_size)


def _api_addr(top: Section) -> str | None:
    value = top.optional_string("api_addr")
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value)
    if "@" in parts.netloc:
        # Not echoed: the part before "@" would be a password.
        raise top.error("api_addr", "must not contain user:password@")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise top.error("api_addr", f"invalid port in {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise top.error("api_addr", f'expected a URL like "https://vault.example.com:8200", got {value!r}')
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise top.error("api_addr", f"must be scheme://host[:port] only, got {value!r}")
    return value
