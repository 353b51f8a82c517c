"""The transit key model: one named key ring of versions, and the policy that governs it
(minimum encryption/decryption versions, derivation, export and deletion flags).

The rules and their messages are Vault's keysutil.Policy; the record this module writes into
the barrier is strongroom's own msgpack layout (RECORD_FORMAT). Each version's secret lives
in a LockedBuffer; crypto objects built from it are cached on the version and dropped, with
the buffers zeroed, by close().
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from seal.errors import MemoryLockError
from seal.lockedmem import LockedBuffer, zero_bytearray
from server.engines.transit_encoding import b64decode
from server.engines.transit_errors import KeyConfigError, KeyVersionError, StoredKeyError, TransitError
from server.engines.transit_keytypes import (
    HMAC_KEY_BYTES,
    HMAC_MAX_KEY_BYTES,
    HMAC_MIN_KEY_BYTES,
    KEY_TYPES,
    KeyType,
    Material,
)
from server.engines.transit_lifecycle import PRE_ACTIVE, VersionLife
from server.engines.transit_symmetric import AEAD, KDF_HKDF_SHA256, make_aead

log = logging.getLogger("strongroom.transit")

RECORD_FORMAT = 2  # 2 added lifecycles; a format 1 record loads with every version active
READABLE_FORMATS = (1, RECORD_FORMAT)
DEFAULT_USAGE_LIMIT = 2**30  # well below SP 800-38D §8.3's 2^32 invocations for random 96-bit nonces
MAX_USAGE_LIMIT = 2**32
DEFAULT_DESTRUCTION_WAIT = 7 * 86400
CONVERGENT_VERSION = 3  # keysutil currentConvergentVersion: nonce = HMAC(plaintext)
MIN_AUTO_ROTATE_SECONDS = 3600
ERR_SOFT_DELETED = "refusing to use soft-deleted key"
ERR_TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"

_lock_refused = False
_lock_wanted = True


def configure_locking(enabled: bool) -> None:
    """Follow the server's disable_mlock (every mount shares the one process setting)."""
    global _lock_wanted
    _lock_wanted = enabled


def lock_secret(data: bytearray | bytes) -> LockedBuffer:
    """A locked copy of key bytes. If RLIMIT_MEMLOCK is exhausted the copy is kept unlocked
    (still zeroed on close) and that is logged once, rather than refusing to serve keys."""
    global _lock_refused
    if _lock_wanted and not _lock_refused:
        try:
            return LockedBuffer.from_bytes(data, lock=True)
        except MemoryLockError:
            _lock_refused = True
            log.warning("transit: memory lock limit reached; further key versions are kept unlocked")
    return LockedBuffer.from_bytes(data, lock=False)


