"""BYOK import: keys/:name/import and keys/:name/import_version, as Vault does them.

The key arrives wrapped for the mount's wrapping key (see transit_keywrap) as raw bytes for
symmetric types or PKCS #8 DER for asymmetric ones; an asymmetric key may instead arrive as
a PEM public key alone, giving a version that can verify but not sign. Checks and messages
are Vault's (Policy.ImportPublicOrPrivate and friends); Vault's 500s for these client
errors are 400s here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from seal.lockedmem import zero_bytearray
from server.engines.transit_encoding import Base64Error, b64decode
from server.engines.transit_errors import KeyCheckValueError, KeyConfigError, TransitError
from server.engines.transit_fields import Fields
from server.engines.transit_key import KeyVersion, TransitKey, lock_secret
from server.engines.transit_keytypes import (
    HMAC_MAX_KEY_BYTES,
    HMAC_MIN_KEY_BYTES,
    KEY_TYPES,
    KeyType,
    Material,
    format_public_key,
    material_from_private,
)
from server.engines.transit_keywrap import BYOK_HASHES, unwrap_import
from server.engines.transit_lifecycle_kcv import check_expected_kcv
from server.engines.transit_ops_keys import now_ns
from server.engines.transit_symmetric import KDF_HKDF_SHA256, KDF_HMAC_SHA256_COUNTER
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, no_content

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine

_GO_NAMES = {ec.EllipticCurvePrivateKey: "*ecdsa.PrivateKey", ec.EllipticCurvePublicKey: "*ecdsa.PublicKey",
             rsa.RSAPrivateKey: "*rsa.PrivateKey", rsa.RSAPublicKey: "*rsa.PublicKey",
             ed25519.Ed25519PrivateKey: "ed25519.PrivateKey", ed25519.Ed25519PublicKey: "ed25519.PublicKey"}


def _go_name(parsed: Any) -> str:
    return next((name for cls, name in _GO_NAMES.items() if isinstance(parsed, cls)), type(parsed).__name__)


def _check_asymmetric(key_type: KeyType, parsed: Any) -> None:
    """Vault's KeyEntry.parseFromKey checks: right family, curve and RSA size."""
    family = {ec.EllipticCurvePrivateKey: "ecdsa", ec.EllipticCurvePublicKey: "ecdsa",
              rsa.RSAPrivateKey: "rsa", rsa.RSAPublicKey: "rsa",
              ed25519.Ed25519PrivateKey: "ed25519", ed25519.Ed25519PublicKey: "ed25519"}
    found = next((f for cls, f in family.items() if isinstance(parsed, cls)), None)
    if found != key_type.family:
        raise TransitError(f"invalid key type: expected {key_type.name}, got {_go_name(parsed)}")
    if found == "ecdsa":
        curve = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(parsed.curve.name,
                                                                                       parsed.curve.name)
        if curve != key_type.curve:
            raise TransitError(f"invalid curve: expected {key_type.curve}, got {curve}")
    if found == "rsa" and parsed.key_size != key_type.rsa_bits:
        raise TransitError(f"invalid key size: expected {key_type.rsa_bits // 8} bytes, got "
                           f"{(parsed.key_size + 7) // 8} bytes")


def imported_material(key_type: KeyType, data: bytes | bytearray, private: bool) -> Material:
    """Material from imported bytes: raw symmetric key, PKCS #8 DER, or (public) PEM."""
    if key_type.symmetric:
        low, high = ((key_type.key_bytes, key_type.key_bytes) if key_type.family == "aead"
                     else (HMAC_MIN_KEY_BYTES, HMAC_MAX_KEY_BYTES))
        if not low <= len(data) <= high:
            raise TransitError(f"invalid key size {len(data)} bytes for key type {key_type.name}")
        return Material(bytearray(data), "")
    if private:
        try:
            parsed: Any = serialization.load_der_private_key(bytes(data), None)
        except (ValueError, TypeError) as exc:
            raise TransitError(f"error parsing asymmetric key: {exc}") from None
        _check_asymmetric(key_type, parsed)
        return material_from_private(key_type, parsed)
    try:
        parsed = serialization.load_pem_public_key(bytes(data))
    except ValueError:
        raise TransitError("error parsing public key: not in PEM format") from None
    _check_asymmetric(key_type, parsed)
    return Material(None, format_public_key(key_type, parsed))


def _fill_private(key: TransitKey, entry: KeyVersion, material: Material) -> None:
    """Give a public-only version its private key, if the pair matches (Vault's
    ImportPrivateKeyForVersion)."""
    if material.public != entry.public:
        raise TransitError("cannot import key, key pair does not match")
    entry.secret = lock_secret(material.secret)  # type: ignore[arg-type]
    zero_bytearray(material.secret)  # type: ignore[arg-type]
    entry.drop_cached_crypto()


