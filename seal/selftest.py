"""Start-up check that the AEAD library copies the key it is constructed with.

strongroom hands AEAD constructors a view of locked memory or a short-lived bytearray, then
zeroes that buffer. cryptography built against OpenSSL older than 3.2 keeps a reference to
the caller's buffer and reads it again at every operation; zeroing it would then silently
switch the cipher to an all-zero key. This check proves, at start, that the library in use
copies the key: encrypt, zero the key buffer in place, encrypt again, and demand the same
ciphertext. Any failure raises AeadSelfTestError and the server must not start.

Boundary: cryptography's InvalidTag is translated here; the check holds no real key.
"""

from __future__ import annotations

import hmac
from typing import Iterable, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from seal.errors import AeadSelfTestError
from seal.lockedmem import zero_bytearray


class Aead(Protocol):
    """The shape of cryptography's AEAD classes that this check needs."""

    def __init__(self, key: bytes | bytearray | memoryview) -> None: ...

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


DEFAULT_AEADS: tuple[type[Aead], ...] = (AESGCM, ChaCha20Poly1305)

# A fixed, public, non-zero test key: the check needs a key that differs from all zeros.
_TEST_KEY = bytes(range(0xA0, 0xC0))
_NONCE = bytes(range(12))
_PLAINTEXT = b"strongroom AEAD key-copy self-test"
_ASSOCIATED = b"seal/selftest"


def _check_one(aead_class: type[Aead]) -> None:
    name = getattr(aead_class, "__name__", repr(aead_class))
    key = bytearray(_TEST_KEY)
    try:
        aead = aead_class(key)
        before = aead.encrypt(_NONCE, _PLAINTEXT, _ASSOCIATED)
        zero_bytearray(key)
        after = aead.encrypt(_NONCE, _PLAINTEXT, _ASSOCIATED)
    finally:
        zero_bytearray(key)
    if not hmac.compare_digest(before, after):
        raise AeadSelfTestError(
            f"{name} keeps reading the caller's key buffer instead of copying it; zeroing a key "
            "would silently change it (cryptography on OpenSSL older than 3.2 does this). "
            "Install cryptography built against OpenSSL 3.2 or later"
        )
    try:
        opened = aead_class(_TEST_KEY).decrypt(_NONCE, after, _ASSOCIATED)
    except InvalidTag:
        raise AeadSelfTestError(f"{name} did not encrypt under the key it was given") from None
    if not hmac.compare_digest(opened, _PLAINTEXT):
        raise AeadSelfTestError(f"{name} decrypted its own ciphertext to something else")


def check_aead_copies_key(aead_classes: Iterable[type[Aead]] = DEFAULT_AEADS) -> None:
    """AeadSelfTestError unless every AEAD class copies its key at construction."""
    for aead_class in aead_classes:
        _check_one(aead_class)
