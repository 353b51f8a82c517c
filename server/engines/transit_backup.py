"""transit/backup/:name and transit/restore[/:name], in Vault's backup format.

A backup is base64 of Vault's JSON ({"policy": ..., "archived_keys": {"keys": [...]}}, the
keysutil Policy and KeyEntry structs as Go marshals them), so a backup taken from Vault or
OpenBao restores here and one taken here restores there. It holds every key version in the
clear: only keys that are both exportable and allow_plaintext_backup can be backed up.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from seal.lockedmem import zero_bytearray
from server.engines.transit_encoding import (
    Base64Error,
    b64decode,
    b64encode,
    parse_rfc3339_nano,
    rfc3339_nano,
)
from server.engines.transit_errors import TransitError
from server.engines.transit_fields import KEY_NAME, Fields
from server.engines.transit_key import KeyVersion, TransitKey, lock_secret
from server.engines.transit_keytypes import KEY_TYPES_BY_CODE, KeyType, Material, ec_curve, material_from_private
from server.engines.transit_ops_keys import now_ns
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical, no_content

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine

NANOS = 1_000_000_000
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


async def backup_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    name = match["name"]
    key = engine.store.get(name)
    if key is None:
        raise TransitError(f'key "{name}" not found')
    key.require_usable()
    if not key.exportable:
        raise TransitError("exporting is disallowed on the policy")
    if not key.allow_plaintext_backup:
        raise TransitError("plaintext backup is disallowed on the policy")
    previous = key.backup_info
    key.backup_info = (now_ns(), key.latest_version)
    try:
        engine.store.put(key)
    except BaseException:
        key.backup_info = previous
        engine.store.forget(name)
        raise
    document = json.dumps(vault_backup(key), separators=(",", ":")) + "\n"  # Go's json.Encoder adds the newline
    return logical(req, {"backup": b64encode(document.encode())})


async def restore_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    encoded = fields.string("backup")
    if not encoded:
        raise BadRequestError("'backup' must be supplied")
    name, force = match["name"] or "", fields.boolean("force")
    if "/" in name:
        raise TransitError("key names cannot be paths")
    try:
        document = json.loads(b64decode(encoded))
    except Base64Error as exc:
        raise TransitError(str(exc)) from None
    except ValueError:
        raise TransitError("invalid backup: not a transit key backup") from None
    key = key_from_vault_backup(document, name)
    if not KEY_NAME.fullmatch(key.name):
        key.close()
        raise TransitError("key names cannot be paths")
    if engine.store.get(key.name) is not None and not force:
        key.close()
        raise TransitError(f'key "{key.name}" already exists')
    key.restore_info = (now_ns(), key.latest_version)
    engine.store.put(key)
    return no_content()


# -- Vault's JSON -----------------------------------------------------------------------------


def vault_backup(key: TransitKey) -> dict[str, Any]:
    """The KeyData document Vault's Policy.Backup writes."""
    policy: dict[str, Any] = {"name": key.name}
    if key.key_size:
        policy["key_size"] = key.key_size
    policy["keys"] = {str(n): _entry(key, v) for n, v in sorted(key.versions.items())
                      if n >= key.min_decryption_version}
    policy.update({
        "derived": key.derived, "kdf": key.kdf if key.derived else 0, "convergent_encryption": key.convergent,
        "exportable": key.exportable, "min_decryption_version": key.min_decryption_version,
        "min_encryption_version": key.min_encryption_version, "latest_version": key.latest_version,
        "archive_version": key.latest_version, "archive_min_version": key.min_available_version,
        "min_available_version": key.min_available_version, "deletion_allowed": key.deletion_allowed,
        "convergent_version": key.convergent_version, "type": key.type.code,
        "backup_info": _info(key.backup_info), "restore_info": _info(key.restore_info),
        "allow_plaintext_backup": key.allow_plaintext_backup, "version_template": "", "storage_prefix": "",
        "auto_rotate_period": key.auto_rotate_period * NANOS, "Imported": key.imported,
        "AllowImportedKeyRotation": key.allow_imported_rotation, "soft_deleted": key.soft_deleted,
    })
    # The archive holds every version from min_available_version on, indexed from it; a
    # never-trimmed key's archive starts with an empty version 0, as Vault's does.
    archive = [_entry(key, key.versions[n]) if n in key.versions else _empty_entry()
               for n in range(key.min_available_version, key.latest_version + 1)]
    return {"policy": policy, "archived_keys": {"keys": archive}}


def _info(info: tuple[int, int] | None) -> dict[str, Any] | None:
    return {"time": rfc3339_nano(info[0]), "version": info[1]} if info else None


def _empty_entry() -> dict[str, Any]:
    return {"key": None, "hmac_key": None, "time": GO_ZERO_TIME, "ec_x": None, "ec_y": None, "ec_d": None,
            "rsa_key": None, "rsa_public_key": None, "public_key": "", "convergent_version": 0, "creation_time": 0,
            "certificate_chain": None, "external_key_ref": ""}


def _entry(key: TransitKey, version: KeyVersion) -> dict[str, Any]:
    entry = _empty_entry()
    family = key.type.family
    entry.update(time=rfc3339_nano(version.created_ns), creation_time=version.created_ns // NANOS,
                 convergent_version=version.convergent_version,
                 hmac_key=b64encode(version.hmac_key.view()) if version.hmac_key is not None else None)
    if family in ("aead", "hmac", "ed25519") and version.secret is not None:
        entry["key"] = b64encode(version.secret.view())
    if family in ("ecdsa", "ed25519"):
        entry["public_key"] = version.public
    if family == "ecdsa":
        numbers = version.public_key(key.type).public_numbers()
        entry.update(ec_x=numbers.x, ec_y=numbers.y)
        if version.has_private:
            entry["ec_d"] = version.private_key(key.type).private_numbers().private_value
    if family == "rsa":
        if version.has_private:
            p = version.private_key(key.type).private_numbers()
            entry["rsa_key"] = {"N": p.public_numbers.n, "E": p.public_numbers.e, "D": p.d, "Primes": [p.p, p.q],
                                "Precomputed": {"Dp": p.dmp1, "Dq": p.dmq1, "Qinv": p.iqmp, "CRTValues": []}}
        else:
            n = version.public_key(key.type).public_numbers()
            entry["rsa_public_key"] = {"N": n.n, "E": n.e}
    return entry