async def _key_bytes(engine: "TransitEngine", fields: Fields, key_type: KeyType) -> tuple[bytearray, bool]:
    """(key bytes, is private): the unwrapped ciphertext, or a PEM public key."""
    if fields.has("ciphertext") and fields.has("public_key"):
        raise TransitError("only one of the following fields, ciphertext and public_key, can be set")
    if fields.has("ciphertext"):
        hash_name = fields.string("hash_function", "SHA256").upper()
        if hash_name not in BYOK_HASHES:
            raise BadRequestError(f"unknown hash function: {fields.string('hash_function')}")
        try:
            blob = b64decode(fields.string("ciphertext"))
        except Base64Error as exc:
            raise TransitError(str(exc)) from None
        return await unwrap_import(engine, blob, hash_name), True
    if not key_type.supports_public_key_import:
        raise TransitError("provided type does not support public_key import")
    return bytearray(fields.string("public_key").encode()), False


def _import_into(key: TransitKey, data: bytearray, private: bool) -> None:
    """Vault's ImportPublicOrPrivate: a private key completes a public-only latest version
    when it matches, otherwise every import is a new version."""
    try:
        material = imported_material(key.type, data, private)
    except TransitError as exc:
        raise TransitError(f"error importing key: {exc.message}") from None
    finally:
        zero_bytearray(data)
    if key.latest_version > 0 and private and not key.latest.has_private:
        try:
            _fill_private(key, key.latest, material)
            return
        except TransitError:
            pass
    if key.type.family == "ed25519" and key.derived and not private:
        raise TransitError("error importing key: unable to import only public key for derived Ed25519 key: "
                           "imported key should not be an Ed25519 key pair but is instead an HKDF key")
    if key.type.family == "hmac":
        key.key_size = len(material.secret or b"")
    key.add_version(material, now_ns())


async def import_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    name, fields = match["name"], Fields(req.data)
    derived, period = fields.boolean("derived"), fields.seconds("auto_rotate_period")
    allow_rotation = fields.boolean("allow_rotation")
    if "convergent_encryption" in req.data:
        raise TransitError("import cannot be used on keys with convergent encryption enabled")
    if period > 0 and not allow_rotation:
        raise TransitError("allow_rotation must be set to true if auto-rotation is enabled")
    type_name = fields.string("type", "aes256-gcm96")
    key_type = KEY_TYPES.get(type_name.lower())
    if key_type is None:
        raise BadRequestError(f"unknown key type: {type_name}")
    if engine.store.get(name) is not None:
        raise TransitError("the import path cannot be used with an existing key; use import-version to rotate "
                           "an existing imported key")
    data, private = await _key_bytes(engine, fields, key_type)
    try:
        # Vault's imported derived keys keep the policy's zero-value KDF, the counter-mode one,
        # so the same material derives the same keys here; Ed25519 needs HKDF to work at all.
        kdf = KDF_HMAC_SHA256_COUNTER if derived and key_type.family == "aead" else KDF_HKDF_SHA256
        key = TransitKey.define(name, key_type, derived=derived, kdf=kdf,
                                key_size=HMAC_MIN_KEY_BYTES if key_type.family == "hmac" else 0,
                                exportable=fields.boolean("exportable"),
                                allow_plaintext_backup=fields.boolean("allow_plaintext_backup"),
                                auto_rotate_period=period, imported=True, allow_imported_rotation=allow_rotation)
    except KeyConfigError:
        zero_bytearray(data)
        raise
    _import_into(key, data, private)
    try:
        check_expected_kcv(key, key.latest, fields.string("expected_kcv"))
    except KeyCheckValueError:
        key.close()
        raise
    if engine.store.get(name) is not None:  # imported by another request meanwhile
        key.close()
        raise TransitError("the import path cannot be used with an existing key; use import-version to rotate "
                           "an existing imported key")
    engine.store.put(key)
    return no_content()


async def import_key_version(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    name, fields = match["name"], Fields(req.data)
    key = engine.store.get(name)
    if key is None:
        raise TransitError(f"no key found with name {name}; to import a new key, use the import/ endpoint")
    if not key.imported:
        raise TransitError("the import_version endpoint can only be used with an imported key")
    if key.convergent:
        raise TransitError("import_version cannot be used on keys with convergent encryption enabled")
    key.require_usable()
    data, private = await _key_bytes(engine, fields, key.type)
    key = engine.store.get(name) or key
    try:
        if fields.has("version"):
            _import_for_version(key, fields.integer("version"), data, private)
            target = key.version(fields.integer("version"))
        else:
            _import_into(key, data, private)
            target = key.latest
        check_expected_kcv(key, target, fields.string("expected_kcv"))
        engine.store.put(key)
    except BaseException:
        engine.store.forget(name)
        raise
    return no_content()


def _import_for_version(key: TransitKey, number: int, data: bytearray, private: bool) -> None:
    """import_version with `version`: add the private half to a public-only version."""
    try:
        entry = key.version(number)
        if not key.type.supports_public_key_import:
            raise TransitError("provided type does not support importing key versions")
        if not entry.has_private and not private:
            raise TransitError("cannot add a public key to a key version that already has a public key set")
        if entry.has_private:
            raise TransitError("private key imported, key version cannot be updated")
        material = imported_material(key.type, data, True)
    finally:
        zero_bytearray(data)
    _fill_private(key, entry, material)
