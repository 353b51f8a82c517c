"""KV v2's records: the engine config, a key's metadata and its versions, as Vault keeps them.

Pure data and rules, no storage: how a version is added and which old versions fall out of
the max_versions window, when a version counts as deleted, and how each record is shown in
the API (Go's RFC 3339 timestamps with nanoseconds, Go's duration strings). Times are integer
nanoseconds since the epoch, as Vault's protobuf timestamps are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from config.units import format_duration

DEFAULT_MAX_VERSIONS = 10  # Vault's defaultMaxVersions
EXPIRY_DISABLED = -1  # config delete_version_after < 0: no version ever expires
NANOS = 1_000_000_000


@functools.lru_cache(maxsize=4096)
def _go_seconds(seconds: int) -> str:
    # strftime is most of a KV read's time formatting; a version's times never change.
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


@functools.lru_cache(maxsize=2048)
def go_time(ns: int | None) -> str:
    """Go's time.RFC3339Nano in UTC (trailing zeros of the fraction dropped); "" for unset.

    Cached whole: every read of a version shows its times again."""
    if ns is None:
        return ""
    seconds, fraction = divmod(ns, NANOS)
    text = _go_seconds(seconds)
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def go_duration(seconds: int) -> str:
    """A whole number of seconds as Go prints a time.Duration ("1h30m0s", "-1s")."""
    return "-" + format_duration(-seconds) if seconds < 0 else format_duration(seconds)


@dataclass
class EngineConfig:
    """The mount-wide settings at <mount>/config."""

    max_versions: int = 0
    cas_required: bool = False
    metadata_cas_required: bool = False
    delete_version_after: int = 0  # seconds; 0 unset, EXPIRY_DISABLED disables expiry

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> "EngineConfig":
        return cls(**record) if record else cls()

    def to_record(self) -> dict[str, Any]:
        return {
            "max_versions": self.max_versions,
            "cas_required": self.cas_required,
            "metadata_cas_required": self.metadata_cas_required,
            "delete_version_after": self.delete_version_after,
        }

    def to_api(self) -> dict[str, Any]:
        return {**self.to_record(), "delete_version_after": go_duration(self.delete_version_after)}


@dataclass
class VersionMetadata:
    created: int
    deletion: int | None = None
    destroyed: bool = False

    def deleted(self, now: int) -> bool:
        """Soft-deleted, or past its delete_version_after expiry (Vault: deletion_time before now)."""
        return self.deletion is not None and self.deletion < now

    def to_api(self) -> dict[str, Any]:
        return {"created_time": go_time(self.created), "deletion_time": go_time(self.deletion),
                "destroyed": self.destroyed}


@dataclass
class KeyMetadata:
    """One secret's metadata: its settings and the window of versions it keeps."""

    created: int
    updated: int
    current_version: int = 0
    oldest_version: int = 0
    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: int = 0
    custom_metadata: dict[str, str] | None = None
    metadata_version: int = 0
    metadata_cas_required: bool = False
    versions: dict[int, VersionMetadata] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "KeyMetadata":
        fields = dict(record)
        fields["versions"] = {int(n): VersionMetadata(*v) for n, v in record["versions"].items()}
        if record.get("custom_metadata") is not None:
            fields["custom_metadata"] = dict(record["custom_metadata"])  # record is left as it was
        return cls(**fields)

    def to_record(self) -> dict[str, Any]:
        record = {name: getattr(self, name) for name in _RECORD_FIELDS}
        # msgpack maps in the barrier take string keys only.
        record["versions"] = {str(n): [v.created, v.deletion, v.destroyed] for n, v in self.versions.items()}
        return record

    def expiry(self, start: int, config: EngineConfig) -> int | None:
        """When a version made (or undeleted) at start expires: the shorter non-zero of the
        mount's and the key's delete_version_after, unless the mount disabled expiry."""
        if config.delete_version_after < 0:
            return None
        periods = [p for p in (config.delete_version_after, self.delete_version_after) if p > 0]
        return start + min(periods) * NANOS if periods else None

    def keep(self, config: EngineConfig) -> int:
        """How many versions to keep: the key's setting, else the mount's, else 10 (Vault's order)."""
        return self.max_versions or config.max_versions or DEFAULT_MAX_VERSIONS

    def add_version(self, created: int, config: EngineConfig) -> tuple[int, VersionMetadata, list[int]]:
        """Add the next version; returns its number, its metadata and the versions pruned.

        Vault's window: once current - oldest reaches the limit, every version up to
        current - limit leaves the map and oldest moves past them (so oldest_version stays 0
        until the first prune, as Vault reports it).
        """
        version = VersionMetadata(created, self.expiry(created, config))
        self.current_version += 1
        self.versions[self.current_version] = version
        self.updated = created
        limit = self.keep(config)
        pruned: list[int] = []
        if self.current_version - self.oldest_version >= limit:
            last = self.current_version - limit
            pruned = sorted(n for n in self.versions if n <= last)
            for number in pruned:
                del self.versions[number]
            self.oldest_version = last + 1
        return self.current_version, version, pruned

    def version_api(self, number: int) -> dict[str, Any]:
        """A version's metadata as data reads and writes show it (VersionMetadata.to_api's
        fields, built here in one dict: this is every KV read)."""
        version = self.versions[number]
        return {"version": number, "created_time": go_time(version.created),
                "deletion_time": go_time(version.deletion), "destroyed": version.destroyed,
                "custom_metadata": self._custom_metadata_api()}

    def _custom_metadata_api(self) -> dict[str, str] | None:
        # A copy: readers share this object (kv_cache.py), and a reply is the caller's to keep.
        return dict(self.custom_metadata) if self.custom_metadata is not None else None

    def to_api(self) -> dict[str, Any]:
        return {
            "cas_required": self.cas_required,
            "created_time": go_time(self.created),
            "current_metadata_version": self.metadata_version,
            "current_version": self.current_version,
            "custom_metadata": self._custom_metadata_api(),
            "delete_version_after": go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "metadata_cas_required": self.metadata_cas_required,
            "oldest_version": self.oldest_version,
            "updated_time": go_time(self.updated),
            "versions": {str(n): self.versions[n].to_api() for n in sorted(self.versions)},
        }


# KeyMetadata's fields stored as they are (versions is reshaped), listed once for to_record.
_RECORD_FIELDS = tuple(name for name in KeyMetadata.__dataclass_fields__ if name != "versions")
