"""Key wrapping: strongroom's keywrap/keyunwrap endpoints and Vault's BYOK wrapping key.

keywrap/:name and keyunwrap/:name (strongroom additions) wrap a caller's key under the named
AES transit key with AES-KW (RFC 3394) or AES-KWP (RFC 5649), the key-wrap modes of NIST SP
800-38F §6.2-6.3, and answer `vault:vN:` + base64, like every transit ciphertext. The KEK is
the version's own AES key (derived from context for derived keys), so a party holding an
exported key can unwrap with any RFC 3394/5649 implementation. KW blocks never take the form
of a GCM counter block unless a random 96-bit nonce matches the fixed KW IV prefix, so using
one AES key for both modes costs no practical margin.

BYOK (Vault's): transit/wrapping_key is an RSA-4096 key stored in the view; an import carries
RSA-OAEP(wrapping key, ephemeral AES-256 key) || KWP(ephemeral key, key to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap,
    aes_key_wrap_with_padding,
)

from seal.lockedmem import zero_bytearray
from server.engines.transit_cipher import parse_versioned, version_key
from server.engines.transit_encoding import Base64Error, b64decode, b64encode, version_prefix
from server.engines.transit_errors import CiphertextError, TransitError, UnsupportedKeyOperationError
from server.engines.transit_fields import Fields
from server.engines.transit_key import TransitKey
from server.engines.transit_keytypes import KEY_TYPES
from server.engines.transit_lifecycle_usage import make_room, spend
from server.engines.transit_ops_keys import new_material, now_ns
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine

WRAP_ALGORITHMS = ("kw", "kwp")
DEFAULT_WRAP_ALGORITHM = "kwp"
WRAPPING_KEY_TYPE = KEY_TYPES["rsa-4096"]
WRAPPED_EPHEMERAL_BYTES = 512  # one RSA-4096 OAEP block
EPHEMERAL_KEY_BYTES = 32
UNWRAP_FAILED = "key unwrap failed: integrity check failed"
BYOK_HASHES = {"SHA1": hashes.SHA1, "SHA224": hashes.SHA224, "SHA256": hashes.SHA256, "SHA384": hashes.SHA384,
               "SHA512": hashes.SHA512}


def _wrapping_transit_key(engine: "TransitEngine", name: str) -> TransitKey:
    key = engine.store.get(name)
    if key is None:
        raise BadRequestError("encryption key not found")
    key.require_usable()
    if key.type.name not in ("aes128-gcm96", "aes256-gcm96"):
        raise UnsupportedKeyOperationError(f"key wrapping not supported for key type {key.type.name}")
    return key


def _wrap_options(fields: Fields) -> tuple[str, bytes]:
    algorithm = fields.string("algorithm", DEFAULT_WRAP_ALGORITHM).lower()
    if algorithm not in WRAP_ALGORITHMS:
        raise BadRequestError(f'unsupported key wrap algorithm "{algorithm}"; must be "kw" or "kwp"')
    return algorithm, fields.context()


def wrap(kek: memoryview, algorithm: str, target: bytes) -> bytes:
    """RFC 3394 §2.2.1 (kw) or RFC 5649 §4.1 (kwp) wrapping of target under kek."""
    if algorithm == "kw":
        if len(target) < 16 or len(target) % 8:
            raise TransitError("the kw algorithm wraps keys of at least 16 bytes in whole 8-byte blocks; use kwp")
        return aes_key_wrap(kek, target)
    return aes_key_wrap_with_padding(kek, target)


def unwrap(kek: memoryview, algorithm: str, wrapped: bytes) -> bytes:
    """RFC 3394 §2.2.2 / RFC 5649 §4.2; every failure is the same CiphertextError."""
    try:
        if algorithm == "kw":
            return aes_key_unwrap(kek, wrapped)
        return aes_key_unwrap_with_padding(kek, wrapped)
    except (InvalidUnwrap, ValueError):
        raise CiphertextError(UNWRAP_FAILED) from None


async def wrap_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    await make_room(engine, match["name"], 1)
    key = _wrapping_transit_key(engine, match["name"])
    algorithm, context = _wrap_options(fields)
    if not fields.string("key"):
        raise BadRequestError("missing key to wrap")
    try:
        target = bytearray(b64decode(fields.string("key")))
    except Base64Error as exc:
        raise BadRequestError(f"unable to decode key as base64: {exc}") from None
    try:
        version = key.encryption_version(fields.integer("key_version"))
        spend(engine.store, key, version)
        with version_key(key, version, context) as material:
            wrapped = wrap(material[: key.type.key_bytes], algorithm, bytes(target))
    finally:
        zero_bytearray(target)
    return logical(req, {"wrapped_key": version_prefix(version) + b64encode(wrapped), "key_version": version,
                         "algorithm": algorithm})


async def unwrap_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    fields = Fields(req.data)
    key = _wrapping_transit_key(engine, match["name"])
    algorithm, context = _wrap_options(fields)
    value = fields.string("wrapped_key")
    if not value:
        raise BadRequestError("missing wrapped_key to unwrap")
    version, payload = parse_versioned(value, "wrapped key")
    version = key.check_decryption_version(version, "wrapped key")
    try:
        wrapped = b64decode(payload)
    except Base64Error:
        raise CiphertextError("invalid wrapped key: could not decode base64") from None
    with version_key(key, version, context) as material:
        target = unwrap(material[: key.type.key_bytes], algorithm, wrapped)
    return logical(req, {"key": b64encode(target), "key_version": version})


# -- BYOK ------------------------------------------------------------------------------------


async def wrapping_key(engine: "TransitEngine") -> TransitKey:
    """The mount's RSA-4096 import wrapping key, made on first use."""
    key = engine.store.wrapping_key()
    if key is None:
        material = await new_material(WRAPPING_KEY_TYPE)
        key = engine.store.wrapping_key()
        if key is None:
            key = TransitKey.define("wrapping-key", WRAPPING_KEY_TYPE)
            key.add_version(material, now_ns())
            engine.store.put_wrapping_key(key)
        elif material.secret is not None:
            zero_bytearray(material.secret)
    return key


async def read_wrapping_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    key = await wrapping_key(engine)
    public = key.latest.public_key(WRAPPING_KEY_TYPE)
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return logical(req, {"public_key": pem.decode("ascii")})


async def unwrap_import(engine: "TransitEngine", ciphertext: bytes, hash_name: str) -> bytearray:
    """The key inside a BYOK blob (Vault's decryptImportedKey). The caller zeroes it."""
    if len(ciphertext) <= WRAPPED_EPHEMERAL_BYTES:
        raise TransitError("provided ciphertext is too short")
    algorithm = BYOK_HASHES[hash_name]()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)
    private = (await wrapping_key(engine)).latest.private_key(WRAPPING_KEY_TYPE)
    try:
        ephemeral = bytearray(private.decrypt(ciphertext[:WRAPPED_EPHEMERAL_BYTES], oaep))
    except ValueError:
        raise CiphertextError("crypto/rsa: decryption error") from None
    try:
        if len(ephemeral) != EPHEMERAL_KEY_BYTES:
            raise TransitError("expected ephemeral AES key to be 256-bit")
        try:
            return bytearray(aes_key_unwrap_with_padding(memoryview(ephemeral), ciphertext[WRAPPED_EPHEMERAL_BYTES:]))
        except (InvalidUnwrap, ValueError):
            raise CiphertextError("kwp: failed to unwrap the imported key: integrity check failed") from None
    finally:
        zero_bytearray(ephemeral)
