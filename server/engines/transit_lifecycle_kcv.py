"""Key check values: a short value that proves two systems hold the same key without
revealing it.

- AES keys (aes128-gcm96, aes256-gcm96): the leftmost 3 bytes of AES-CMAC(key, 16 zero
  bytes), the CMAC method of ANSI X9.24-1:2017 (the one payment HSMs print).
- Every other symmetric key (chacha20-poly1305, xchacha20-poly1305, hmac): the leftmost 3
  bytes of HMAC-SHA256(key, 32 zero bytes).
- Asymmetric keys (rsa-*, ecdsa-*, ed25519): the leftmost 3 bytes of HMAC-SHA256 keyed with
  the DER SubjectPublicKeyInfo of the public key, over 32 zero bytes. It fingerprints the
  key pair, so a public-key-only import has the same KCV as its private half.

Shown as 6 upper-case hex digits.
"""

from __future__ import annotations

import hmac as std_hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC

from server.engines.transit_errors import KeyCheckValueError
from server.engines.transit_key import KeyVersion, TransitKey
from server.engines.transit_keytypes import KeyType

KCV_BYTES = 3
AES_TYPES = ("aes128-gcm96", "aes256-gcm96")
KCV_AES_CMAC = "aes-cmac"
KCV_HMAC_SHA256 = "hmac-sha256"


def kcv_algorithm(key_type: KeyType) -> str:
    return KCV_AES_CMAC if key_type.name in AES_TYPES else KCV_HMAC_SHA256


def symmetric_kcv(key_type: KeyType, secret: bytes | bytearray | memoryview) -> str:
    """The KCV of raw symmetric key bytes."""
    if key_type.name in AES_TYPES:
        mac = CMAC(algorithms.AES(secret))
        mac.update(bytes(16))
        return mac.finalize()[:KCV_BYTES].hex().upper()
    return _hmac_kcv(secret)


def version_kcv(key: TransitKey, version: KeyVersion) -> str:
    """The version's KCV, computed once and kept in its lifecycle record (so a destroyed
    version still shows the KCV of the key it had)."""
    if not version.life.kcv:
        if key.type.symmetric:
            if version.secret is None:
                return ""
            version.life.kcv = symmetric_kcv(key.type, version.secret.view())
        elif version.secret is not None or version.public:
            version.life.kcv = public_kcv(version.public_key(key.type))
    return version.life.kcv


def check_expected_kcv(key: TransitKey, version: KeyVersion, expected: str) -> None:
    """Refuse an import whose key is not the one the caller says it is (expected_kcv)."""
    if expected and not kcv_matches(expected, version_kcv(key, version)):
        raise KeyCheckValueError("the imported key's check value does not match expected_kcv")


def public_kcv(public_key: object) -> str:
    """The KCV of an asymmetric key, from its public half."""
    spki = public_key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return _hmac_kcv(spki)


def _hmac_kcv(key: bytes | bytearray | memoryview) -> str:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(bytes(32))
    return mac.finalize()[:KCV_BYTES].hex().upper()


def kcv_matches(expected: str, actual: str) -> bool:
    """Compare a caller's expected KCV (hex, any case) with the computed one."""
    return std_hmac.compare_digest(expected.strip().upper().encode(), actual.encode())
