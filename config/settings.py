"""The typed, validated settings a strongroom server starts from.

Plain frozen dataclasses with no behaviour: config.loader builds them from a file and is
the only place that checks them. Sizes are bytes, durations whole seconds, paths absolute
(relative paths in the file were resolved against the current directory at load time).
Nothing here is secret: TLS keys are referred to by path, never held.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

__all__ = [
    "AuditDeviceSettings",
    "ListenerSettings",
    "LogLevel",
    "Settings",
    "StorageSettings",
    "TlsVersion",
]

LogLevel = Literal["trace", "debug", "info", "warn", "error"]
TlsVersion = Literal["tls12", "tls13"]


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """storage "lmdb" { ... } or storage "inmem" {}.

    For "inmem", path is None and the map sizes are unused.
    map_size is the initial LMDB map, max_map_size the ceiling it may grow to.
    """

    backend: Literal["lmdb", "inmem"]
    path: str | None
    map_size: int
    max_map_size: int


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    """listener "tcp" { ... }.

    host is without IPv6 brackets ("::1"); address is as written ("[::1]:8200").
    tls_cert_file and tls_key_file are set exactly when TLS is on (tls_disable false).
    """

    type: Literal["tcp"]
    address: str
    host: str
    port: int
    tls_disable: bool
    tls_cert_file: str | None
    tls_key_file: str | None
    tls_min_version: TlsVersion
    max_request_size: int
    max_request_duration: int
    disable_unauthed_rekey_endpoints: bool
    disable_unauthed_generate_root_endpoints: bool


@dataclass(frozen=True, slots=True)
class AuditDeviceSettings:
    """audit "file" "name" { description = ..., local = ..., options { ... } } (OpenBao).

    path is the mount path with one trailing slash, as Vault lists it ("file/"): the second
    block label, or the device type when the block has one label. options holds the
    device's own options unchecked beyond their types; the audit device validates them.
    """

    type: str
    path: str
    description: str
    local: bool
    options: Mapping[str, str | int | bool]


@dataclass(frozen=True, slots=True)
class Settings:
    """A whole server config. source is the file it came from ("dev mode" for -dev)."""

    storage: StorageSettings
    listeners: tuple[ListenerSettings, ...]
    disable_mlock: bool
    api_addr: str | None
    log_level: LogLevel
    ui: bool
    unsafe_allow_api_audit_creation: bool
    default_lease_ttl: int
    max_lease_ttl: int
    unseal_progress_ttl: int
    audit_devices: tuple[AuditDeviceSettings, ...]
    source: str
    # Processes serving the listeners (SO_REUSEPORT): one primary that writes, the rest
    # reading the same LMDB store and handing it everything that writes.
    workers: int = 1
