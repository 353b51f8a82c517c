"""The mount table: which secrets engine answers under which path, kept inside the barrier.

Each mount owns the storage prefix `logical/<uuid>/`; its engine sees only a view of that
prefix. Paths are case-sensitive and end in '/', as Vault's; one mount may not be a prefix of
another. Unmounting removes the mount's data in the same transaction as the table change.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

from config.units import InvalidDurationError, parse_duration
from seal.barrier import Barrier
from seal.ops import BarrierDelete, BarrierPut
from server.errors import BadRequestError

MOUNTS_PATH = "core/mounts"
AUTH_TABLE_PATH = "core/auth"
LOGICAL_PREFIX = "logical/"
AUTH_PREFIX = "auth/"
MATCHES_KEPT = 1024  # match() answers kept per table
SYSTEM_DEFAULT_TTL = 32 * 24 * 3600  # Vault's default_lease_ttl / max_lease_ttl: 768h

# Types that can be mounted through sys/mounts, with Vault's aliases.
MOUNTABLE_TYPES = {"kv", "transit"}
AUTH_TYPES = {"approle", "userpass"}
TYPE_ALIASES = {"kv-v2": ("kv", "2"), "kv-v1": ("kv", "1"), "generic": ("kv", "1")}
RESERVED_PREFIXES = ("sys/", "cubbyhole/", "identity/", "auth/")
KV_VERSIONS = ("1", "2")


@dataclass
class MountEntry:
    """One row of the mount table, in Vault's shape."""

    path: str
    type: str
    description: str = ""
    accessor: str = ""
    uuid: str = ""
    options: dict[str, str] | None = None
    default_lease_ttl: int = 0
    max_lease_ttl: int = 0
    force_no_cache: bool = False
    local: bool = False
    seal_wrap: bool = False
    external_entropy_access: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    storage_root: str = LOGICAL_PREFIX

    @property
    def storage_prefix(self) -> str:
        return f"{self.storage_root}{self.uuid}/"

    def to_api(self) -> dict[str, Any]:
        """The mount as sys/mounts shows it."""
        body: dict[str, Any] = {
            "accessor": self.accessor,
            "config": {
                "default_lease_ttl": self.default_lease_ttl,
                "force_no_cache": self.force_no_cache,
                "max_lease_ttl": self.max_lease_ttl,
            },
            "description": self.description,
            "external_entropy_access": self.external_entropy_access,
            "local": self.local,
            "options": self.options,
            "plugin_version": "",
            "running_plugin_version": "builtin",
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.type,
            "uuid": self.uuid,
        }
        if self.type in MOUNTABLE_TYPES | AUTH_TYPES:
            body["deprecation_status"] = "supported"
        return body


def system_mount() -> MountEntry:
    return MountEntry(path="sys/", type="system", description="system endpoints used for control, policy and debugging",
                      accessor="system_" + secrets.token_hex(4), uuid=str(uuid.uuid4()), seal_wrap=True)


def cubbyhole_mount() -> MountEntry:
    return MountEntry(path="cubbyhole/", type="cubbyhole", description="per-token private secret storage",
                      accessor="cubbyhole_" + secrets.token_hex(4), uuid=str(uuid.uuid4()), local=True)


def token_auth_mount() -> MountEntry:
    return MountEntry(path="token/", type="token", description="token based credentials",
                      accessor="auth_token_" + secrets.token_hex(4), uuid=str(uuid.uuid4()), storage_root=AUTH_PREFIX)


@dataclass(frozen=True)
class MountKind:
    """What differs between the secrets mount table and the auth method table."""

    table_path: str
    storage_root: str
    mountable: frozenset[str]
    aliases: dict[str, tuple[str, str]]
    reserved: tuple[str, ...]
    builtin: dict[str, Callable[[], MountEntry]]
    permanent: tuple[str, ...]


SECRET_MOUNTS = MountKind(MOUNTS_PATH, LOGICAL_PREFIX, frozenset(MOUNTABLE_TYPES), TYPE_ALIASES,
                          RESERVED_PREFIXES, {"sys/": system_mount, "cubbyhole/": cubbyhole_mount},
                          ("sys/", "cubbyhole/"))
AUTH_MOUNTS = MountKind(AUTH_TABLE_PATH, AUTH_PREFIX, frozenset(AUTH_TYPES), {}, ("token/",),
                        {"token/": token_auth_mount}, ("token/",))


