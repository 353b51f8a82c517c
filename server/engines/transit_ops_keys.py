"""Handlers for the key ring itself: transit/keys/:name (create, read, list, delete), its
config, rotate, trim and soft-delete, and the mount-wide config/keys.

Response shapes and messages are Vault's (keysutil via OpenBao's path_keys*.go). Where Vault
answers a plain client mistake with a 500 (creating a derived ECDSA key), strongroom answers
400 with the same message. One addition: `kdf` on create picks the derivation function
("hkdf_sha256", Vault's default for new keys, or the older "hmac-sha256-counter").
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from seal.lockedmem import zero_bytearray
from server.engines.transit_asym import derived_ed25519, ed25519_public_bytes
from server.engines.transit_encoding import b64encode, rfc3339_nano
from server.engines.transit_fields import Fields, decode_context
from server.engines.transit_key import MIN_AUTO_ROTATE_SECONDS, TransitKey
from server.engines.transit_keytypes import (
    DEFAULT_KEY_TYPE,
    HMAC_DEFAULT_KEY_BYTES,
    HMAC_MAX_KEY_BYTES,
    HMAC_MIN_KEY_BYTES,
    KEY_TYPES,
    KeyType,
    Material,
    generate_material,
)
from server.engines.transit_lifecycle_view import activation_time, lifecycle_info, read_settings
from server.engines.transit_symmetric import KDF_BY_NAME, KDF_HKDF_SHA256, KDF_HMAC_SHA256_COUNTER, KDF_NAMES
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical, no_content

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine

ROTATE_PERIOD_ERROR = "auto rotate period must be 0 to disable or at least an hour"


def now_ns() -> int:
    return time.time_ns()


async def new_material(key_type: KeyType, key_size: int = 0) -> Material:
    """Fresh material; RSA generation (up to seconds for 4096 bits) runs off the event loop."""
    if key_type.family == "rsa":
        return await asyncio.to_thread(generate_material, key_type, key_size)
    return generate_material(key_type, key_size)


def key_info(key: TransitKey, context: bytes | None = None) -> dict[str, Any]:
    """keys/:name as Vault shows it (formatKeyPolicy)."""
    kt = key.type
    data: dict[str, Any] = {
        "name": key.name, "type": kt.name, "derived": key.derived, "deletion_allowed": key.deletion_allowed,
        "min_available_version": key.min_available_version, "min_decryption_version": key.min_decryption_version,
        "min_encryption_version": key.min_encryption_version, "latest_version": key.latest_version,
        "exportable": key.exportable, "allow_plaintext_backup": key.allow_plaintext_backup,
        "supports_encryption": kt.supports_encryption, "supports_decryption": kt.supports_decryption,
        "supports_signing": kt.supports_signing, "supports_derivation": kt.supports_derivation,
        "auto_rotate_period": key.auto_rotate_period, "imported_key": key.imported, "soft_deleted": key.soft_deleted,
    }
    if key.key_size:
        data["key_size"] = key.key_size
    if key.imported:
        data["imported_key_allow_rotation"] = key.allow_imported_rotation
    for field, info in (("backup_info", key.backup_info), ("restore_info", key.restore_info)):
        if info:
            data[field] = {"time": rfc3339_nano(info[0]), "version": info[1]}
    if key.derived:
        data["kdf"] = KDF_NAMES.get(key.kdf, "")
        if key.kdf == KDF_HMAC_SHA256_COUNTER:
            data["kdf_mode"] = KDF_NAMES[KDF_HMAC_SHA256_COUNTER]
        data["convergent_encryption"] = key.convergent
        if key.convergent:
            data["convergent_encryption_version"] = key.convergent_version
    # Vault lists the versions still in its policy: those not below min_decryption_version.
    shown = {n: v for n, v in sorted(key.versions.items()) if n >= key.min_decryption_version}
    if kt.family == "aead":
        data["keys"] = {str(n): v.created_ns // 1_000_000_000 for n, v in shown.items()}
    elif kt.supports_signing:
        data["keys"] = {str(n): _asymmetric_entry(key, v, context) for n, v in shown.items()}
    data.update(lifecycle_info(key))  # strongroom additions (transit_lifecycle_view)
    return data


def _asymmetric_entry(key: TransitKey, version: Any, context: bytes | None) -> dict[str, Any]:
    kt = key.type
    public = version.public
    if kt.family == "ed25519" and key.derived:
        public = b64encode(ed25519_public_bytes(derived_ed25519(key, version.number, context))) if context else ""
    name = kt.curve or ("ed25519" if kt.family == "ed25519" else kt.name)
    return {"public_key": public, "creation_time": rfc3339_nano(version.created_ns), "name": name,
            "certificate_chain": ""}


def find_key(engine: "TransitEngine", name: str, missing: str) -> TransitKey:
    key = engine.store.get(name)
    if key is None:
        raise BadRequestError(missing)
    return key


async def list_keys(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    names = engine.store.names()
    after = req.query.get("after", "")
    if after:
        names = [n for n in names if n > after]
    limit = Fields(req.query).integer("limit", 0)
    if limit > 0:
        names = names[:limit]
    if not names:
        return Reply(404, {"errors": []})
    return logical(req, {"keys": names})


async def read_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    key = engine.store.get(match["name"])
    if key is None:
        return Reply(404, {"errors": []})
    return logical(req, key_info(key, decode_context(req.query.get("context", ""))))


async def write_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    """Create a key (an existing key is returned unchanged, as Vault's upsert does)."""
    name, fields = match["name"], Fields(req.data)
    derived, convergent = fields.boolean("derived"), fields.boolean("convergent_encryption")
    type_name, key_size = fields.string("type", DEFAULT_KEY_TYPE), fields.integer("key_size")
    exportable, backup = fields.boolean("exportable"), fields.boolean("allow_plaintext_backup")
    period = fields.seconds("auto_rotate_period")
    kdf_name = fields.string("kdf", KDF_NAMES[KDF_HKDF_SHA256])
    if period != 0 and period < MIN_AUTO_ROTATE_SECONDS:
        raise BadRequestError(ROTATE_PERIOD_ERROR)
    if not derived and convergent:
        raise BadRequestError("convergent encryption requires derivation to be enabled")
    key_type = KEY_TYPES.get(type_name)
    if key_type is None:
        raise BadRequestError(f"unknown key type {type_name}")
    if key_size != 0:
        if key_type.family != "hmac":
            raise BadRequestError(f"key_size is not valid for algorithm {key_type.name}")
        if not HMAC_MIN_KEY_BYTES <= key_size <= HMAC_MAX_KEY_BYTES:
            raise BadRequestError(f"invalid key_size {key_size}")
    elif key_type.family == "hmac":
        key_size = HMAC_DEFAULT_KEY_BYTES
    if kdf_name not in KDF_BY_NAME:
        raise BadRequestError(f"unknown kdf {kdf_name}: use hkdf_sha256 or hmac-sha256-counter")
    settings, activation_ns = read_settings(fields), activation_time(fields)
    existing = engine.store.get(name)
    if existing is not None:
        return logical(req, key_info(existing))
    key = TransitKey.define(name, key_type, derived=derived, convergent=convergent, key_size=key_size,
                            exportable=exportable, allow_plaintext_backup=backup, auto_rotate_period=period,
                            kdf=KDF_BY_NAME[kdf_name], **settings)
    key.activation_ns = activation_ns
    material = await new_material(key_type, key_size)
    existing = engine.store.get(name)  # created by another request while RSA material was made
    if existing is not None:
        if material.secret is not None:
            zero_bytearray(material.secret)
        return logical(req, key_info(existing))
    key.add_version(material, now_ns())
    engine.store.put(key)
    return logical(req, key_info(key))


async def delete_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    name = match["name"]
    key = engine.store.get(name)
    if key is None:
        raise BadRequestError(f"error deleting policy {name}: could not delete key; not found")
    if not key.deletion_allowed:
        raise BadRequestError(f"error deleting policy {name}: deletion is not allowed for this key")
    engine.store.delete(name)
    return no_content()


async def rotate_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    name = match["name"]
    find_key(engine, name, "key not found").check_rotatable()
    if Fields(req.data).string("external_key_ref"):
        raise BadRequestError(f"cannot use external_key_ref on key of type {engine.store.get(name).type.name}")
    key = await rotate_now(engine, name, activation_time(Fields(req.data)))
    return logical(req, key_info(key))


async def rotate_now(engine: "TransitEngine", name: str, activation_ns: int = 0) -> TransitKey:
    """Add a fresh version to a key and persist it (rotate endpoint and auto-rotation); with
    an activation time in the future the new version is pre-active until then."""
    key = find_key(engine, name, "key not found")
    material = await new_material(key.type, key.key_size)
    key = find_key(engine, name, "key not found")  # re-read: the key may have changed meanwhile
    try:
        key.activation_ns = activation_ns
        key.rotate(material, now_ns())
        engine.store.put(key)
    except BaseException:
        engine.store.forget(name)
        raise
    return key


async def configure_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    """keys/:name/config: min versions, deletion_allowed, one-way exportable and
    allow_plaintext_backup, auto_rotate_period (Vault's pathKeysConfigWrite)."""
    name, fields = match["name"], Fields(req.data)
    key = find_key(engine, name, f"no existing key named {name} could be found")
    warnings: list[str] = []
    changes: dict[str, Any] = {}
    if fields.has("min_decryption_version"):
        wanted = fields.integer("min_decryption_version")
        if wanted < 0:
            raise BadRequestError("min decryption version cannot be negative")
        if wanted == 0:
            wanted = 1
            warnings.append("since Vault 0.3 (prior to the OpenBao fork), transit key numbering starts at 1; "
                            "forcing minimum to 1")
        if wanted != key.min_decryption_version:
            if wanted > key.latest_version:
                raise BadRequestError(f"cannot set min decryption version of {wanted}, latest key version is "
                                      f"{key.latest_version}")
            changes["min_decryption_version"] = wanted
    if fields.has("min_encryption_version"):
        wanted = fields.integer("min_encryption_version")
        if wanted < 0:
            raise BadRequestError("min encryption version cannot be negative")
        if wanted != key.min_encryption_version:
            if wanted > key.latest_version:
                raise BadRequestError(f"cannot set min encryption version of {wanted}, latest key version is "
                                      f"{key.latest_version}")
            changes["min_encryption_version"] = wanted
    min_enc = changes.get("min_encryption_version", key.min_encryption_version)
    min_dec = changes.get("min_decryption_version", key.min_decryption_version)
    if min_enc > 0 and min_enc < min_dec:
        raise BadRequestError(f"cannot set min encryption/decryption values; min encryption version of {min_enc} "
                              f"must be greater than or equal to min decryption version of {min_dec}")
    if fields.has("deletion_allowed") and fields.boolean("deletion_allowed") != key.deletion_allowed:
        changes["deletion_allowed"] = fields.boolean("deletion_allowed")
    for flag in ("exportable", "allow_plaintext_backup"):  # can be turned on, never off
        if fields.has(flag) and fields.boolean(flag) and not getattr(key, flag):
            changes[flag] = True
    if fields.has("auto_rotate_period"):
        period = fields.seconds("auto_rotate_period")
        if period != 0 and period < MIN_AUTO_ROTATE_SECONDS:
            raise BadRequestError(ROTATE_PERIOD_ERROR)
        if period != key.auto_rotate_period:
            changes["auto_rotate_period"] = period
    changes.update({field: value for field, value in read_settings(fields, key).items()
                    if value != getattr(key, field)})
    if changes:
        if key.min_available_version > min_enc:
            raise BadRequestError("min encryption version should not be less than min available version")
        if key.min_available_version > min_dec:
            raise BadRequestError("min decryption version should not be less then min available version")
        for field, value in changes.items():
            setattr(key, field, value)
        persist_key(engine, key)
    return logical(req, key_info(key), warnings=warnings or None)


def persist_key(engine: "TransitEngine", key: TransitKey) -> None:
    try:
        engine.store.put(key)
    except BaseException:
        engine.store.forget(key.name)
        raise


async def trim_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    key = find_key(engine, match["name"], "invalid key name")
    if not fields.has("min_available_version"):
        raise BadRequestError("missing min_available_version")
    wanted = fields.integer("min_available_version")
    refusal = (
        "minimum available version cannot be decremented" if wanted < key.min_available_version else
        "minimum available version cannot be set when minimum encryption version is not set"
        if key.min_encryption_version == 0 else
        "minimum available version cannot be set when minimum decryption version is not set"
        if key.min_decryption_version == 0 else
        "minimum available version cannot be greater than minmum encryption version"
        if wanted > key.min_encryption_version else
        "minimum available version cannot be greater than minimum decryption version"
        if wanted > key.min_decryption_version else
        "minimum available version cannot be negative" if wanted < 0 else
        "minimum available version should be positive" if wanted == 0 else None
    )
    if refusal:
        raise BadRequestError(refusal)
    key.trim(wanted)
    persist_key(engine, key)
    return logical(req, key_info(key))


async def soft_delete(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    return _set_soft_deleted(engine, req, match["name"], True, "key was already marked as soft deleted")


async def soft_delete_restore(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    return _set_soft_deleted(engine, req, match["name"], False, "key was already restored")


def _set_soft_deleted(engine: "TransitEngine", req: Request, name: str, deleted: bool, already: str) -> Reply:
    key = engine.store.get(name)
    if key is None:
        return no_content()
    unchanged = key.soft_deleted == deleted
    key.soft_deleted = deleted
    persist_key(engine, key)
    return logical(req, key_info(key), warnings=[already] if unchanged else None)


async def read_keys_config(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    return logical(req, engine.store.keys_config())


async def write_keys_config(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    config = engine.store.keys_config()
    wanted = Fields(req.data).boolean("disable_upsert")
    if wanted != config["disable_upsert"]:
        config["disable_upsert"] = wanted
        engine.store.put_keys_config(config)
    return logical(req, config)

