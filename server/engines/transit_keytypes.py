"""The transit key types: what each can do, and how a new version's key material is made.

The table mirrors Vault's keysutil KeyType (names, numeric codes used in backups, and the
supports_* flags). Material comes from the OS CSPRNG (os.urandom) or from cryptography's
key generators, which draw from OpenSSL's CSPRNG; nothing here logs or returns key bytes
in text. Asymmetric private keys are kept as PKCS #8 DER; Ed25519 as Go's 64-byte form
(seed || public key), because Vault derives per-context Ed25519 keys from those 64 bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from server.engines.transit_encoding import b64encode

HMAC_MIN_KEY_BYTES, HMAC_MAX_KEY_BYTES = 32, 512  # keysutil.HmacMinKeySize / HmacMaxKeySize
HMAC_DEFAULT_KEY_BYTES = 32  # Vault's documented default key_size for hmac keys
HMAC_KEY_BYTES = 32  # the per-version HMAC key every non-hmac key also carries
RSA_PUBLIC_EXPONENT = 65537


@dataclass(frozen=True)
class KeyType:
    name: str
    code: int  # Vault's KeyType constant, as it appears in backups
    family: str  # "aead", "rsa", "ecdsa", "ed25519", "hmac"
    key_bytes: int = 0  # symmetric key length
    nonce_bytes: int = 0
    rsa_bits: int = 0
    curve: str = ""  # Go's curve name as keys/:name shows it

    @property
    def symmetric(self) -> bool:
        return self.family in ("aead", "hmac")

    @property
    def supports_encryption(self) -> bool:
        return self.family in ("aead", "rsa")

    supports_decryption = supports_encryption

    @property
    def supports_signing(self) -> bool:
        return self.family in ("rsa", "ecdsa", "ed25519")

    @property
    def supports_derivation(self) -> bool:
        return self.family in ("aead", "ed25519")

    @property
    def supports_associated_data(self) -> bool:
        return self.family == "aead"

    @property
    def hashes_signature_input(self) -> bool:
        return self.family in ("rsa", "ecdsa")

    @property
    def supports_public_key_import(self) -> bool:
        return self.family in ("rsa", "ecdsa", "ed25519")


KEY_TYPES: dict[str, KeyType] = {
    t.name: t
    for t in (
        KeyType("aes256-gcm96", 0, "aead", key_bytes=32, nonce_bytes=12),
        KeyType("ecdsa-p256", 1, "ecdsa", curve="P-256"),
        KeyType("ed25519", 2, "ed25519"),
        KeyType("rsa-2048", 3, "rsa", rsa_bits=2048),
        KeyType("rsa-4096", 4, "rsa", rsa_bits=4096),
        KeyType("chacha20-poly1305", 5, "aead", key_bytes=32, nonce_bytes=12),
        KeyType("ecdsa-p384", 6, "ecdsa", curve="P-384"),
        KeyType("ecdsa-p521", 7, "ecdsa", curve="P-521"),
        KeyType("aes128-gcm96", 8, "aead", key_bytes=16, nonce_bytes=12),
        KeyType("rsa-3072", 9, "rsa", rsa_bits=3072),
        KeyType("hmac", 10, "hmac"),
        # Not in Vault's API list but in its code (11): 192-bit nonces, no nonce-count limit.
        KeyType("xchacha20-poly1305", 11, "aead", key_bytes=32, nonce_bytes=24),
    )
}
KEY_TYPES_BY_CODE = {t.code: t for t in KEY_TYPES.values()}
DEFAULT_KEY_TYPE = "aes256-gcm96"

_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


def ec_curve(key_type: KeyType) -> ec.EllipticCurve:
    return _CURVES[key_type.curve]()


@dataclass
class Material:
    """A new version's secrets before they are locked away: the caller zeroes these
    bytearrays once they are copied into locked buffers."""

    secret: bytearray | None  # raw symmetric key, Ed25519 seed||public, or PKCS #8 DER
    public: str  # the public key as Vault shows it ("" for symmetric types)


def generate_material(key_type: KeyType, key_size: int = 0) -> Material:
    """Fresh key material for one version of a key of this type."""
    if key_type.family == "aead":
        return Material(bytearray(os.urandom(key_type.key_bytes)), "")
    if key_type.family == "hmac":
        return Material(bytearray(os.urandom(key_size)), "")
    if key_type.family == "ed25519":
        return material_from_private(key_type, ed25519.Ed25519PrivateKey.generate())
    if key_type.family == "ecdsa":
        return material_from_private(key_type, ec.generate_private_key(ec_curve(key_type)))
    return material_from_private(key_type, rsa.generate_private_key(RSA_PUBLIC_EXPONENT, key_type.rsa_bits))


def material_from_private(key_type: KeyType, private: object) -> Material:
    """Material for an asymmetric private key object of the right kind."""
    if isinstance(private, ed25519.Ed25519PrivateKey):
        seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return Material(bytearray(seed + public), format_public_key(key_type, private.public_key()))
    signer: Any = private
    der = signer.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    return Material(bytearray(der), format_public_key(key_type, signer.public_key()))


def format_public_key(key_type: KeyType, public: Any) -> str:
    """Vault's `public_key` text: base64 raw for Ed25519, PKIX PEM (with its newline) else."""
    if key_type.family == "ed25519":
        return b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