def mount_path(raw: str) -> str:
    """A mount path as stored: no leading slash, one trailing slash."""
    if raw.endswith("/"):
        raise BadRequestError("cannot write to a path ending in '/'")
    path = raw.strip("/")
    if not path:
        raise BadRequestError("a mount path is required")
    return path + "/"


def parse_ttl(value: Any, name: str) -> int | None:
    """A TTL field as the CLI and hvac send it: seconds, a duration string, or ""/None (unset)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadRequestError(f"{name} must be a duration string or an integer number of seconds")
    try:
        return parse_duration(value)
    except InvalidDurationError:
        raise BadRequestError(f"unable to parse {name}: invalid duration {value!r}") from None


class MountTable:
    """The table, loaded from and saved to the barrier; one lock serialises changes."""

    def __init__(self, barrier: Barrier, kind: MountKind = SECRET_MOUNTS) -> None:
        self._barrier = barrier
        self.kind = kind
        self._mutex = threading.Lock()
        self._entries: dict[str, MountEntry] = {}
        # match()'s answers by path, for the table they were found in.
        self._matched_in: dict[str, MountEntry] | None = None
        self._matched: dict[str, MountEntry | None] = {}

    def load(self) -> None:
        """Read the table after unseal (built-in mounts are added when missing)."""
        records = self._barrier.get(self.kind.table_path) or []
        entries = {r["path"]: MountEntry(**r) for r in records}
        missing = [path for path in self.kind.builtin if path not in entries]
        for path in missing:
            entries[path] = self.kind.builtin[path]()
        self._entries = entries  # replaced whole, never changed in place: match() relies on it
        if missing:
            self._barrier.put(self.kind.table_path, self._records())

    def clear(self) -> None:
        self._entries = {}

    def entries(self) -> list[MountEntry]:
        return [self._entries[p] for p in sorted(self._entries)]

    def get(self, path: str) -> MountEntry | None:
        return self._entries.get(path if path.endswith("/") else path + "/")

    def match(self, path: str) -> MountEntry | None:
        """The mount whose path is the longest prefix of path."""
        entries = self._entries
        if self._matched_in is not entries:  # the table was replaced (every change replaces it)
            self._matched_in, self._matched = entries, {}
        try:
            return self._matched[path]
        except KeyError:
            pass
        best = None
        for mount_path_, entry in entries.items():
            if (path + "/").startswith(mount_path_) and (best is None or len(mount_path_) > len(best.path)):
                best = entry
        if len(self._matched) >= MATCHES_KEPT:
            self._matched.clear()  # paths are the clients' to choose: keep a bounded few
        self._matched[path] = best
        return best

    def mount(self, path: str, mount_type: Any, *, description: str = "", options: Any = None,
              config: dict[str, Any] | None = None, local: bool = False, seal_wrap: bool = False) -> MountEntry:
        if not isinstance(mount_type, str) or not mount_type:
            raise BadRequestError("backend type must be specified as a string")
        if any(path.startswith(p) for p in self.kind.reserved):
            raise BadRequestError(f'cannot mount "{path}"')
        if mount_type in ("system", "token", "cubbyhole"):
            raise BadRequestError(f'mount type of "{mount_type}" is not mountable')
        kind, options = _kind_and_options(mount_type, options, self.kind)
        config = config or {}
        default_ttl = parse_ttl(config.get("default_lease_ttl"), "default lease TTL") or 0
        max_ttl = parse_ttl(config.get("max_lease_ttl"), "max lease TTL") or 0
        _check_ttls(default_ttl, max_ttl)
        entry = MountEntry(
            path=path, type=kind, description=description if isinstance(description, str) else "",
            accessor=f"{kind}_{secrets.token_hex(4)}", uuid=str(uuid.uuid4()), options=options,
            default_lease_ttl=default_ttl, max_lease_ttl=max_ttl,
            force_no_cache=_flag(config.get("force_no_cache"), "force_no_cache"), local=bool(local),
            seal_wrap=bool(seal_wrap),
        )
        with self._mutex:
            for existing in self._entries:
                if existing.startswith(path) or path.startswith(existing):
                    raise BadRequestError(f"path is already in use at {existing}")
            self._commit({**self._entries, path: entry}, [])
        return entry

    def unmount(self, path: str) -> None:
        """Remove a mount and every entry of its storage; unmounting nothing is not an error."""
        if path in self.kind.permanent:
            raise BadRequestError(f'cannot unmount "{path}"')
        with self._mutex:
            entry = self._entries.get(path)
            if entry is None:
                return
            doomed = [BarrierDelete(p) for p in self._walk(entry.storage_prefix)]
            remaining = {p: e for p, e in self._entries.items() if p != path}
            self._commit(remaining, doomed)

    def tune(self, path: str, data: dict[str, Any]) -> MountEntry:
        with self._mutex:
            entry = self._entries.get(path)
            if entry is None:
                raise BadRequestError(f'tune of path "{path}" failed: no mount entry found')
            changes: dict[str, Any] = {}
            for name, label in (("default_lease_ttl", "default lease TTL"), ("max_lease_ttl", "max lease TTL")):
                ttl = parse_ttl(data.get(name), label)
                if ttl is not None:
                    changes[name] = ttl
            _check_ttls(changes.get("default_lease_ttl", entry.default_lease_ttl),
                        changes.get("max_lease_ttl", entry.max_lease_ttl))
            description = data.get("description")
            if description is not None and not isinstance(description, str):
                raise BadRequestError("description must be a string")
            if description is not None:
                changes["description"] = description
            if data.get("force_no_cache") is not None:
                changes["force_no_cache"] = _flag(data["force_no_cache"], "force_no_cache")
            if data.get("options") and entry.type == "kv":
                changes["options"] = _tuned_kv_options(entry.options, data["options"])
            tuned = replace(entry, **changes)
            self._commit({**self._entries, path: tuned}, [])
            return tuned

    def _commit(self, entries: dict[str, MountEntry], extra_ops: list[BarrierDelete]) -> None:
        records = [asdict(entries[p]) for p in sorted(entries)]
        self._barrier.transaction([BarrierPut(self.kind.table_path, records), *extra_ops])
        self._entries = entries

    def _records(self) -> list[dict[str, Any]]:
        return [asdict(self._entries[p]) for p in sorted(self._entries)]

    def _walk(self, prefix: str) -> list[str]:
        found, pending = [], [prefix]
        while pending:
            folder = pending.pop()
            for child in self._barrier.list(folder):
                (pending if child.endswith("/") else found).append(folder + child)
        return found


def _flag(value: Any, name: str) -> bool:
    """A boolean field; absent is false. (bool("false") is True: never coerce.)"""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequestError(f"{name} must be a boolean")
    return value


def _string_options(options: Any) -> dict[str, str]:
    """Vault's options are a map of strings; integers are taken as their decimal text
    (`"version": 2`), anything else is refused rather than stored as Python's repr."""
    if not isinstance(options, dict):
        raise BadRequestError("options must be an object")
    result = {}
    for key, value in options.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise BadRequestError(f"options.{key} must be a string")
        result[key] = str(value)
    return result