def key_from_vault_backup(document: Any, name: str = "") -> TransitKey:
    """A TransitKey from Vault's KeyData document; TransitError if it is not one."""
    try:
        policy = document["policy"]
        key_type = KEY_TYPES_BY_CODE.get(int(policy["type"]))
        if key_type is None:
            raise TransitError(f"invalid backup: key type {policy['type']} is not supported")
        key = TransitKey(name or str(policy["name"]), key_type)
        _apply_policy(key, policy)
        entries: dict[int, dict[str, Any]] = {}
        base = int(policy.get("min_available_version") or 0)
        for index, raw in enumerate((document.get("archived_keys") or {}).get("keys") or []):
            entries[index + base] = raw
        for number, raw in (policy.get("keys") or {}).items():
            entries[int(number)] = raw
        for number in sorted(entries):
            if number >= max(1, key.min_available_version):
                version = _version(key_type, number, entries[number])
                if version is not None:
                    key.versions[number] = version
    except TransitError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError):
        raise TransitError("invalid backup: not a transit key backup") from None
    if key.latest_version < 1 or key.latest_version not in key.versions:
        key.close()
        raise TransitError("invalid backup: the latest key version is missing")
    return key


def _apply_policy(key: TransitKey, policy: dict[str, Any]) -> None:
    key.derived = bool(policy.get("derived"))
    key.kdf = int(policy.get("kdf") or 0)
    key.convergent = bool(policy.get("convergent_encryption"))
    key.convergent_version = int(policy.get("convergent_version") or 0)
    for field in ("exportable", "allow_plaintext_backup", "deletion_allowed", "soft_deleted"):
        setattr(key, field, bool(policy.get(field)))
    for field in ("min_encryption_version", "min_available_version", "latest_version", "key_size"):
        setattr(key, field, int(policy.get(field) or 0))
    key.min_decryption_version = max(1, int(policy.get("min_decryption_version") or 0))
    key.auto_rotate_period = int(policy.get("auto_rotate_period") or 0) // NANOS
    key.imported = bool(policy.get("Imported"))
    key.allow_imported_rotation = bool(policy.get("AllowImportedKeyRotation"))
    info = policy.get("backup_info")
    if info:
        key.backup_info = (parse_rfc3339_nano(info["time"]), int(info["version"]))


def _version(key_type: KeyType, number: int, raw: dict[str, Any]) -> KeyVersion | None:
    """One KeyEntry; None for an empty archive slot."""
    created = raw.get("time") or GO_ZERO_TIME
    created_ns = parse_rfc3339_nano(created) if created != GO_ZERO_TIME else int(raw.get("creation_time") or 0) * NANOS
    material = _material(key_type, raw)
    if material is None:
        return None
    hmac_raw = raw.get("hmac_key")
    secret = lock_secret(material.secret) if material.secret is not None else None
    if material.secret is not None:
        zero_bytearray(material.secret)
    hmac_key = lock_secret(b64decode(hmac_raw)) if hmac_raw else None
    return KeyVersion(number, created_ns, secret, hmac_key, material.public, int(raw.get("convergent_version") or 0))


def _material(key_type: KeyType, raw: dict[str, Any]) -> Material | None:
    family = key_type.family
    if family in ("aead", "hmac"):
        if not raw.get("key"):
            return None
        secret = bytearray(b64decode(raw["key"]))
        if family == "aead" and len(secret) != key_type.key_bytes:
            raise TransitError(f"invalid backup: a {key_type.name} key must be {key_type.key_bytes} bytes")
        return Material(secret, "")
    if family == "ed25519":
        if raw.get("key"):
            secret = bytearray(b64decode(raw["key"]))
            if len(secret) != 64:
                raise TransitError("invalid backup: an ed25519 key must be 64 bytes (seed and public key)")
            return Material(secret, str(raw.get("public_key") or ""))
        return Material(None, str(raw["public_key"])) if raw.get("public_key") else None
    if family == "ecdsa":
        if raw.get("ec_x") is None:
            return None
        public = ec.EllipticCurvePublicNumbers(int(raw["ec_x"]), int(raw["ec_y"]), ec_curve(key_type))
        if raw.get("ec_d") is None:
            return Material(None, _pem(public.public_key()))
        return material_from_private(key_type, ec.EllipticCurvePrivateNumbers(int(raw["ec_d"]), public).private_key())
    rsa_key = raw.get("rsa_key")
    if rsa_key:
        p, q = (int(x) for x in rsa_key["Primes"][:2])
        d = int(rsa_key["D"])
        numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                        rsa.rsa_crt_iqmp(p, q),
                                        rsa.RSAPublicNumbers(int(rsa_key["E"]), int(rsa_key["N"])))
        return material_from_private(key_type, numbers.private_key())
    public_raw = raw.get("rsa_public_key")
    if public_raw:
        public = rsa.RSAPublicNumbers(int(public_raw["E"]), int(public_raw["N"])).public_key()
        return Material(None, _pem(public))
    return None


def _pem(public: Any) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