class KeyVersion:
    """One version of a key: its secret (None when only a public key was imported), its
    HMAC key, Vault's formatted public key, and the crypto objects built from them."""

    __slots__ = ("number", "created_ns", "secret", "hmac_key", "public", "convergent_version", "life", "_cache")

    def __init__(self, number: int, created_ns: int, secret: LockedBuffer | None, hmac_key: LockedBuffer | None,
                 public: str = "", convergent_version: int = 0, life: VersionLife | None = None) -> None:
        self.number, self.created_ns = number, created_ns
        self.secret, self.hmac_key, self.public = secret, hmac_key, public
        self.convergent_version = convergent_version
        self.life = life if life is not None else VersionLife.fresh(created_ns)
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"KeyVersion({self.number})"

    @property
    def has_private(self) -> bool:
        return self.secret is not None

    def aead(self, key_type: KeyType) -> AEAD:
        """The AEAD for this version's own key (non-derived keys), built once."""
        return self.cached("aead", lambda: make_aead(key_type, self._secret_view()))

    def cached(self, name: str, build: Callable[[], Any]) -> Any:
        """build(), made once and kept with the crypto objects built from this version's
        secret (dropped with them); a build that raises keeps nothing."""
        found = self._cache.get(name)
        if found is None:
            found = self._cache[name] = build()
        return found

    def private_key(self, key_type: KeyType) -> Any:
        key = self._cache.get("private")
        if key is None:
            view = self._secret_view()
            if key_type.family == "ed25519":
                key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(view[:32]))
            else:
                key = serialization.load_der_private_key(view, None)
            self._cache["private"] = key
        return key

    def public_key(self, key_type: KeyType) -> Any:
        key = self._cache.get("public")
        if key is None:
            if self.secret is not None:
                key = self.private_key(key_type).public_key()
            elif key_type.family == "ed25519":
                key = ed25519.Ed25519PublicKey.from_public_bytes(b64decode(self.public))
            else:
                key = serialization.load_pem_public_key(self.public.encode("ascii"))
            self._cache["public"] = key
        return key

    def drop_cached_crypto(self) -> None:
        """Forget objects built from the secret (after the secret changed)."""
        self._cache.clear()

    def _secret_view(self) -> memoryview:
        if self.secret is None:
            raise TransitError("requested version does not contain a private part")
        return self.secret.view()

    def to_record(self) -> dict[str, Any]:
        return {
            "n": self.number, "time": self.created_ns, "public": self.public, "convergent": self.convergent_version,
            "secret": self.secret.bytes() if self.secret is not None else None,
            "hmac_key": self.hmac_key.bytes() if self.hmac_key is not None else None,
            "life": self.life.to_record(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "KeyVersion":
        secret, hmac_key = record.get("secret"), record.get("hmac_key")
        created_ns = int(record["time"])
        return cls(int(record["n"]), created_ns,
                   lock_secret(secret) if secret else None, lock_secret(hmac_key) if hmac_key else None,
                   str(record.get("public") or ""), int(record.get("convergent") or 0),
                   VersionLife.from_record(record.get("life"), created_ns))

    def erase(self) -> None:
        """Zero and drop the secret and HMAC key for good (destruction); the public part,
        which protects nothing, stays for the record."""
        self.close()
        self.secret = self.hmac_key = None

    def close(self) -> None:
        self._cache.clear()
        for buffer in (self.secret, self.hmac_key):
            if buffer is not None:
                buffer.close()


class TransitKey:
    """A named key ring. Mutating methods change this object only; the store persists it."""

    def __init__(self, name: str, key_type: KeyType, **config: Any) -> None:
        self.name, self.type = name, key_type
        self.derived: bool = config.get("derived", False)
        self.kdf: int = config.get("kdf", KDF_HKDF_SHA256)
        self.convergent: bool = config.get("convergent", False)
        self.convergent_version: int = config.get("convergent_version", 0)
        self.exportable: bool = config.get("exportable", False)
        self.allow_plaintext_backup: bool = config.get("allow_plaintext_backup", False)
        self.deletion_allowed: bool = config.get("deletion_allowed", False)
        self.min_decryption_version: int = config.get("min_decryption_version", 0)
        self.min_encryption_version: int = config.get("min_encryption_version", 0)
        self.min_available_version: int = config.get("min_available_version", 0)
        self.latest_version: int = config.get("latest_version", 0)
        self.auto_rotate_period: int = config.get("auto_rotate_period", 0)  # seconds
        self.imported: bool = config.get("imported", False)
        self.allow_imported_rotation: bool = config.get("allow_imported_rotation", False)
        self.soft_deleted: bool = config.get("soft_deleted", False)
        self.key_size: int = config.get("key_size", 0)
        self.backup_info: tuple[int, int] | None = config.get("backup_info")  # (time ns, version)
        self.restore_info: tuple[int, int] | None = config.get("restore_info")
        # strongroom lifecycle settings (seconds; 0 = no such period)
        self.usage_limit: int = config.get("usage_limit", DEFAULT_USAGE_LIMIT)
        self.originator_usage_period: int = config.get("originator_usage_period", 0)
        self.recipient_usage_period: int = config.get("recipient_usage_period", 0)
        self.destruction_waiting_period: int = config.get("destruction_waiting_period", DEFAULT_DESTRUCTION_WAIT)
        self.activation_ns: int = 0  # when set, the next version made is pre-active until then
        self.versions: dict[int, KeyVersion] = {}

    def __repr__(self) -> str:
        return f"TransitKey({self.name!r}, {self.type.name}, v{self.latest_version})"

    @classmethod
    def define(cls, name: str, key_type: KeyType, *, derived: bool = False, convergent: bool = False,
               key_size: int = 0, **config: Any) -> "TransitKey":
        """A new, empty key definition, refused with Vault's messages where Vault refuses it."""
        if key_type.family == "aead":
            if convergent and not derived:
                raise KeyConfigError("convergent encryption requires derivation to be enabled")
        elif key_type.family == "ed25519":
            if convergent:
                raise KeyConfigError(f"convergent encryption not supported for keys of type {key_type.name}")
        elif derived or convergent:
            raise KeyConfigError(
                f"key derivation and convergent encryption not supported for keys of type {key_type.name}")
        if key_type.family == "hmac" and not HMAC_MIN_KEY_BYTES <= key_size <= HMAC_MAX_KEY_BYTES:
            raise KeyConfigError(f"invalid key size for HMAC key, must be between {HMAC_MIN_KEY_BYTES} "
                                 f"and {HMAC_MAX_KEY_BYTES} bytes")
        if derived and key_type.family == "ed25519" and config.get("kdf", KDF_HKDF_SHA256) != KDF_HKDF_SHA256:
            raise KeyConfigError("derived ed25519 keys require the hkdf_sha256 kdf")
        key = cls(name, key_type, derived=derived, key_size=key_size, **config)
        if derived:
            key.kdf = config.get("kdf", KDF_HKDF_SHA256)
            if convergent:
                key.convergent, key.convergent_version = True, -1
        return key

    # -- versions ------------------------------------------------------------------------

    def add_version(self, material: Material, now_ns: int) -> KeyVersion:
        """Append a version made from material (zeroed here once it is locked away)."""
        try:
            secret = lock_secret(material.secret) if material.secret is not None else None
            if self.type.family == "hmac":
                hmac_key = lock_secret(material.secret) if material.secret is not None else None
            else:
                fresh = bytearray(os.urandom(HMAC_KEY_BYTES))
                hmac_key = lock_secret(fresh)
                zero_bytearray(fresh)
        finally:
            if material.secret is not None:
                zero_bytearray(material.secret)
        # Vault stamps the current scheme on each version unless the key predates version 2.
        convergent = CONVERGENT_VERSION if self.convergent and (self.convergent_version == -1
                                                                or self.convergent_version > 1) else 0
        self.latest_version += 1
        life = VersionLife.fresh(now_ns, self.activation_ns)
        self.activation_ns = 0
        version = KeyVersion(self.latest_version, now_ns, secret, hmac_key, material.public, convergent, life)
        self.versions[self.latest_version] = version
        if self.min_decryption_version == 0:
            self.min_decryption_version = 1
        return version

    def check_rotatable(self) -> None:
        self.require_usable()
        if self.imported and not self.allow_imported_rotation:
            raise KeyConfigError(f"imported key {self.name} does not allow rotation within Vault")
        if self.type.family == "hmac" and not HMAC_MIN_KEY_BYTES <= self.key_size <= HMAC_MAX_KEY_BYTES:
            raise KeyConfigError(f"invalid key size for HMAC key, must be between {HMAC_MIN_KEY_BYTES} "
                                 f"and {HMAC_MAX_KEY_BYTES} bytes")

    def rotate(self, material: Material, now_ns: int) -> KeyVersion:
        self.check_rotatable()
        version = self.add_version(material, now_ns)
        self.imported = False
        return version

    def trim(self, min_available: int) -> None:
        """Delete every version below min_available for good (keys/:name/trim)."""
        self.min_available_version = min_available
        for number in [n for n in self.versions if n < min_available]:
            self.versions.pop(number).close()

    def version(self, number: int) -> KeyVersion:
        found = self.versions.get(number)
        if found is None:
            raise KeyVersionError("no such key version")
        return found

    @property
    def latest(self) -> KeyVersion:
        return self.version(self.latest_version)

    def convergent_scheme(self, number: int) -> int:
        """The convergent-encryption scheme a version uses (0 when the key is not convergent)."""
        if not self.convergent:
            return 0
        entry = self.versions.get(number)
        return (entry.convergent_version if entry is not None else 0) or self.convergent_version or 1

    def require_usable(self) -> None:
        if self.soft_deleted:
            raise TransitError(ERR_SOFT_DELETED)

    def encryption_version(self, requested: int, purpose: str = "encryption") -> int:
        """The version an encrypt/sign uses: 0 means the latest that is not still pre-active
        (Vault's checks and texts), refused unless its lifecycle lets it protect data now."""
        if requested == 0:
            return self.check_protect(self.newest_activated(time.time_ns()))
        if requested < 0:
            raise KeyVersionError(f"requested version for {purpose} is negative")
        if requested > self.latest_version:
            raise KeyVersionError(f"requested version for {purpose} is higher than the latest key version")
        if requested < self.min_encryption_version:
            raise KeyVersionError(
                f"requested version for {purpose} is less than the minimum encryption key version")
        return self.check_protect(requested)

    def newest_activated(self, now_ns: int) -> int:
        """The highest version that is no longer pre-active (the latest, in Vault's terms)."""
        for number in sorted(self.versions, reverse=True):
            if self.versions[number].life.effective_state(now_ns) != PRE_ACTIVE:
                return number
        return self.latest_version

    def check_protect(self, number: int) -> int:
        entry = self.versions.get(number)
        if entry is not None:
            entry.life.check_protect(number, time.time_ns(), self.originator_usage_period)
        return number

    def check_process(self, number: int) -> int:
        entry = self.versions.get(number)
        if entry is not None:
            entry.life.check_process(number, time.time_ns(), self.recipient_usage_period)
        return number

    def check_decryption_version(self, version: int, noun: str) -> int:
        """A version read from a ciphertext or signature; v0 is Vault's legacy name for v1."""
        if version == 0 and noun == "ciphertext":
            version = 1
        if version > self.latest_version:
            raise KeyVersionError(f"invalid {noun}: version is too new")
        if self.min_decryption_version > 0 and version < self.min_decryption_version:
            raise KeyVersionError(ERR_TOO_OLD)
        return self.check_process(version)

    # -- persistence -------------------------------------------------------------------------

    _CONFIG_FIELDS = ("derived", "kdf", "convergent", "convergent_version", "exportable", "allow_plaintext_backup",
                      "deletion_allowed", "min_decryption_version", "min_encryption_version",
                      "min_available_version", "latest_version", "auto_rotate_period", "imported",
                      "allow_imported_rotation", "soft_deleted", "key_size")
    _LIFECYCLE_FIELDS = ("usage_limit", "originator_usage_period", "recipient_usage_period",
                         "destruction_waiting_period")

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"format": RECORD_FORMAT, "name": self.name, "type": self.type.name}
        record.update({field: getattr(self, field) for field in self._CONFIG_FIELDS + self._LIFECYCLE_FIELDS})
        record["backup_info"] = list(self.backup_info) if self.backup_info else None
        record["restore_info"] = list(self.restore_info) if self.restore_info else None
        record["versions"] = [self.versions[n].to_record() for n in sorted(self.versions)]
        return record

    def to_schedule(self) -> dict[str, Any]:
        """The fields of to_record() that auto-rotation needs, without any secret."""
        schedule: dict[str, Any] = {
            "auto_rotate_period": self.auto_rotate_period, "soft_deleted": self.soft_deleted,
            "imported": self.imported, "allow_imported_rotation": self.allow_imported_rotation,
            "latest_version": self.latest_version,
            "versions": [{"n": v.number, "time": v.created_ns, "life": v.life.to_record()}
                         for v in self.versions.values()]}
        schedule.update({field: getattr(self, field) for field in self._LIFECYCLE_FIELDS})
        return schedule

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "TransitKey":
        try:
            if record.get("format") not in READABLE_FORMATS:
                raise StoredKeyError("unknown transit key record format")
            config = {field: record[field] for field in cls._CONFIG_FIELDS}
            config.update({field: int(record[field]) for field in cls._LIFECYCLE_FIELDS if field in record})
            key = cls(record["name"], KEY_TYPES[record["type"]], **config)
            key.backup_info = tuple(record["backup_info"]) if record.get("backup_info") else None
            key.restore_info = tuple(record["restore_info"]) if record.get("restore_info") else None
            for item in record["versions"]:
                version = KeyVersion.from_record(item)
                key.versions[version.number] = version
        except (KeyError, TypeError, ValueError) as exc:
            raise StoredKeyError(f"transit key record is malformed ({type(exc).__name__})") from None
        return key

    def close(self) -> None:
        for version in self.versions.values():
            version.close()
        self.versions = {}