def _kind_and_options(mount_type: str, options: Any, kind: MountKind) -> tuple[str, dict[str, str] | None]:
    options = _string_options(options) if options is not None else None
    if mount_type in kind.aliases:
        mount_type, version = kind.aliases[mount_type]
        options = {**(options or {}), "version": version}
    if mount_type not in kind.mountable:
        raise BadRequestError(f"plugin not found in the catalog: {mount_type}")
    if mount_type == "kv":
        version = (options or {}).get("version", "1")
        if version not in KV_VERSIONS:
            raise BadRequestError(f"unsupported kv version {version!r}: use 1 or 2")
    return mount_type, options


def _tuned_kv_options(current: dict[str, str] | None, requested: Any) -> dict[str, str]:
    merged = {**(current or {}), **_string_options(requested)}
    old, new = (current or {}).get("version", "1"), merged.get("version", "1")
    if new not in KV_VERSIONS:
        raise BadRequestError(f"unsupported kv version {new!r}: use 1 or 2")
    if old == "2" and new == "1":
        raise BadRequestError("cannot downgrade mount from version 2")
    if old != new:
        # Vault upgrades v1 data in place; strongroom does not yet, so it refuses rather
        # than leave v1 entries that a v2 engine would misread.
        raise BadRequestError("changing the kv version of an existing mount is not supported")
    return merged


def _check_ttls(default_ttl: int, max_ttl: int) -> None:
    effective_default = default_ttl or SYSTEM_DEFAULT_TTL
    effective_max = max_ttl or SYSTEM_DEFAULT_TTL
    if effective_max < effective_default:
        raise BadRequestError(
            f"backend max lease TTL of {effective_max} would be less than backend default lease TTL of {effective_default}"
        )
