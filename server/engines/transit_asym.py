"""Signing and verification with transit's asymmetric keys, as Vault's keysutil does them.

RSA: PSS (MGF1 with the message hash; salt "auto" = as long as possible when signing, any
length when verifying, as Go's rsa.PSSSaltLengthAuto) or PKCS #1 v1.5, RFC 8017 §8;
hash "none" gives PKCS #1 v1.5 without DigestInfo. ECDSA: the input hash is reduced to an
integer as Go's hashToInt (FIPS 186-4 §6.4) and signatures are ASN.1 DER or JWS r||s (RFC
7518 §3.4). Ed25519 signs the message itself; derived Ed25519 keys take their seed from
HKDF over the stored 64-byte key with the context as info, as Vault does.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, utils

from seal.lockedmem import zero_bytearray
from server.engines.transit_cipher import parse_versioned
from server.engines.transit_encoding import (
    Base64Error,
    b64decode,
    b64decode_raw_url,
    b64encode,
    b64encode_raw_url,
    version_prefix,
)
from server.engines.transit_errors import CiphertextError, TransitError, UnsupportedKeyOperationError
from server.engines.transit_key import TransitKey
from server.engines.transit_keytypes import KeyType
from server.engines.transit_symmetric import derive_key

HASHES: dict[str, type[hashes.HashAlgorithm] | None] = {
    "none": None, "sha1": hashes.SHA1, "sha2-224": hashes.SHA224, "sha2-256": hashes.SHA256,
    "sha2-384": hashes.SHA384, "sha2-512": hashes.SHA512, "sha3-224": hashes.SHA3_224,
    "sha3-256": hashes.SHA3_256, "sha3-384": hashes.SHA3_384, "sha3-512": hashes.SHA3_512,
}
MARSHALINGS = ("asn1", "jws")
SALT_AUTO, SALT_HASH = 0, -1  # Go's rsa.PSSSaltLengthAuto and PSSSaltLengthEqualsHash
_CARRIERS = {20: hashes.SHA1, 28: hashes.SHA224, 32: hashes.SHA256, 48: hashes.SHA384, 64: hashes.SHA512}
_CURVE_CARRIER_BYTES = {256: 32, 384: 48, 521: 64}


def digest(hash_name: str, data: bytes) -> bytes:
    algorithm = HASHES[hash_name]
    if algorithm is None:
        return data
    h = hashes.Hash(algorithm())
    h.update(data)
    return h.finalize()


def signing_input(key_type: KeyType, hash_name: str, prehashed: bool, data: bytes) -> bytes:
    """What the key signs: RSA and ECDSA sign the hash of the input unless it came hashed."""
    return digest(hash_name, data) if key_type.hashes_signature_input and not prehashed else data


def derived_ed25519(key: TransitKey, version: int, context: bytes) -> ed25519.Ed25519PrivateKey:
    """The per-context Ed25519 key: seed = the first 32 bytes of HKDF over the stored key."""
    try:
        seed = derive_key(key.kdf, key.version(version).secret.view(), context, 32)  # type: ignore[union-attr]
    except TransitError as exc:
        raise TransitError(f"error deriving key: {exc.message}") from None
    try:
        return ed25519.Ed25519PrivateKey.from_private_bytes(bytes(seed[:32]))
    finally:
        zero_bytearray(seed)


def ed25519_public_bytes(private: ed25519.Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _ecdsa_digest(curve_bits: int, data: bytes) -> tuple[bytes, utils.Prehashed]:
    """Bytes OpenSSL turns into the same integer Go's hashToInt makes of data. OpenSSL
    truncates a long digest as Go does, but cryptography only takes standard digest sizes,
    so other lengths are re-encoded, left-padded, in one that needs no truncation."""
    if len(data) in _CARRIERS:
        return data, utils.Prehashed(_CARRIERS[len(data)]())
    order_bytes = (curve_bits + 7) // 8
    data = data[:order_bytes]
    value = int.from_bytes(data, "big") >> max(0, len(data) * 8 - curve_bits)
    carrier = _CURVE_CARRIER_BYTES[curve_bits]
    if value.bit_length() > carrier * 8:
        raise TransitError(f"prehashed input of {len(data)} bytes is not supported for this curve")
    return value.to_bytes(carrier, "big"), utils.Prehashed(_CARRIERS[carrier]())


def _pss(algorithm: hashes.HashAlgorithm, salt_length: int, signing: bool) -> padding.PSS:
    if salt_length == SALT_AUTO:
        salt: Any = padding.PSS.MAX_LENGTH if signing else padding.PSS.AUTO
    elif salt_length == SALT_HASH:
        salt = padding.PSS.DIGEST_LENGTH
    else:
        salt = salt_length
    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=salt)


def _rsa_scheme(key_bits: int, hash_name: str, signature_algorithm: str, salt_length: int,
                signing: bool) -> tuple[padding.AsymmetricPadding, Any]:
    algorithm_class = HASHES[hash_name]
    scheme = signature_algorithm or "pss"
    if scheme == "pss":
        if algorithm_class is None:
            raise TransitError("unsupported hash algorithm")
        algorithm = algorithm_class()
        max_salt = (key_bits - 1 + 7) // 8 - 2 - algorithm.digest_size
        if not SALT_HASH <= salt_length <= max_salt:
            raise TransitError(f"requested salt length {salt_length} is invalid")
        return _pss(algorithm, salt_length, signing), utils.Prehashed(algorithm)
    if scheme == "pkcs1v15":
        return padding.PKCS1v15(), (utils.Prehashed(algorithm_class()) if algorithm_class else utils.NoDigestInfo())
    raise TransitError(f"unsupported rsa signature algorithm {scheme}")


def sign(key: TransitKey, requested_version: int, context: bytes, message: bytes, *, hash_name: str,
         signature_algorithm: str = "", marshaling: str = "asn1",
         salt_length: int = SALT_AUTO) -> tuple[str, int, bytes | None]:
    """(signature string, version, derived Ed25519 public key or None); message is what
    signing_input() produced."""
    key.require_usable()
    kt = key.type
    if not kt.supports_signing:
        raise UnsupportedKeyOperationError(f"message signing not supported for key type {kt.name}")
    version = key.encryption_version(requested_version, "signing")
    entry = key.version(version)
    if not entry.has_private:
        raise TransitError("requested version for signing does not contain a private part")
    public: bytes | None = None
    if kt.family == "ecdsa":
        data, algorithm = _ecdsa_digest(ec_curve_bits(kt), message)
        der = entry.private_key(kt).sign(data, ec.ECDSA(algorithm))
        if marshaling == "jws":
            r, s = utils.decode_dss_signature(der)
            size = (ec_curve_bits(kt) + 7) // 8
            signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        else:
            signature = der
    elif kt.family == "ed25519":
        if key.derived:
            private = derived_ed25519(key, version, context)
            public = ed25519_public_bytes(private)
            signature = private.sign(message)
        else:
            signature = entry.private_key(kt).sign(message)
    else:
        private = entry.private_key(kt)
        scheme, algorithm = _rsa_scheme(private.key_size, hash_name, signature_algorithm, salt_length, True)
        try:
            signature = private.sign(message, scheme, algorithm)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise TransitError(f"failed to sign: {_reason(exc)}") from None
    encoded = b64encode_raw_url(signature) if marshaling == "jws" else b64encode(signature)
    return version_prefix(version) + encoded, version, public


def verify(key: TransitKey, context: bytes, message: bytes, value: str, *, hash_name: str,
           signature_algorithm: str = "", marshaling: str = "asn1", salt_length: int = SALT_AUTO) -> bool:
    """Whether value is a valid signature of message (already passed through signing_input)."""
    key.require_usable()
    kt = key.type
    if not kt.supports_signing:
        raise UnsupportedKeyOperationError(f"message verification not supported for key type {kt.name}")
    version, payload = parse_versioned(value, "signature")
    version = key.check_decryption_version(version, "signature")
    try:
        signature = b64decode_raw_url(payload) if marshaling == "jws" else b64decode(payload)
    except Base64Error:
        raise CiphertextError("invalid base64 signature value") from None
    if kt.family == "ecdsa":
        r, s = _ecdsa_pair(signature, marshaling)
        public = key.version(version).public_key(kt)
        if r <= 0 or s <= 0:
            return False
        data, algorithm = _ecdsa_digest(ec_curve_bits(kt), message)
        return _checks(lambda: public.verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(algorithm)))
    if kt.family == "ed25519":
        if key.derived:
            public = derived_ed25519(key, version, context).public_key()
        else:
            public = key.version(version).public_key(kt)
        return _checks(lambda: public.verify(signature, message))
    public = key.version(version).public_key(kt)
    scheme, algorithm = _rsa_scheme(public.key_size, hash_name, signature_algorithm, salt_length, False)
    return _checks(lambda: public.verify(signature, message, scheme, algorithm))


def _ecdsa_pair(signature: bytes, marshaling: str) -> tuple[int, int]:
    if marshaling == "jws":
        half = len(signature) // 2
        return int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    end = _der_element_end(signature)
    try:
        r, s = utils.decode_dss_signature(signature[:end])
    except ValueError:
        raise CiphertextError("supplied signature is invalid") from None
    if end < len(signature):
        raise CiphertextError("supplied signature contains extra data")
    return r, s


def _der_element_end(data: bytes) -> int:
    """Where the first DER element ends (Go's asn1.Unmarshal returns what follows it)."""
    if len(data) < 2:
        return len(data)
    first = data[1]
    if first < 0x80:
        return min(len(data), 2 + first)
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return len(data)
    return min(len(data), 2 + count + int.from_bytes(data[2:2 + count], "big"))


def _checks(check: Any) -> bool:
    try:
        check()
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def _reason(exc: Exception) -> str:
    return "input must be hashed message" if isinstance(exc, ValueError) else "unsupported hash algorithm"


def ec_curve_bits(key_type: KeyType) -> int:
    return {"P-256": 256, "P-384": 384, "P-521": 521}[key_type.curve]
