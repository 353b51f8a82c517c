"""Symmetric transit crypto: Vault's two key-derivation functions and the AEAD ciphers.

Byte layouts are Vault's so ciphertexts move between the two: an AEAD ciphertext is
nonce || ciphertext || tag (96-bit nonces for AES-GCM and ChaCha20-Poly1305, 192-bit for
XChaCha20-Poly1305). cryptography's InvalidTag and pycryptodome's ValueError stop here and
become CiphertextError with Go's wording.
"""

from __future__ import annotations

import functools
import itertools
import os
import struct
from typing import Callable, Protocol, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.engines.transit_errors import CiphertextError, TransitError
from server.engines.transit_keytypes import KeyType

Buffer = bytes | bytearray | memoryview

# The values Vault stores in a policy's "kdf" field, and the names keys/:name shows.
KDF_HMAC_SHA256_COUNTER = 0
KDF_HKDF_SHA256 = 1
KDF_NAMES = {KDF_HMAC_SHA256_COUNTER: "hmac-sha256-counter", KDF_HKDF_SHA256: "hkdf_sha256"}
KDF_BY_NAME = {name: code for code, name in KDF_NAMES.items()}

TAG_BYTES = 16
_STRUCT_NONCES = 1024  # the largest batch whose nonces struct cuts (its compiled formats grow with it)
MISSING_CONTEXT = (
    "missing 'context' for key derivation; the key was created using a derived key, which means "
    "additional, per-request information must be included in order to perform operations with the key"
)
_AUTH_FAILED = {
    "aes128-gcm96": "cipher: message authentication failed",
    "aes256-gcm96": "cipher: message authentication failed",
    "chacha20-poly1305": "chacha20poly1305: message authentication failed",
    "xchacha20-poly1305": "chacha20poly1305: message authentication failed",
}


def hmac_sha256(key: Buffer, data: Buffer) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def counter_mode_hmac_sha256(key: Buffer, context: bytes, bits: int = 256) -> bytearray:
    """NIST SP 800-108 §4.1 (KDF in counter mode, PRF = HMAC-SHA256, r = 32) as Vault's
    sdk/helper/kdf builds it: K(i) = PRF(key, [i]_32 || context || [L]_32) with i counting
    from 0, and no label or 0x00 separator (context alone is the fixed input)."""
    rounds = -(-bits // 256)
    out = bytearray()
    for counter in range(rounds):
        out += hmac_sha256(key, counter.to_bytes(4, "big") + context + bits.to_bytes(4, "big"))
    del out[bits // 8:]
    return out


def hkdf_sha256(key: Buffer, info: bytes, length: int) -> bytearray:
    """RFC 5869 HKDF-SHA256 with no salt (§2.2: a string of HashLen zeros), context as info."""
    return bytearray(HKDF(hashes.SHA256(), length, None, info).derive(key))


def derive_key(kdf: int, key: Buffer, context: bytes, length: int) -> bytearray:
    """Vault's Policy.DeriveKey for a version key: the counter-mode KDF always yields 256 bits,
    HKDF yields `length` bytes. The caller zeroes the result."""
    if not context:
        raise TransitError(MISSING_CONTEXT)
    if kdf == KDF_HMAC_SHA256_COUNTER:
        return counter_mode_hmac_sha256(key, context, 256)
    if kdf == KDF_HKDF_SHA256:
        return hkdf_sha256(key, context, length)
    raise TransitError("unsupported key derivation mode")


class AEAD(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class XChaCha20Poly1305:
    """XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha) with the AEAD interface of cryptography's
    ciphers; pycryptodome selects the X variant from the 24-byte nonce. Like AESGCM, it keeps
    its own copy of the key, so the caller may zero a derived key as soon as this is made."""

    def __init__(self, key: Buffer) -> None:
        # pycryptodome is loaded by the first XChaCha20 key, not at startup: its import
        # costs each worker process about 5 MB that no other key type needs.
        from Crypto.Cipher import ChaCha20_Poly1305

        self._new = ChaCha20_Poly1305.new
        self._key = bytes(key)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        cipher = self._new(key=self._key, nonce=nonce)
        if associated_data:
            cipher.update(associated_data)
        body, tag = cipher.encrypt_and_digest(data)
        return body + tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        if len(data) < TAG_BYTES:
            raise InvalidTag()
        cipher = self._new(key=self._key, nonce=nonce)
        if associated_data:
            cipher.update(associated_data)
        try:
            return cipher.decrypt_and_verify(data[:-TAG_BYTES], data[-TAG_BYTES:])
        except ValueError:
            raise InvalidTag() from None


def make_aead(key_type: KeyType, key: Buffer) -> AEAD:
    if len(key) != key_type.key_bytes:
        raise TransitError("could not derive enc key, length not correct")
    if key_type.name == "chacha20-poly1305":
        return ChaCha20Poly1305(key)
    if key_type.name == "xchacha20-poly1305":
        return XChaCha20Poly1305(key)
    return AESGCM(key)


def random_nonces(size: int, count: int) -> Callable[[], bytes]:
    """Random nonces for up to `count` encryptions (a batch), read from the OS in one call
    rather than one system call each: every slice of the read is handed out once, and any
    draw past `count` reads afresh. Nonces are public; only their uniqueness matters."""
    fresh = functools.partial(os.urandom, size)
    if count <= 1:
        return fresh
    # The slices, then an endless run of fresh reads (os.urandom never returns the None
    # sentinel); a chain's __next__ hands them out without a Python frame per draw.
    return itertools.chain(nonce_slices(size, count), iter(fresh, None)).__next__


def nonce_slices(size: int, count: int) -> Sequence[bytes]:
    """`count` random nonces of `size` bytes, cut from one read of the OS's generator."""
    pool = os.urandom(size * count)
    if count <= _STRUCT_NONCES:  # struct cuts the pool in C, in a fifth of the time slicing takes
        return struct.unpack(f"{size}s" * count, pool)  # (struct keeps the formats it compiles)
    return [pool[start:start + size] for start in range(0, size * count, size)]


def seal(key_type: KeyType, cipher: AEAD, plaintext: bytes, associated_data: bytes | None,
         nonce: bytes | None = None) -> bytes:
    """nonce || ciphertext || tag; a random nonce unless the caller computed a convergent one."""
    if nonce is None:
        nonce = os.urandom(key_type.nonce_bytes)
    return nonce + cipher.encrypt(nonce, plaintext, associated_data or None)


def opener(key_type: KeyType, cipher: AEAD) -> Callable[[bytes, "bytes | None"], bytes]:
    """(nonce || ciphertext || tag, associated data) -> plaintext under one cipher: what
    seal() made, opened. One closure, so a batch pays one call per item."""
    size, decrypt = key_type.nonce_bytes, cipher.decrypt

    def open_sealed(blob: bytes, associated_data: bytes | None) -> bytes:
        if len(blob) < size:
            raise CiphertextError("invalid ciphertext length")
        try:
            return decrypt(blob[:size], blob[size:], associated_data or None)
        except InvalidTag:
            raise CiphertextError(_AUTH_FAILED[key_type.name]) from None

    return open_sealed


def convergent_nonce(key_type: KeyType, hmac_key: Buffer, plaintext: bytes) -> bytes:
    """Convergent encryption version 3: nonce = HMAC-SHA256(derived HMAC key, plaintext),
    truncated to the cipher's nonce size, so equal plaintexts under one context collide."""
    return hmac_sha256(hmac_key, plaintext)[: key_type.nonce_bytes]
